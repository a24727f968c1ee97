"""The kit's OTLP encoder writes exactly what the SDK's encoders write for the redacted items.

Each test builds real SDK spans or log records, encodes them with ``otel._otlp_wire`` and with the
SDK's ``encode_spans``/``encode_logs`` over ``redact_span``/``redact_log`` copies, and compares the
parsed requests and their canonical bytes. Repeating the encoding checks that what the encoder
remembers between batches changes nothing.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence

import pytest
from opentelemetry._logs import SeverityNumber
from opentelemetry.exporter.otlp.proto.common._log_encoder import encode_logs as sdk_encode_logs
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans as sdk_encode_spans
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk._logs import LoggerProvider, ReadableLogRecord
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan, SpanLimits, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import (
    Link,
    NonRecordingSpan,
    SpanContext,
    SpanKind,
    Status,
    StatusCode,
    TraceFlags,
    TraceState,
    set_span_in_context,
)

from otel import _otlp_wire
from otel._redaction import redact_log, redact_span
from otel.alerts._scrub import REDACTED

CANARY = "canary-3f1c9a2e"
RESOURCE = Resource.create({"service.name": "wire-test", "service.instance.id": "i-1", "host.cores": 2})
OTHER_RESOURCE = Resource.create({"service.name": "other", "deployment.environment.name": "test"})
REMOTE_PARENT = SpanContext(
    trace_id=0x0AF7651916CD43DD8448EB211C80319C,
    span_id=0xB7AD6B7169203331,
    is_remote=True,
    trace_flags=TraceFlags(TraceFlags.SAMPLED),
    trace_state=TraceState([("vendor", "value"), ("other", "x")]),
)


def _spans(resource: Resource, limits: SpanLimits | None = None) -> tuple[TracerProvider, InMemorySpanExporter]:
    exported = InMemorySpanExporter()
    provider = TracerProvider(resource=resource, span_limits=limits)
    provider.add_span_processor(SimpleSpanProcessor(exported))
    return provider, exported


def _assert_same_spans(spans: Sequence[ReadableSpan]) -> ExportTraceServiceRequest:
    expected = sdk_encode_spans([redact_span(span) for span in spans])
    for _ in range(2):  # the second time from what the encoder remembered
        ours = _otlp_wire.encode_spans(spans)
        parsed = ExportTraceServiceRequest.FromString(ours)
        assert parsed == expected
        assert ours == expected.SerializeToString()
    return parsed


def _assert_same_logs(records: Sequence[ReadableLogRecord]) -> ExportLogsServiceRequest:
    expected = sdk_encode_logs([redact_log(record) for record in records])
    for _ in range(2):
        ours = _otlp_wire.encode_logs(records)
        parsed = ExportLogsServiceRequest.FromString(ours)
        assert parsed == expected
        assert ours == expected.SerializeToString()
    return parsed


def test_a_request_shaped_trace_encodes_as_the_sdk_does() -> None:
    provider, exported = _spans(RESOURCE)
    tracer = provider.get_tracer("fastapi", "0.165.0", schema_url="https://opentelemetry.io/schemas/1.44.0")
    database = provider.get_tracer("otel.sqlalchemy")
    for index in range(3):
        with tracer.start_as_current_span(
            "GET /api/v1/sessions/{session_id}",
            kind=SpanKind.SERVER,
            attributes={
                "http.request.method": "GET",
                "url.path": f"/api/v1/sessions/{index}",
                "server.port": 8000,
                "network.protocol.version": "1.1",
            },
        ) as server:
            with database.start_as_current_span(
                "SELECT sessions",
                kind=SpanKind.CLIENT,
                attributes={"db.system.name": "sqlite", "db.query.text": "SELECT * FROM sessions WHERE id = ?"},
            ):
                pass
            server.set_attribute("http.response.status_code", 200)
    spans = exported.get_finished_spans()
    assert len(spans) == 6
    request = _assert_same_spans(spans)
    # One resource, two scopes (FastAPI's with its schema URL, the kit's), in the order first seen.
    assert len(request.resource_spans) == 1
    scopes = request.resource_spans[0].scope_spans
    assert [s.scope.name for s in scopes] == ["otel.sqlalchemy", "fastapi"]
    assert scopes[1].schema_url == "https://opentelemetry.io/schemas/1.44.0"


def test_every_attribute_type_and_default_value() -> None:
    provider, exported = _spans(RESOURCE)
    values = {
        "false": False,
        "true": True,
        "zero": 0,
        "negative": -42,
        "large": 2**62,
        "float": 0.5,
        "float.zero": 0.0,
        "empty": "",
        "unicode": "café \u2028 ✓",
        "strings": ("a", "", "c"),
        "ints": [1, -2, 3],
        "floats": [0.25, -1.5],
        "bools": [True, False],
        "no.items": (),
    }
    with provider.get_tracer("t").start_as_current_span("values", attributes=values):
        pass
    request = _assert_same_spans(exported.get_finished_spans())
    assert len(request.resource_spans[0].scope_spans[0].spans[0].attributes) == len(values)


def test_remote_parent_trace_state_events_links_status_and_dropped_counts() -> None:
    provider, exported = _spans(RESOURCE, SpanLimits(max_span_attributes=3, max_events=2, max_links=1))
    tracer = provider.get_tracer("t", "1.0", attributes={"scope.attr": "x"})
    linked = tracer.start_span("linked")
    linked.end()
    span = tracer.start_span(
        "child of remote",
        context=set_span_in_context(NonRecordingSpan(REMOTE_PARENT)),
        kind=SpanKind.CONSUMER,
        links=[Link(linked.get_span_context(), {"link.attr": 1}), Link(REMOTE_PARENT)],
        attributes={f"a{i}": i for i in range(5)},
    )
    span.add_event("first", {"event.attr": "v"}, timestamp=1_700_000_000_000_000_000)
    span.add_event("second")
    span.add_event("third")
    span.set_status(Status(StatusCode.ERROR, "it failed"))
    span.end()
    spans = exported.get_finished_spans()
    request = _assert_same_spans(spans)
    encoded = request.resource_spans[0].scope_spans[0].spans[1]
    assert encoded.dropped_attributes_count == 2
    assert encoded.dropped_events_count == 1
    assert encoded.dropped_links_count == 1
    assert encoded.trace_state == "vendor=value,other=x"
    assert encoded.flags == 0x300  # has-is-remote and is-remote


def test_spans_of_several_resources_are_grouped_per_resource() -> None:
    first, first_exported = _spans(RESOURCE)
    second, second_exported = _spans(OTHER_RESOURCE)
    for provider in (first, second, first):
        with provider.get_tracer("t").start_as_current_span("work", kind=SpanKind.INTERNAL):
            pass
    spans = [*first_exported.get_finished_spans(), *second_exported.get_finished_spans()]
    request = _assert_same_spans(spans)
    assert [len(r.scope_spans[0].spans) for r in request.resource_spans] == [2, 1]


def test_credentials_are_redacted_in_names_attributes_events_and_status() -> None:
    provider, exported = _spans(RESOURCE)
    tracer = provider.get_tracer("t")
    span = tracer.start_span(
        f"GET /export?token={CANARY}",
        attributes={
            "url.query": f"token={CANARY}&page=2",
            "http.request.header.authorization": (f"Bearer {CANARY}",),
            "password": CANARY,
            "password.present": True,  # says nothing secret: kept
            "user.password": "",  # empty: kept
        },
    )
    span.record_exception(ValueError(f"upstream refused Authorization: Bearer {CANARY}"))
    span.set_status(Status(StatusCode.ERROR, f"failed with secret={CANARY}"))
    span.end()
    spans = exported.get_finished_spans()
    request = _assert_same_spans(spans)
    wire = _otlp_wire.encode_spans(spans)
    assert CANARY.encode() not in wire
    attributes = {kv.key: kv.value for kv in request.resource_spans[0].scope_spans[0].spans[0].attributes}
    assert attributes["password"].string_value == REDACTED
    assert attributes["password.present"].bool_value is True
    assert attributes["url.query"].string_value == f"token={REDACTED}&page=2"
    # The ended span itself is untouched.
    assert spans[0].attributes is not None
    assert spans[0].attributes["password"] == CANARY


def test_a_remembered_value_is_redacted_by_its_own_key() -> None:
    """The same string under a plain and a secret key: each encoding follows its key."""
    provider, exported = _spans(RESOURCE)
    with provider.get_tracer("t").start_as_current_span("s", attributes={"label": CANARY, "api_key": CANARY}):
        pass
    request = _assert_same_spans(exported.get_finished_spans())
    attributes = {kv.key: kv.value.string_value for kv in request.resource_spans[0].scope_spans[0].spans[0].attributes}
    assert attributes == {"label": CANARY, "api_key": REDACTED}


def test_equal_numbers_of_other_types_are_not_taken_for_a_remembered_int() -> None:
    """``True == 1 == 1.0`` as dict keys: each value keeps its own type, seen once or many times."""
    provider, exported = _spans(RESOURCE)
    tracer = provider.get_tracer("t")
    for _ in range(3):  # the memo keeps a value from its second sighting: the third span reads it back
        for value in (1, True, 1.0, 1):
            with tracer.start_as_current_span("s", attributes={"n": value, "pin_password": 1234}):
                pass
    request = _assert_same_spans(exported.get_finished_spans())
    encoded = [{kv.key: kv.value for kv in span.attributes} for span in request.resource_spans[0].scope_spans[0].spans]
    assert [span["n"].WhichOneof("value") for span in encoded[-4:]] == [
        "int_value",
        "bool_value",
        "double_value",
        "int_value",
    ]
    assert {span["pin_password"].string_value for span in encoded} == {REDACTED}


def test_spans_built_outside_the_sdk_tracer_encode_the_same() -> None:
    """Plain containers (a dict, tuples) instead of the SDK's bounded ones: the public properties are read."""
    provider, exported = _spans(RESOURCE)
    with provider.get_tracer("t").start_as_current_span("linked"):
        pass
    (linked,) = exported.get_finished_spans()
    built = ReadableSpan(
        name="built",
        context=SpanContext(0x1F, 0x2F, is_remote=False, trace_flags=TraceFlags(TraceFlags.SAMPLED)),
        parent=REMOTE_PARENT,
        resource=RESOURCE,
        attributes={"plain": "dict", "count": 3, "token": CANARY},
        events=(Event("happened", {"where": "here"}, timestamp=1_700_000_000_000_000_000),),
        links=(Link(linked.get_span_context(), {"why": "because"}),),
        kind=SpanKind.PRODUCER,
        status=Status(StatusCode.OK),
        start_time=1_700_000_000_000_000_000,
        end_time=1_700_000_000_100_000_000,
    )
    request = _assert_same_spans([built])
    encoded = request.resource_spans[0].scope_spans[0].spans[0]
    assert {kv.key: kv.value.string_value for kv in encoded.attributes}["token"] == REDACTED
    assert [event.name for event in encoded.events] == ["happened"]
    assert len(encoded.links) == 1


