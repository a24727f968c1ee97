"""The dispatcher against the in-memory outbox: store first, deduplicate, rate-limit, retry, resume."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import pytest

from otel.alerts import (
    Alert,
    AlertDispatcher,
    AlertSettings,
    Delivery,
    DeliveryError,
    MemoryOutbox,
    Recorded,
    Severity,
    fingerprint,
)
from otel.testing import TelemetryCapture


class RecordingChannel:
    """A channel double for the dispatcher's own logic; the real channels are tested against fake servers."""

    def __init__(self, name: str = "slack", failures: list[DeliveryError] | None = None) -> None:
        self.name = name
        self.sent: list[Alert] = []
        self.failures = list(failures or [])
        self.lock = threading.Lock()

    def send(self, alert: Alert) -> None:
        with self.lock:
            if self.failures:
                raise self.failures.pop(0)
            self.sent.append(alert)

    def close(self) -> None:
        return


def _alert(title: str = "boom", severity: Severity = Severity.ERROR) -> Alert:
    return Alert(
        severity=severity,
        title=title,
        message="it broke",
        service="svc",
        environment="test",
        source="span",
        fingerprint=fingerprint("svc", "test", title),
    )


def _settings(**overrides: object) -> AlertSettings:
    values: dict[str, object] = {"poll_seconds": 0.05, "retry_base_seconds": 0.05, "retry_max_seconds": 0.2}
    return AlertSettings(_env_file=None, **{**values, **overrides})  # type: ignore[arg-type]


@pytest.fixture
def outbox() -> MemoryOutbox:
    return MemoryOutbox()


@contextmanager
def _running(dispatcher: AlertDispatcher) -> Iterator[AlertDispatcher]:
    dispatcher.start()
    try:
        yield dispatcher
    finally:
        dispatcher.stop()


def _wait_for(predicate: object, timeout: float = 5.0) -> None:
    deadline = datetime.now(UTC) + timedelta(seconds=timeout)
    while datetime.now(UTC) < deadline:
        if predicate():  # type: ignore[operator]
            return
        threading.Event().wait(0.02)
    raise AssertionError("condition not met in time")


def test_duplicates_within_the_cooldown_are_one_delivery_with_a_count(
    outbox: MemoryOutbox, capotel: TelemetryCapture
) -> None:
    slack, sentry = RecordingChannel("slack"), RecordingChannel("sentry")
    dispatcher = AlertDispatcher(outbox=outbox, channels=[slack, sentry], settings=_settings())
    with _running(dispatcher) as running:
        for _ in range(5):
            running.submit(_alert())
        _wait_for(lambda: len(slack.sent) == 1 and len(sentry.sent) == 1 and outbox.alerts()[0].count == 5)

    assert len(outbox.alerts()) == 1
    assert [d.status for d in outbox.deliveries()] == ["delivered", "delivered"]
    assert capotel.metric_value("mindhit.alerts.raised") == 5
    assert capotel.metric_value("mindhit.alerts.suppressed", {"alert.channel": "duplicate"}) == 4
    assert capotel.metric_value("mindhit.alerts.delivered", {"alert.channel": "slack", "alert.severity": "error"}) == 1


def test_a_failing_channel_is_retried_with_backoff_until_it_accepts(
    outbox: MemoryOutbox, capotel: TelemetryCapture
) -> None:
    flaky = RecordingChannel(failures=[DeliveryError("500"), DeliveryError("429", retry_after=0.1)])
    dispatcher = AlertDispatcher(outbox=outbox, channels=[flaky], settings=_settings())
    with _running(dispatcher) as running:
        running.submit(_alert())
        _wait_for(lambda: len(flaky.sent) == 1)

    (delivery,) = outbox.deliveries()
    assert (delivery.status, delivery.attempts) == ("delivered", 3)
    assert capotel.metric_value("mindhit.alerts.failed", {"alert.channel": "slack"}) == 2


def test_a_permanent_failure_is_not_retried(outbox: MemoryOutbox) -> None:
    broken = RecordingChannel(failures=[DeliveryError("invalid_auth", retryable=False)])
    dispatcher = AlertDispatcher(outbox=outbox, channels=[broken], settings=_settings())
    with _running(dispatcher) as running:
        running.submit(_alert())
        _wait_for(lambda: outbox.deliveries()[0].status == "failed" if outbox.deliveries() else False)

    assert broken.sent == []
    assert outbox.deliveries()[0].attempts == 1


