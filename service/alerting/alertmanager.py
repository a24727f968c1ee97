"""Alertmanager's webhook (payload version 4) into the alert outbox.

A notification is stored once, keyed by Alertmanager's alert fingerprint and start time: Alertmanager
repeats notifications (``repeat_interval``, retries, HA peers), and each repeat must find the row it
made the first time. A resolved notice resolves that row.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from otel.alerts import Alert, Severity, fingerprint
from otel.alerts._scrub import scrub
from service.alerting.outbox import add_deliveries, new_alert_row
from service.models import StoredAlert

_SEVERITIES = {s.value: s for s in Severity}


class AlertmanagerAlert(BaseModel):
    model_config = ConfigDict(extra="ignore")

    status: Literal["firing", "resolved"]
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    startsAt: datetime  # noqa: N815 - Alertmanager's field names
    endsAt: datetime | None = None  # noqa: N815
    generatorURL: str = ""  # noqa: N815
    fingerprint: str = Field(min_length=1, max_length=64)


class AlertmanagerWebhook(BaseModel):
    model_config = ConfigDict(extra="ignore")

    version: Literal["4"]
    status: Literal["firing", "resolved"]
    receiver: str = ""
    groupKey: str = ""  # noqa: N815
    alerts: list[AlertmanagerAlert] = Field(min_length=1, max_length=1000)


class IngestResult(BaseModel):
    stored: int = 0
    duplicates: int = 0
    resolved: int = 0
    stored_alerts: list[Alert] = Field(default_factory=list, exclude=True)


def _as_alert(item: AlertmanagerAlert) -> Alert:
    labels, annotations = item.labels, item.annotations
    name = labels.get("alertname", "alert")
    summary = annotations.get("summary", "")
    details = [annotations.get("description", summary)]
    if item.generatorURL:
        details.append(f"Source: {item.generatorURL}")
    service = labels.get("service") or labels.get("service_name") or labels.get("job") or "unknown_service"
    environment = labels.get("deployment_environment_name") or labels.get("environment") or "unknown"
    return Alert(
        severity=_SEVERITIES.get(labels.get("severity", ""), Severity.WARNING),
        title=scrub(f"{name}: {summary}" if summary else name)[:500],
        message=scrub("\n".join(d for d in details if d)),
        service=service,
        environment=environment,
        source="alertmanager",
        fingerprint=fingerprint("alertmanager", item.fingerprint),
        occurred_at=item.startsAt,
        route=labels.get("http_route"),
    )


def ingest(db: Session, payload: AlertmanagerWebhook, *, channels: Sequence[str], now: datetime) -> IngestResult:
    result = IngestResult()
    for item in payload.alerts:
        key = f"alertmanager:{item.fingerprint}:{item.startsAt.isoformat()}"
        row = db.scalars(select(StoredAlert).where(StoredAlert.external_key == key)).first()
        if item.status == "resolved":
            if row is None:
                row = new_alert_row(_as_alert(item), now=now, external_key=key)
                db.add(row)
            if row.status != "resolved":
                row.status = "resolved"
                row.resolved_at = item.endsAt or now
                result.resolved += 1
            continue
        if row is not None:
            result.duplicates += 1
            continue
        alert = _as_alert(item)
        row = new_alert_row(alert, now=now, external_key=key)
        db.add(row)
        db.flush()
        add_deliveries(db, row, channels, now=now)
        result.stored += 1
        result.stored_alerts.append(alert)
    db.commit()
    return result