@pytest.fixture
def logs() -> Iterator[tuple[LoggerProvider, InMemoryLogRecordExporter]]:
    exported = InMemoryLogRecordExporter()
    provider = LoggerProvider(resource=RESOURCE)
    provider.add_log_record_processor(SimpleLogRecordProcessor(exported))
    yield provider, exported
    provider.shutdown()


def test_log_records_encode_as_the_sdk_does(logs: tuple[LoggerProvider, InMemoryLogRecordExporter]) -> None:
    provider, exported = logs
    access = provider.get_logger("otel.access", "1.0", schema_url="https://example.com/schema")
    other = provider.get_logger("service.api")
    tracer_provider, _ = _spans(RESOURCE)
    with tracer_provider.get_tracer("t").start_as_current_span("request"):
        access.emit(
            timestamp=time.time_ns(),
            severity_number=SeverityNumber.INFO,
            severity_text="INFO",
            body="request completed",
            attributes={"http.response.status_code": 200, "latency_ms": 1.25, "url.path": "/api/v1/sessions"},
        )
    other.emit(body={"nested": {"password": CANARY, "list": [1, "two", None]}, "count": 3})
    other.emit(body=None, severity_number=SeverityNumber.ERROR, event_name="service.failure")
    other.emit(body=f"login with password={CANARY}", attributes={"token": CANARY, "token.valid": True})
    records = exported.get_finished_logs()
    request = _assert_same_logs(records)
    assert CANARY.encode() not in _otlp_wire.encode_logs(records)
    first = request.resource_logs[0].scope_logs[0].log_records[0]
    assert len(first.trace_id) == 16
    assert len(first.span_id) == 8


def test_an_unencodable_value_is_an_error_not_a_silent_loss() -> None:
    with pytest.raises(TypeError, match="object"):
        _otlp_wire._any_value(object())
