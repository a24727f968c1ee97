"""The Collector's scrubbing, on its own: hand-made OTLP carrying each canary case reaches no backend.

The SDK redacts before export (tests/integration/test_security_canary.py); this is the second line,
for a client that does not: every form in which the canary test plants a secret (Authorization and
Cookie headers and their free-text forms, a ``?token=`` or ``password=`` parameter, a JSON
``password`` field, an exception message) plus literal values in ``db.query.text`` is sent straight to
the running Collector, and the trace backend (an OTLP sink) and the log backend (the file exporter)
must receive each attribute with its name and structure kept and its secret gone.
"""

from __future__ import annotations

import json
import os
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
from _collector import BASE_CONFIG, BUILD_TIMEOUT_S, CollectorPorts, TraceSink, collector_binary, running_collector
from _collector import trace_sink as running_trace_sink
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, ResourceLogs, ScopeLogs
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(BUILD_TIMEOUT_S + 120)]

C = "canary-3c8e1a5f72d4"
T = TypeVar("T")
# attribute -> (what the client sends, what the backend must receive)
CASES: dict[str, tuple[str, str]] = {
    "url.query": (f"limit=5&token={C}", "limit=5&token=REDACTED"),
    "url.full": (f"https://api.example/x?page=2&password={C}", "https://api.example/x?page=2&password=REDACTED"),
    "db.query.text": (
        f"UPDATE users SET password = '{C}' WHERE users.id = ?",  # noqa: S608 - a test payload, never run
        "UPDATE users SET password = 'REDACTED' WHERE users.id = ?",
    ),
    "http.request.body": (f'{{"title": "t", "password": "{C}"}}', '{"title": "t", "password": "REDACTED"}'),
    "exception.message": (f"upstream refused Authorization: Bearer {C}", "upstream refused Authorization: REDACTED"),
    "note.cookie": (f"sent Cookie: sid={C}; theme=dark", "sent Cookie: REDACTED"),
    # The redaction processor then masks what still looks like a bearer credential, marker included.
    "note.bearer": (f"retrying with bearer {C}", "retrying with ****"),
    "note.header": (f"X-Api-Key: {C}", "X-Api-Key: REDACTED"),
    "http.route": ("/api/v1/sessions/{session_id}", "/api/v1/sessions/{session_id}"),  # untouched
}
HEADERS = {
    "http.request.header.authorization": [f"Bearer {C}"],
    "http.request.header.cookie": [f"sid={C}"],
    "http.request.header.x-api-key": [C],
}
LOG_BODY = (f"login failed: Authorization: Bearer {C}", "login failed: Authorization: REDACTED")


@dataclass
class Delivered:
    sink: TraceSink
    logs_file: Path
    trace_id: bytes


@pytest.fixture(scope="module")
def delivered(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Delivered]:
    binary = collector_binary()
    workdir = tmp_path_factory.mktemp("collector-scrub")
    ports = CollectorPorts.allocate()
    logs_file = workdir / "logs.jsonl"
    with running_trace_sink() as sink:
        env = {
            **ports.env(),
            "OTELCOL_STORAGE_DIR": str(workdir / "storage"),
            "LOGS_FILE_PATH": str(logs_file),
            "TRACES_OTLP_ENDPOINT": sink.endpoint,
        }
        with running_collector(
            binary, [BASE_CONFIG], env=env, health_url=ports.health_url, log_path=workdir / "collector.log"
        ):
            trace_id = os.urandom(16)
            _post(f"{ports.otlp_http_url}/v1/traces", _spans(trace_id))
            _post(f"{ports.otlp_http_url}/v1/logs", _logs(trace_id))
            _eventually(lambda: _span(sink, trace_id) is not None and _records(logs_file), "both backends")
            yield Delivered(sink, logs_file, trace_id)


def test_no_backend_receives_the_canary(delivered: Delivered) -> None:
    assert all(C.encode() not in request.SerializeToString() for request in delivered.sink.snapshot())
    assert C not in delivered.logs_file.read_text()


