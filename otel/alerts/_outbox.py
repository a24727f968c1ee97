"""The outbox contract: every alert is stored before any delivery, deliveries are rows that retry.

The service implements it on its database (``service/alerting/outbox.py``); ``MemoryOutbox`` is the
same contract in memory, for tests and for processes without a database.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Literal, Protocol

from otel.alerts._model import Alert

DeliveryStatus = Literal["pending", "delivered", "failed", "suppressed"]


@dataclass(frozen=True)
class Recorded:
    alert_id: str
    new: bool  # False: folded into an alert with the same fingerprint seen within the cooldown


@dataclass(frozen=True)
class Delivery:
    delivery_id: str
    channel: str
    attempts: int
    alert: Alert  # as stored now, with its id and current count


class AlertOutbox(Protocol):
    def record(self, alert: Alert, *, channels: Sequence[str], cooldown: timedelta, now: datetime) -> Recorded:
        """Store the alert with a pending delivery per channel, or count it on the open duplicate."""
        ...

    def due(self, *, now: datetime, limit: int) -> list[Delivery]:
        """Pending deliveries whose next attempt is due, oldest first."""
        ...

    def delivered(self, delivery_id: str, *, now: datetime) -> None:
        """Record success once: a delivery that is no longer pending is left as it is."""
        ...

    def failed(self, delivery_id: str, *, error: str, retry_at: datetime | None, now: datetime) -> None:
        """Count a failed attempt; retry at ``retry_at``, or give up when it is None."""
        ...

    def suppressed(self, delivery_id: str, *, reason: str, now: datetime) -> None: ...


@dataclass
class MemoryDelivery:
    channel: str
    status: DeliveryStatus = "pending"
    attempts: int = 0
    next_attempt_at: datetime | None = None
    error: str | None = None


@dataclass
class _Row:
    alert: Alert
    last_seen: datetime
    deliveries: dict[str, MemoryDelivery] = field(default_factory=dict)


class MemoryOutbox:
    """The outbox contract without a database; thread-safe, for tests and database-less processes."""

    def __init__(self) -> None:
        self._rows: dict[str, _Row] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def record(self, alert: Alert, *, channels: Sequence[str], cooldown: timedelta, now: datetime) -> Recorded:
        with self._lock:
            for alert_id, row in self._rows.items():
                if row.alert.fingerprint == alert.fingerprint and now - row.last_seen <= cooldown:
                    row.alert = replace(row.alert, count=row.alert.count + 1)
                    row.last_seen = now
                    return Recorded(alert_id, new=False)
            alert_id = str(next(self._ids))
            row = _Row(replace(alert, alert_id=alert_id, count=1), now)
            for channel in channels:
                row.deliveries[f"{alert_id}:{channel}"] = MemoryDelivery(channel, next_attempt_at=now)
            self._rows[alert_id] = row
            return Recorded(alert_id, new=True)

    def due(self, *, now: datetime, limit: int) -> list[Delivery]:
        with self._lock:
            found = [
                (d.next_attempt_at or now, Delivery(key, d.channel, d.attempts, row.alert))
                for row in self._rows.values()
                for key, d in row.deliveries.items()
                if d.status == "pending" and (d.next_attempt_at or now) <= now
            ]
        found.sort(key=lambda pair: pair[0])
        return [delivery for _, delivery in found[:limit]]

    def delivered(self, delivery_id: str, *, now: datetime) -> None:
        with self._lock:
            delivery = self._delivery(delivery_id)
            if delivery.status == "pending":
                delivery.status = "delivered"
                delivery.attempts += 1

    def failed(self, delivery_id: str, *, error: str, retry_at: datetime | None, now: datetime) -> None:
        with self._lock:
            delivery = self._delivery(delivery_id)
            delivery.attempts += 1
            delivery.error = error
            if retry_at is None:
                delivery.status = "failed"
            else:
                delivery.next_attempt_at = retry_at

    def suppressed(self, delivery_id: str, *, reason: str, now: datetime) -> None:
        with self._lock:
            delivery = self._delivery(delivery_id)
            delivery.status = "suppressed"
            delivery.error = reason

    def alerts(self) -> list[Alert]:
        with self._lock:
            return [row.alert for row in self._rows.values()]

    def deliveries(self) -> list[MemoryDelivery]:
        with self._lock:
            return [replace(d) for row in self._rows.values() for d in row.deliveries.values()]

    def _delivery(self, delivery_id: str) -> MemoryDelivery:
        return self._rows[delivery_id.split(":", 1)[0]].deliveries[delivery_id]
