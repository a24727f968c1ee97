"""What an alert is, and what a delivery channel must do with one."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Protocol


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return _RANKS[self]


_RANKS = {Severity.INFO: 0, Severity.WARNING: 1, Severity.ERROR: 2, Severity.CRITICAL: 3}


@dataclass(frozen=True, slots=True)
class Alert:
    """One alert as raised from a span, a log record or an Alertmanager notification.

    Text fields are scrubbed before an Alert is built, so every sink (database, Slack, Sentry) can
    store or send it as it is.
    """

    severity: Severity
    title: str
    message: str
    service: str
    environment: str
    source: str  # "span", "log" or "alertmanager"
    fingerprint: str
    occurred_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    route: str | None = None
    exception_type: str | None = None
    stacktrace: str | None = None
    trace_id: str | None = None  # 32 lowercase hex digits, as in W3C traceparent
    span_id: str | None = None  # 16 lowercase hex digits
    trace_url: str | None = None
    count: int = 1  # occurrences folded into this alert by deduplication
    alert_id: str | None = None  # the stored alert's id, once the outbox has it

    def with_(self, **changes: object) -> Alert:
        return replace(self, **changes)  # type: ignore[arg-type]


def fingerprint(*parts: str | None) -> str:
    """Stable identity of "the same problem": equal parts, equal fingerprint, across processes."""
    joined = "\x1f".join(part or "" for part in parts)
    return hashlib.sha256(joined.encode()).hexdigest()[:32]


class DeliveryError(Exception):
    """A channel could not deliver; ``retry_after`` (seconds) when the far end said when to retry."""

    def __init__(self, message: str, *, retryable: bool = True, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.retry_after = retry_after


class Channel(Protocol):
    """A place alerts go. ``send`` blocks and is only ever called from the dispatcher's worker thread.

    It returns when the far end accepted the alert and raises ``DeliveryError`` otherwise; it never
    logs at ERROR (an ERROR record would itself become an alert).
    """

    name: str

    def send(self, alert: Alert) -> None: ...

    def close(self) -> None: ...