@pytest.mark.parametrize("name", CASES)
def test_each_span_attribute_keeps_its_name_and_loses_its_secret(delivered: Delivered, name: str) -> None:
    span = _span(delivered.sink, delivered.trace_id)
    assert span is not None
    assert _attributes(span.attributes)[name] == CASES[name][1]


@pytest.mark.parametrize("name", CASES)
def test_each_exception_event_attribute_is_scrubbed_too(delivered: Delivered, name: str) -> None:
    span = _span(delivered.sink, delivered.trace_id)
    assert span is not None
    assert _attributes(span.events[0].attributes)[name] == CASES[name][1]


def test_header_attributes_are_removed(delivered: Delivered) -> None:
    span = _span(delivered.sink, delivered.trace_id)
    assert span is not None
    assert not set(HEADERS) & set(_attributes(span.attributes))


def test_log_body_and_attributes_are_scrubbed(delivered: Delivered) -> None:
    (record,) = _records(delivered.logs_file)
    assert record["body"] == {"stringValue": LOG_BODY[1]}
    attributes = {a["key"]: a["value"].get("stringValue") for a in record["attributes"]}
    assert attributes == {name: expected for name, (_, expected) in CASES.items()}


# --- helpers -------------------------------------------------------------------------------------


def _eventually(probe: Callable[[], Any], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if probe():
            return
        time.sleep(0.2)
    pytest.fail(f"timed out waiting for {what}")


def _value(value: str | list[str]) -> AnyValue:
    if isinstance(value, list):
        return AnyValue(array_value=ArrayValue(values=[AnyValue(string_value=v) for v in value]))
    return AnyValue(string_value=value)


def _kv(attributes: dict[str, Any]) -> list[KeyValue]:
    return [KeyValue(key=key, value=_value(value)) for key, value in attributes.items()]


def _attributes(pairs: Any) -> dict[str, Any]:
    return {kv.key: getattr(kv.value, kv.value.WhichOneof("value")) for kv in pairs}


_RESOURCE = Resource(attributes=_kv({"service.name": "mindhit-api", "deployment.environment.name": "test"}))


def _spans(trace_id: bytes) -> ExportTraceServiceRequest:
    end = time.time_ns()
    sent = {name: value for name, (value, _) in CASES.items()}
    span = Span(
        trace_id=trace_id,
        span_id=os.urandom(8),
        name="GET /api/v1/sessions/{session_id}",
        kind=Span.SPAN_KIND_SERVER,
        start_time_unix_nano=end - 1_000_000,
        end_time_unix_nano=end,
        attributes=_kv({**sent, **HEADERS}),
        events=[Span.Event(time_unix_nano=end, name="exception", attributes=_kv(sent))],
    )
    return ExportTraceServiceRequest(
        resource_spans=[ResourceSpans(resource=_RESOURCE, scope_spans=[ScopeSpans(spans=[span])])]
    )


def _logs(trace_id: bytes) -> ExportLogsServiceRequest:
    record = LogRecord(
        time_unix_nano=time.time_ns(),
        severity_text="ERROR",
        body=_value(LOG_BODY[0]),
        attributes=_kv({**{name: value for name, (value, _) in CASES.items()}, **HEADERS}),
        trace_id=trace_id,
    )
    return ExportLogsServiceRequest(
        resource_logs=[ResourceLogs(resource=_RESOURCE, scope_logs=[ScopeLogs(log_records=[record])])]
    )


def _span(sink: TraceSink, trace_id: bytes) -> Span | None:
    for request in sink.snapshot():
        for resource_spans in request.resource_spans:
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    if span.trace_id == trace_id:
                        return span
    return None


def _records(path: Path) -> list[dict[str, Any]]:
    text = path.read_text() if path.exists() else ""
    if not text.endswith("\n"):
        return []
    return [
        record
        for line in text.splitlines()
        for resource in json.loads(line)["resourceLogs"]
        for scope in resource["scopeLogs"]
        for record in scope["logRecords"]
    ]


def _post(url: str, message: ExportTraceServiceRequest | ExportLogsServiceRequest) -> None:
    request = urllib.request.Request(  # noqa: S310  (loopback URL we built)
        url, data=message.SerializeToString(), headers={"Content-Type": "application/x-protobuf"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310  (likewise)
        assert response.status == 200
