"""The alert outbox on the service's database: the kit's ``AlertOutbox`` contract in SQL.

Each method is one short transaction, called only from the dispatcher's worker thread.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from otel.alerts import Alert, Delivery, Recorded, Severity
from service.models import AlertDelivery, StoredAlert


def to_alert(row: StoredAlert) -> Alert:
    return Alert(
        severity=Severity(row.severity),
        title=row.title,
        message=row.message,
        service=row.service,
        environment=row.environment,
        source=row.source,
        fingerprint=row.fingerprint,
        occurred_at=row.first_seen_at,
        route=row.route,
        exception_type=row.exception_type,
        stacktrace=row.stacktrace,
        trace_id=row.trace_id,
        span_id=row.span_id,
        trace_url=row.trace_url,
        count=row.count,
        alert_id=str(row.id),
    )


def new_alert_row(alert: Alert, *, now: datetime, external_key: str | None = None) -> StoredAlert:
    return StoredAlert(
        fingerprint=alert.fingerprint,
        external_key=external_key,
        source=alert.source,
        severity=alert.severity.value,
        status="open",
        title=alert.title[:500],
        message=alert.message,
        service=alert.service[:200],
        environment=alert.environment[:100],
        route=alert.route[:500] if alert.route else None,
        exception_type=alert.exception_type[:300] if alert.exception_type else None,
        stacktrace=alert.stacktrace,
        trace_id=alert.trace_id,
        span_id=alert.span_id,
        trace_url=alert.trace_url,
        count=1,
        first_seen_at=alert.occurred_at,
        last_seen_at=now,
    )


def add_deliveries(db: Session, row: StoredAlert, channels: Sequence[str], *, now: datetime) -> None:
    for channel in channels:
        db.add(AlertDelivery(alert_id=row.id, channel=channel, status="pending", attempts=0, next_attempt_at=now))


class SqlAlertOutbox:
    def __init__(self, session_factory: sessionmaker[Session]) -> None:
        self._sessions = session_factory

    def record(self, alert: Alert, *, channels: Sequence[str], cooldown: timedelta, now: datetime) -> Recorded:
        with self._sessions.begin() as db:
            duplicate = db.scalars(
                select(StoredAlert)
                .where(
                    StoredAlert.fingerprint == alert.fingerprint,
                    StoredAlert.status == "open",
                    StoredAlert.last_seen_at >= now - cooldown,
                )
                .order_by(StoredAlert.last_seen_at.desc())
                .limit(1)
                .with_for_update()
            ).first()
            if duplicate is not None:
                duplicate.count += 1
                duplicate.last_seen_at = now
                return Recorded(str(duplicate.id), new=False)
            row = new_alert_row(alert, now=now)
            db.add(row)
            db.flush()
            add_deliveries(db, row, channels, now=now)
            return Recorded(str(row.id), new=True)

    def due(self, *, now: datetime, limit: int) -> list[Delivery]:
        with self._sessions() as db:
            rows = db.execute(
                select(AlertDelivery, StoredAlert)
                .join(StoredAlert, StoredAlert.id == AlertDelivery.alert_id)
                .where(AlertDelivery.status == "pending", AlertDelivery.next_attempt_at <= now)
                .order_by(AlertDelivery.next_attempt_at)
                .limit(limit)
            ).all()
            return [Delivery(str(d.id), d.channel, d.attempts, to_alert(a)) for d, a in rows]

    def delivered(self, delivery_id: str, *, now: datetime) -> None:
        with self._sessions.begin() as db:
            db.execute(
                update(AlertDelivery)
                .where(AlertDelivery.id == uuid.UUID(delivery_id), AlertDelivery.status == "pending")
                .values(status="delivered", delivered_at=now, attempts=AlertDelivery.attempts + 1, last_error=None)
            )

    def failed(self, delivery_id: str, *, error: str, retry_at: datetime | None, now: datetime) -> None:
        values: dict[str, object] = {"attempts": AlertDelivery.attempts + 1, "last_error": error[:500]}
        values.update({"next_attempt_at": retry_at} if retry_at is not None else {"status": "failed"})
        with self._sessions.begin() as db:
            db.execute(
                update(AlertDelivery)
                .where(AlertDelivery.id == uuid.UUID(delivery_id), AlertDelivery.status == "pending")
                .values(**values)
            )

    def suppressed(self, delivery_id: str, *, reason: str, now: datetime) -> None:
        with self._sessions.begin() as db:
            db.execute(
                update(AlertDelivery)
                .where(AlertDelivery.id == uuid.UUID(delivery_id), AlertDelivery.status == "pending")
                .values(status="suppressed", last_error=reason[:500])
            )