def test_a_storm_is_rate_limited_per_channel_and_the_rest_counted(
    outbox: MemoryOutbox, capotel: TelemetryCapture
) -> None:
    slack = RecordingChannel()
    dispatcher = AlertDispatcher(outbox=outbox, channels=[slack], settings=_settings(rate_limit_per_minute=3))
    with _running(dispatcher) as running:
        for index in range(10):
            running.submit(_alert(title=f"distinct problem {index}"))
        _wait_for(lambda: sum(d.status != "pending" for d in outbox.deliveries()) == 10)

    assert len(slack.sent) == 3
    assert sorted(d.status for d in outbox.deliveries()).count("suppressed") == 7
    assert capotel.metric_value("mindhit.alerts.suppressed", {"alert.channel": "slack"}) == 7


def test_a_full_queue_drops_and_counts_instead_of_blocking(outbox: MemoryOutbox, capotel: TelemetryCapture) -> None:
    dispatcher = AlertDispatcher(outbox=outbox, channels=[], settings=_settings(queue_size=2))

    for index in range(5):  # not started: nothing drains the queue
        dispatcher.submit(_alert(title=str(index)))

    assert capotel.metric_value("mindhit.alerts.suppressed", {"alert.channel": "queue"}) == 3


def test_pending_deliveries_are_resumed_by_a_new_dispatcher(outbox: MemoryOutbox) -> None:
    down = RecordingChannel(failures=[DeliveryError("down")] * 100)
    first = AlertDispatcher(outbox=outbox, channels=[down], settings=_settings(retry_base_seconds=60))
    with _running(first) as running:
        running.submit(_alert())
        _wait_for(lambda: bool(outbox.deliveries()) and outbox.deliveries()[0].attempts == 1)
    assert outbox.deliveries()[0].status == "pending"

    # "Restart": the retry time comes due, and a new dispatcher with a healthy channel picks it up.
    for delivery_id in [f"{a.alert_id}:slack" for a in outbox.alerts()]:
        outbox.failed(delivery_id, error="down", retry_at=datetime.now(UTC), now=datetime.now(UTC))
    healthy = RecordingChannel()
    second = AlertDispatcher(outbox=outbox, channels=[healthy], settings=_settings())
    with _running(second):
        _wait_for(lambda: len(healthy.sent) == 1)

    assert outbox.deliveries()[0].status == "delivered"


def test_alerts_after_the_cooldown_are_new_alerts(outbox: MemoryOutbox) -> None:
    now = datetime.now(UTC)
    first = outbox.record(_alert(), channels=["slack"], cooldown=timedelta(seconds=60), now=now)
    again = outbox.record(_alert(), channels=["slack"], cooldown=timedelta(seconds=60), now=now + timedelta(seconds=30))
    later = outbox.record(
        _alert(), channels=["slack"], cooldown=timedelta(seconds=60), now=now + timedelta(seconds=200)
    )

    assert (first.new, again.new, later.new) == (True, False, True)
    assert again.alert_id == first.alert_id
    assert later.alert_id != first.alert_id


class UnreachableOutbox(MemoryOutbox):
    """The database is down: every outbox call fails as a driver would."""

    def record(self, *args: object, **kwargs: object) -> Recorded:
        raise ConnectionError("database unreachable")

    def due(self, *args: object, **kwargs: object) -> list[Delivery]:
        raise ConnectionError("database unreachable")


def test_alerts_are_delivered_from_memory_while_the_outbox_is_down(caplog: pytest.LogCaptureFixture) -> None:
    slack = RecordingChannel()
    dispatcher = AlertDispatcher(outbox=UnreachableOutbox(), channels=[slack], settings=_settings())
    with _running(dispatcher) as running:
        for _ in range(3):
            running.submit(_alert(title="database down"))
        _wait_for(lambda: len(slack.sent) == 1)
        time.sleep(0.3)  # several polls, each failing against the outbox

    assert len(slack.sent) == 1
    warnings = [r for r in caplog.records if "alert outbox unavailable" in r.getMessage()]
    assert len(warnings) == 1, "one warning per minute, not one per poll"
