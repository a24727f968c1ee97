"""The real sentry_sdk client against a local ingestion endpoint: the event, its trace ids, failures."""

from __future__ import annotations

import json
import logging
import socket
import time
import traceback
from collections.abc import Iterator
from typing import Any

import pytest
import sentry_sdk
from fake_sentry import FakeSentry, SentryMode, running_fake_sentry
from sentry_sdk.tracing_utils import has_tracing_enabled

from otel.alerts import Alert, DeliveryError, Severity, fingerprint
from otel.alerts._scrub import scrub
from otel.alerts._sentry import SentryChannel, parse_exceptions

CANARY = "canary-9e41a7c03d58"
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
SPAN_ID = "00f067aa0ba902b7"
TRACE_URL = f"http://grafana.local/explore?traceId={TRACE_ID}"


def _alert(**changes: Any) -> Alert:
    alert = Alert(
        severity=Severity.ERROR,
        title="GET /api/v1/sessions failed",
        message="the session is closed",
        service="mindhit-api",
        environment="staging",
        source="span",
        fingerprint=fingerprint("mindhit-api", "GET /api/v1/sessions", "ValueError"),
        route="GET /api/v1/sessions",
        exception_type="ValueError",
        trace_id=TRACE_ID,
        span_id=SPAN_ID,
        trace_url=TRACE_URL,
        count=4,
        alert_id="17",
    )
    return alert.with_(**changes)


def _traceback() -> str:
    def load() -> None:
        raise KeyError("session")

    try:
        try:
            load()
        except KeyError as exc:
            raise ValueError("the session is closed") from exc
    except ValueError as exc:
        return "".join(traceback.format_exception(exc))
    raise AssertionError("unreachable")


@pytest.fixture
def sentry() -> Iterator[FakeSentry]:
    with running_fake_sentry() as fake:
        yield fake


@pytest.fixture
def channel(sentry: FakeSentry) -> Iterator[SentryChannel]:
    channel = SentryChannel(dsn=sentry.dsn, environment="staging", release="mindhit@1.2.3", timeout_s=2.0)
    yield channel
    channel.close()


def test_the_event_carries_level_fingerprint_tags_and_the_otel_trace(
    sentry: FakeSentry, channel: SentryChannel
) -> None:
    alert = _alert()
    channel.send(alert)

    [event] = sentry.events
    assert event["level"] == "error"
    assert event["fingerprint"] == [alert.fingerprint]
    assert event["contexts"]["trace"]["trace_id"] == TRACE_ID
    assert event["contexts"]["trace"]["span_id"] == SPAN_ID
    assert event["contexts"]["alert"] == {"source": "span", "count": 4, "trace_url": TRACE_URL, "alert_id": "17"}
    assert event["tags"] == {
        "service": "mindhit-api",
        "alert.source": "span",
        "severity": "error",
        "route": "GET /api/v1/sessions",
        "exception.type": "ValueError",
    }
    assert event["message"] == "GET /api/v1/sessions failed\n\nthe session is closed"
    assert event["transaction"] == "GET /api/v1/sessions"
    assert event["environment"] == "staging"
    assert event["release"] == "mindhit@1.2.3"
    assert channel.name == "sentry"


@pytest.mark.parametrize(
    ("severity", "level"),
    [(Severity.INFO, "info"), (Severity.WARNING, "warning"), (Severity.ERROR, "error"), (Severity.CRITICAL, "fatal")],
)
def test_the_level_follows_the_severity(
    sentry: FakeSentry, channel: SentryChannel, severity: Severity, level: str
) -> None:
    channel.send(_alert(severity=severity))

    assert sentry.events[0]["level"] == level


def test_one_gzipped_event_envelope_and_nothing_from_sentry_tracing(sentry: FakeSentry, channel: SentryChannel) -> None:
    channel.send(_alert())

    [envelope] = sentry.envelopes
    assert [item.type for item in envelope.items] == ["event"]
    assert envelope.headers["event_id"] == envelope.events[0]["event_id"]
    assert envelope.http_headers["content-encoding"] == "gzip"
    assert f"sentry_key={sentry.public_key}" in envelope.http_headers["x-sentry-auth"]
    client = channel._client
    assert client.options["traces_sample_rate"] is None
    assert not has_tracing_enabled(client.options)
    assert client.integrations == {}
    assert client.should_send_default_pii() is False
    assert not sentry_sdk.get_client().is_active()  # no global client, hub or integration was installed


def test_a_traceback_becomes_exceptions_with_frames(sentry: FakeSentry, channel: SentryChannel) -> None:
    channel.send(_alert(stacktrace=_traceback()))

    cause, error = sentry.events[0]["exception"]["values"]
    assert (cause["type"], cause["value"]) == ("KeyError", "'session'")
    assert (error["type"], error["value"]) == ("ValueError", "the session is closed")
    frame = cause["stacktrace"]["frames"][-1]
    assert frame["function"] == "load"
    assert frame["context_line"] == 'raise KeyError("session")'
    assert frame["filename"].endswith("test_alert_sentry.py")
    assert isinstance(frame["lineno"], int)
    assert "stacktrace" not in sentry.events[0].get("extra", {})


