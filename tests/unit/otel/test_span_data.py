"""Reading an ended span's containers gives what its public properties give, with or without the SDK's."""

from __future__ import annotations

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan, SpanLimits, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Link, SpanContext, SpanKind, Status, StatusCode

from otel._span_data import attributes_of, events_of, recorded
from otel.alerts import AlertSettings, Severity
from otel.alerts._span_rules import alert_from_span


def _sdk_span() -> ReadableSpan:
    exported = InMemorySpanExporter()
    provider = TracerProvider(span_limits=SpanLimits(max_span_attributes=2, max_events=1, max_links=1))
    provider.add_span_processor(SimpleSpanProcessor(exported))
    tracer = provider.get_tracer("t")
    other = SpanContext(0xA, 0xB, is_remote=True)
    with tracer.start_as_current_span(
        "s", links=[Link(other), Link(other)], attributes={"a": 1, "b": 2, "c": 3}
    ) as span:
        span.add_event("first")
        span.add_event("second")
    (ended,) = exported.get_finished_spans()
    return ended


def test_an_sdk_span_reads_the_same_as_through_its_properties() -> None:
    span = _sdk_span()
    attributes, dropped_attributes = recorded(span, "attributes")
    events, dropped_events = recorded(span, "events")
    links, dropped_links = recorded(span, "links")

    assert (
        (dict(attributes), dropped_attributes)
        == (dict(span.attributes), span.dropped_attributes)
        == ({"b": 2, "c": 3}, 1)
    )
    assert (tuple(events), dropped_events) == (span.events, span.dropped_events)
    assert [event.name for event in events] == ["second"]
    assert dropped_events == 1
    assert (tuple(links), dropped_links) == (span.links, span.dropped_links)
    assert dropped_links == 1


def test_a_span_with_plain_containers_is_read_through_its_properties() -> None:
    span = ReadableSpan(
        name="GET /x",
        context=SpanContext(0x1, 0x2, is_remote=False),
        resource=Resource.create({"service.name": "plain"}),
        attributes={"http.route": "/x", "http.response.status_code": 503},
        events=(Event("exception", {"exception.type": "ValueError", "exception.message": "bad"}),),
        kind=SpanKind.SERVER,
        status=Status(StatusCode.ERROR),
        start_time=1,
        end_time=2,
    )

    assert attributes_of(span) == {"http.route": "/x", "http.response.status_code": 503}
    assert [event.name for event in events_of(span)] == ["exception"]
    alert = alert_from_span(span, AlertSettings(_env_file=None))
    assert alert is not None
    assert (alert.severity, alert.exception_type, alert.route) == (Severity.CRITICAL, "ValueError", "/x")
