"""Spans and log records reach the exporter without credentials; the ended originals stay as they were."""

from __future__ import annotations

import base64
import io
import json
import logging
import random
import sys

import pytest
from opentelemetry._logs import SeverityNumber
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Link, SpanKind, Status, StatusCode

from otel._context import RequestContext, _current, accept_request_id
from otel._logging import JsonFormatter, TextFormatter
from otel._redaction import (
    RedactingLogExporter,
    RedactingSpanExporter,
    _may_hold_secret,
    redact_attributes,
    redact_span,
    redact_text,
    secret_key,
)
from otel.alerts._scrub import REDACTED, scrub

CANARY = "canary-5b9e0d7c"


@pytest.fixture
def spans() -> tuple[TracerProvider, InMemorySpanExporter]:
    exported = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(RedactingSpanExporter(exported)))
    return provider, exported


def test_server_span_query_headers_events_and_status_are_redacted(
    spans: tuple[TracerProvider, InMemorySpanExporter],
) -> None:
    provider, exported = spans
    tracer = provider.get_tracer("test")
    linked = tracer.start_span("earlier")
    linked.end()
    span = tracer.start_span(
        "GET /api/v1/sessions",
        kind=SpanKind.SERVER,
        attributes={
            "url.query": f"token={CANARY}&page=2",
            "url.full": f"https://u:{CANARY}@api.example.com/x?password={CANARY}",
            "http.request.header.authorization": (f"Bearer {CANARY}",),
            "http.request.header.cookie": (f"sid={CANARY}",),
            "http.route": "/api/v1/sessions",
            "http.response.status_code": 500,
        },
        links=[Link(linked.get_span_context(), {"note": f"api_key={CANARY}"})],
    )
    span.record_exception(RuntimeError(f"upstream refused Authorization: Bearer {CANARY}"))
    span.set_status(Status(StatusCode.ERROR, f"failed with secret={CANARY}"))
    span.end()

    exported_span = exported.get_finished_spans()[-1]
    assert CANARY not in repr(exported_span.to_json())
    attributes = dict(exported_span.attributes or {})
    assert attributes["url.query"] == f"token={REDACTED}&page=2"
    assert attributes["http.request.header.authorization"] == REDACTED
    assert attributes["http.route"] == "/api/v1/sessions"
    assert attributes["http.response.status_code"] == 500
    (event,) = exported_span.events
    assert event.attributes is not None
    assert event.attributes["exception.type"] == "RuntimeError"
    assert event.attributes["exception.message"] == f"upstream refused Authorization: Bearer {REDACTED}"
    assert exported_span.status.description == f"failed with secret={REDACTED}"
    assert exported_span.context == span.get_span_context()
    assert exported_span.parent == span.parent
    # The ended span itself is never changed: other processors (alerts, tests) see it as recorded.
    assert span.attributes is not None
    assert span.attributes["url.query"] == f"token={CANARY}&page=2"


def test_a_span_without_credentials_is_exported_as_it_is(spans: tuple[TracerProvider, InMemorySpanExporter]) -> None:
    provider, exported = spans
    with provider.get_tracer("test").start_as_current_span(
        "SELECT events",
        attributes={"db.query.text": "SELECT events.id FROM events WHERE events.session_id = ? LIMIT ?"},
    ) as span:
        pass

    assert redact_span(span) is span  # no copy when there is nothing to redact
    (exported_span,) = exported.get_finished_spans()
    assert exported_span.attributes == span.attributes


def test_log_records_lose_credentials_in_body_attributes_and_exception() -> None:
    exported = InMemoryLogRecordExporter()
    provider = LoggerProvider()
    provider.add_log_record_processor(SimpleLogRecordProcessor(RedactingLogExporter(exported)))
    logger = provider.get_logger("test")

    logger.emit(
        severity_number=SeverityNumber.ERROR,
        body=f"login failed for password={CANARY}",
        attributes={"password": CANARY, "url.query": f"access_token={CANARY}", "event_count": 3, "ok": True},
        exception=ValueError(f"token={CANARY}"),
    )
    logger.emit(body={"form": {"password": CANARY, "user": "bob"}, "lines": [f"Cookie: sid={CANARY}"]})

    first, second = exported.get_finished_logs()
    assert CANARY not in first.to_json()
    assert CANARY not in second.to_json()
    attributes = dict(first.log_record.attributes or {})
    assert attributes["password"] == REDACTED
    assert attributes["event_count"] == 3
    assert attributes["ok"] is True
    assert attributes["exception.type"] == "ValueError"
    assert second.log_record.body == {"form": {"password": REDACTED, "user": "bob"}, "lines": [f"Cookie: {REDACTED}"]}


