"""The alert dispatcher: a bounded queue in front of the outbox, and one worker thread that delivers.

Requests only ever ``submit`` (a non-blocking put). The worker stores each alert in the outbox
(deduplicating within the cooldown), then delivers due deliveries channel by channel, with a
per-channel rate limit and exponential backoff on failure. Because deliveries are rows in the outbox,
a restart resumes where the last process stopped.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import random
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from opentelemetry import context, metrics

from otel.alerts._model import Alert, Channel, DeliveryError
from otel.alerts._outbox import AlertOutbox, Delivery, MemoryOutbox
from otel.alerts._settings import AlertSettings

logger = logging.getLogger(__name__)

_STOP = object()
_WAKE = object()
_WARN_EVERY_S = 60.0


class RateLimiter:
    """A token bucket: ``per_minute`` sends, refilled continuously."""

    def __init__(self, per_minute: int) -> None:
        self.capacity = float(per_minute)
        self.tokens = float(per_minute)
        self.rate = per_minute / 60.0
        self.updated = time.monotonic()

    def allow(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


class _Metrics:
    def __init__(self, meter: metrics.Meter) -> None:
        self.raised = meter.create_counter("mindhit.alerts.raised", unit="{alert}", description="Alerts raised.")
        self.delivered = meter.create_counter(
            "mindhit.alerts.delivered", unit="{alert}", description="Alerts delivered to a channel."
        )
        self.failed = meter.create_counter(
            "mindhit.alerts.failed", unit="{alert}", description="Failed delivery attempts."
        )
        self.suppressed = meter.create_counter(
            "mindhit.alerts.suppressed", unit="{alert}", description="Alerts not sent: duplicates, rate limits."
        )


class AlertDispatcher:
    def __init__(
        self,
        *,
        outbox: AlertOutbox,
        channels: Sequence[Channel],
        settings: AlertSettings | None = None,
        meter: metrics.Meter | None = None,
    ) -> None:
        self.outbox = outbox
        self.channels = {channel.name: channel for channel in channels}
        self.settings = settings or AlertSettings(_env_file=None)
        self._queue: queue.Queue[object] = queue.Queue(maxsize=self.settings.queue_size)
        self._limiters = {name: RateLimiter(self.settings.rate_limit_per_minute) for name in self.channels}
        self._metrics = _Metrics(meter or metrics.get_meter("otel.alerts"))
        self._fallback = MemoryOutbox()
        self._last_outbox_warning = -_WARN_EVERY_S
        self._thread: threading.Thread | None = None
        self._idle = threading.Event()

    # -- called from any thread ------------------------------------------------------------------
    def submit(self, alert: Alert) -> None:
        """Enqueue without blocking; when the queue is full the alert is counted and dropped."""
        try:
            self._queue.put_nowait(alert)
        except queue.Full:
            self._metrics.suppressed.add(1, {"alert.channel": "queue", "alert.severity": alert.severity.value})

    def stored_elsewhere(self, alert: Alert) -> None:
        """An alert written to the outbox by someone else (Alertmanager's webhook): count it, deliver soon."""
        self._metrics.raised.add(1, {"alert.severity": alert.severity.value, "alert.source": alert.source})
        with contextlib.suppress(queue.Full):  # a full queue means a busy worker, which polls the outbox anyway
            self._queue.put_nowait(_WAKE)

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="alert-dispatcher", daemon=True)
            self._thread.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        """Store what is queued, try what is due once more, then stop; pending rows survive a restart."""
        if self._thread is None:
            return
        try:
            self._queue.put(_STOP, timeout=timeout_s)
        except queue.Full:
            logger.warning("alert queue full at shutdown; queued alerts are lost")
        self._thread.join(timeout_s)
        self._thread = None
        for channel in self.channels.values():
            channel.close()

    def wait_idle(self, timeout_s: float = 10.0) -> bool:
        """For tests and shutdown: True once the queue is empty and no due delivery is left to try."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            self._idle.clear()
            if self._idle.wait(max(0.0, deadline - time.monotonic())) and self._queue.empty():
                return True
        return False

    # -- the worker ------------------------------------------------------------------------------
    def _run(self) -> None:
        # The outbox's queries and the channels' HTTP calls are the dispatcher's own work, not the
        # app's: no spans for them, and so no alert about an alert.
        context.attach(context.set_value(context._SUPPRESS_INSTRUMENTATION_KEY, True))
        while True:
            try:
                item = self._queue.get(timeout=self.settings.poll_seconds)
            except queue.Empty:
                item = None
            while item is not None:
                if item is _STOP:
                    self._deliver_due()
                    return
                if isinstance(item, Alert):
                    self._store(item)
                item = self._queue.get_nowait() if not self._queue.empty() else None
            self._deliver_due()
            self._idle.set()

    def _store(self, alert: Alert) -> None:
        severity = {"alert.severity": alert.severity.value}
        self._metrics.raised.add(1, {**severity, "alert.source": alert.source})
        now = datetime.now(UTC)
        cooldown = timedelta(seconds=self.settings.cooldown_seconds)
        try:
            recorded = self.outbox.record(alert, channels=list(self.channels), cooldown=cooldown, now=now)
        except Exception as exc:
            # The database is the outbox, and a database outage is exactly when alerts matter: keep the
            # alert in memory (deduplicated the same way) and deliver it from there.
            self._outbox_unavailable(exc)
            recorded = self._fallback.record(alert, channels=list(self.channels), cooldown=cooldown, now=now)
        if not recorded.new:
            self._metrics.suppressed.add(1, {**severity, "alert.channel": "duplicate"})

    def _deliver_due(self) -> None:
        for outbox in (self.outbox, self._fallback):
            try:
                due = outbox.due(now=datetime.now(UTC), limit=100)
                for delivery in due:
                    self._deliver(outbox, delivery)
            except Exception as exc:
                self._outbox_unavailable(exc)

    def _outbox_unavailable(self, exc: Exception) -> None:
        now = time.monotonic()
        if now - self._last_outbox_warning >= _WARN_EVERY_S:
            self._last_outbox_warning = now
            logger.warning("alert outbox unavailable (%s: %s); alerts are held in memory", type(exc).__name__, exc)

    def _deliver(self, outbox: AlertOutbox, delivery: Delivery) -> None:
        attributes = {"alert.channel": delivery.channel, "alert.severity": delivery.alert.severity.value}
        now = datetime.now(UTC)
        channel = self.channels.get(delivery.channel)
        if channel is None:
            outbox.failed(delivery.delivery_id, error="channel not configured", retry_at=None, now=now)
            return
        if not self._limiters[delivery.channel].allow():
            outbox.suppressed(delivery.delivery_id, reason="rate limited", now=now)
            self._metrics.suppressed.add(1, attributes)
            return
        try:
            channel.send(delivery.alert)
        except DeliveryError as exc:
            self._metrics.failed.add(1, attributes)
            retry_at = self._retry_at(delivery.attempts + 1, exc, now)
            outbox.failed(delivery.delivery_id, error=str(exc)[:500], retry_at=retry_at, now=now)
            logger.warning("alert delivery to %s failed (attempt %d): %s", delivery.channel, delivery.attempts + 1, exc)
            return
        outbox.delivered(delivery.delivery_id, now=datetime.now(UTC))
        self._metrics.delivered.add(1, attributes)

    def _retry_at(self, attempts: int, exc: DeliveryError, now: datetime) -> datetime | None:
        if not exc.retryable or attempts >= self.settings.max_attempts:
            return None
        backoff = min(self.settings.retry_max_seconds, self.settings.retry_base_seconds * 2 ** (attempts - 1))
        delay = max(exc.retry_after or 0.0, backoff * random.uniform(0.8, 1.2))  # noqa: S311 - jitter, not crypto
        return now + timedelta(seconds=delay)