def test_text_that_is_not_a_traceback_is_kept_in_extra(sentry: FakeSentry, channel: SentryChannel) -> None:
    channel.send(_alert(stacktrace="worker crashed, no traceback captured"))

    event = sentry.events[0]
    assert event["exception"]["values"] == [{"type": "ValueError", "value": "the session is closed"}]
    assert event["extra"]["stacktrace"] == "worker crashed, no traceback captured"


def test_an_alert_without_trace_or_exception_is_a_message(sentry: FakeSentry, channel: SentryChannel) -> None:
    channel.send(_alert(trace_id=None, span_id=None, trace_url=None, exception_type=None, route=None))

    event = sentry.events[0]
    assert "exception" not in event
    assert "trace" not in event["contexts"]
    assert "trace_url" not in event["contexts"]["alert"]


def test_no_secret_reaches_sentry(sentry: FakeSentry, channel: SentryChannel) -> None:
    leaked = f"GET /x?token={CANARY} Authorization: Bearer {CANARY} Cookie: sid={CANARY}"
    channel.send(_alert(message=scrub(leaked), title=scrub(f'{{"password": "{CANARY}"}}')))
    # A careless source that forgot to scrub: before_send scrubs the finished event once more.
    raw_traceback = _traceback().replace("the session is closed", f"password={CANARY}")
    channel.send(_alert(message=leaked, title=f"api_key={CANARY}", stacktrace=raw_traceback))

    assert len(sentry.envelopes) == 2
    for envelope in sentry.envelopes:
        assert CANARY.encode() not in envelope.body
        assert sentry.public_key.encode() not in envelope.body  # the DSN key travels only in the auth header
    assert "[REDACTED]" in json.dumps(sentry.events[1])


@pytest.mark.parametrize(
    ("failure", "expected"),
    [
        ((SentryMode.SERVER_ERROR, None), (True, None)),
        ((SentryMode.RATE_LIMITED, None), (True, 7.0)),  # Retry-After alone
        ((SentryMode.RATE_LIMITED, "42:error;transaction:organization, 3600:attachment:key"), (True, 42.0)),
        ((SentryMode.RATE_LIMITED, "90::organization"), (True, 90.0)),  # no categories: everything
        ((SentryMode.INVALID_AUTH, None), (False, None)),
    ],
)
def test_failures_map_to_delivery_errors(
    sentry: FakeSentry,
    channel: SentryChannel,
    caplog: pytest.LogCaptureFixture,
    failure: tuple[SentryMode, str | None],
    expected: tuple[bool, float | None],
) -> None:
    mode, rate_limits = failure
    sentry.set_mode(mode, retry_after=7, rate_limits=rate_limits)

    with caplog.at_level(logging.DEBUG), pytest.raises(DeliveryError) as raised:
        channel.send(_alert())

    assert (raised.value.retryable, raised.value.retry_after) == expected
    assert len(sentry.envelopes) == 1
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_a_hanging_endpoint_fails_within_the_timeout(sentry: FakeSentry) -> None:
    channel = SentryChannel(dsn=sentry.dsn, environment="staging", timeout_s=0.3)
    sentry.set_mode(SentryMode.HANG)

    started = time.monotonic()
    with pytest.raises(DeliveryError) as raised:
        channel.send(_alert())
    elapsed = time.monotonic() - started
    sentry.release()
    channel.close()

    assert raised.value.retryable is True
    assert 0.25 <= elapsed < 2.0


def test_an_unreachable_endpoint_is_retryable() -> None:
    with socket.socket() as probe:  # a port that was free a moment ago: nothing listens there
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    channel = SentryChannel(dsn=f"http://key@127.0.0.1:{port}/1", environment="staging", timeout_s=1.0)

    with pytest.raises(DeliveryError) as raised:
        channel.send(_alert())

    assert raised.value.retryable is True
    channel.close()


def test_after_close_nothing_is_sent(sentry: FakeSentry) -> None:
    channel = SentryChannel(dsn=sentry.dsn, environment="staging")
    channel.close()

    with pytest.raises(DeliveryError) as raised:
        channel.send(_alert())

    assert raised.value.retryable is False
    assert sentry.envelopes == []


def test_exceptions_without_a_traceback_use_the_alert_fields() -> None:
    assert parse_exceptions("", "sqlalchemy.exc.OperationalError", "db down") == [
        {"type": "OperationalError", "module": "sqlalchemy.exc", "value": "db down"}
    ]
    assert parse_exceptions("", None, "boom") == [{"type": "Error", "value": "boom"}]