def test_keys_that_name_credentials_are_redacted_whole_and_recording_sessions_are_not() -> None:
    assert secret_key("http.request.header.authorization")
    assert secret_key("http.request.header.x-api-key")
    assert secret_key("db.password")
    assert secret_key("csrf_token")
    assert not secret_key("session_id")  # a recording session's id, the service's domain object
    assert not secret_key("token_count")
    assert redact_attributes({"session_id": "3f2a1c9e-8b7d-4e6f-9a1b-2c3d4e5f6a7b", "n": 1}) is None
    assert redact_attributes({"password": None, "api_key": ""}) is None


@pytest.mark.parametrize(
    "statement",
    [
        "SELECT events.id FROM events WHERE events.session_id = ? ORDER BY events.occurred_at LIMIT ? OFFSET ?",
        "UPDATE sessions SET event_count=(sessions.event_count + %(event_count_1)s) WHERE sessions.id = %(id_1)s",
        "INSERT INTO events (session_id, type, url) VALUES (?, ?, ?)",
    ],
)
def test_parameterised_statements_are_left_alone(statement: str) -> None:
    assert redact_text(statement) is statement


def test_literal_credentials_in_a_statement_are_redacted() -> None:
    statement = "UPDATE users SET password = '{}'"
    assert redact_text(statement.format(CANARY)) == statement.format(REDACTED)


# The ingredients of every scrub rule, bind placeholders aside (they are tested above).
_FRAGMENTS = (
    *("GET /api/v1/sessions", "?page", "&", "=", ": ", '"', "'", ", ", " ", "\n", "@", "://", "https", "user"),
    *("token", "password", "Authorization", "Bearer ", "Basic ", "Cookie", "session_id", "api_key", "secret"),
    *("sig", "auth", "pass", "dsn", "key is ", CANARY, "3f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c"),
    "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.sig",
    "xoxb-1234-abcdefgh",
    "ghp_abcdefghijklmnopqrstuvwxyz01",
    "AKIAABCDEFGHIJKLMNOP",
    "sk_live_abcdefghijkl",
    "sntrys_abcdefghijklmnopqrstuvwx",
    "hooks.slack.com/services/T0/B0/x",
    "-----BEGIN PRIVATE KEY-----",
    base64.b64encode(b"alice:pw").decode(),
)


def test_the_cheap_check_never_lets_a_scrubbable_string_through() -> None:
    # The pre-check must stay a superset of every scrub rule: whatever scrub() would change, the
    # pre-check has to send there. Thousands of random mixes of the rules' ingredients say so.
    rng = random.Random(7)  # noqa: S311 - a reproducible test corpus, not a secret
    for _ in range(4000):
        text = "".join(rng.choice(_FRAGMENTS) for _ in range(rng.randint(1, 8)))
        if scrub(text) != text:
            assert _may_hold_secret(text), f"{text!r} would be scrubbed but skips the scrubber"


def _record(message: str, **extra: object) -> logging.LogRecord:
    try:
        raise RuntimeError(f"failed with token={CANARY}")
    except RuntimeError:
        exc_info = sys.exc_info()
    record = logging.LogRecord("service.errors", logging.ERROR, __file__, 1, message, None, exc_info)
    record.__dict__.update(extra)
    return record


@pytest.mark.parametrize("formatter", [JsonFormatter(), TextFormatter()], ids=["json", "text"])
def test_console_lines_are_redacted_too(formatter: logging.Formatter) -> None:
    line = formatter.format(_record(f"Authorization: Bearer {CANARY}", password=CANARY, route="/x"))

    assert CANARY not in line
    assert "/x" in line
    if isinstance(formatter, JsonFormatter):
        entry = json.loads(line.splitlines()[0])
        assert entry["password"] == REDACTED
        assert "RuntimeError: failed with token=" in entry["exception"]


def test_a_request_id_chosen_by_the_client_is_scrubbed_in_console_lines() -> None:
    """The kit's own fields (time, level, trace ids) are not scrubbed; the client's request id still is."""
    key = "sk_live_" + "4eC39HqLyjWDarjtT1zdp7dc"
    token = _current.set(RequestContext(accept_request_id(key)))
    try:
        entry = json.loads(JsonFormatter().format(_record("request completed")).splitlines()[0])
    finally:
        _current.reset(token)
    assert key not in json.dumps(entry)
    assert entry["request_id"] == REDACTED
    assert entry["level"] == "ERROR"


def test_the_console_handler_prints_no_credential() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.handle(_record("request failed", url_query=f"?api_key={CANARY}"))
    assert CANARY not in stream.getvalue()
