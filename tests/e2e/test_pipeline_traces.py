"""A response's ``X-Trace-Id`` followed through the pipeline: the trace is in both trace backends of
the stack (Jaeger v2 over OTLP, Zipkin over its JSON API) with the server span and its database child,
and the request's log records, with the same trace id, reached the Collector's log exporter.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from _backends import (
    TraceSpan,
    eventually,
    exported_log_records,
    jaeger_trace,
    server_span_with_db_child,
    zipkin_trace,
)
from _collector import BUILD_TIMEOUT_S
from _pipeline import Stack
from _traffic import MAIN_ENVIRONMENT, SESSION, TrafficRecord

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(BUILD_TIMEOUT_S + 600)]

SERVER_SPAN = f"GET {SESSION}"
DB_SPAN = "SELECT sessions"
WAIT_S = 30.0


def wait_for_server_span(spans_of: Callable[[str], list[TraceSpan]], trace_id: str, backend: str) -> TraceSpan:
    spans = eventually(
        lambda: spans_of(trace_id),
        lambda found: server_span_with_db_child(found, SERVER_SPAN, DB_SPAN) is not None,
        timeout=WAIT_S,
        what=f"{backend}: trace {trace_id} should hold {SERVER_SPAN!r} with a {DB_SPAN!r} child",
    )
    server = server_span_with_db_child(spans, SERVER_SPAN, DB_SPAN)
    assert server is not None
    return server


def test_trace_id_of_a_response_is_in_jaeger_with_server_and_db_spans(stack: Stack, traffic: TrafficRecord) -> None:
    server = wait_for_server_span(lambda trace_id: jaeger_trace(stack.jaeger_url, trace_id), traffic.trace_id, "Jaeger")
    assert server.name == SERVER_SPAN
    assert server.parent_id is None, "the server span is the root of a request without a traceparent"


def test_trace_id_of_a_response_is_in_zipkin_with_server_and_db_spans(stack: Stack, traffic: TrafficRecord) -> None:
    server = wait_for_server_span(lambda trace_id: zipkin_trace(stack.zipkin_url, trace_id), traffic.trace_id, "Zipkin")
    assert server.name == SERVER_SPAN.lower()  # Zipkin lower-cases span names


def test_log_records_of_the_request_reached_the_collector(stack: Stack, traffic: TrafficRecord) -> None:
    server = wait_for_server_span(lambda trace_id: jaeger_trace(stack.jaeger_url, trace_id), traffic.trace_id, "Jaeger")
    records = eventually(
        lambda: [record for record in exported_log_records(stack.logs_file) if record.trace_id == traffic.trace_id],
        lambda found: any(record.body == "request completed" for record in found),
        timeout=WAIT_S,
        what=f"{stack.logs_file} should hold a 'request completed' record with trace id {traffic.trace_id}",
    )
    (completed,) = [record for record in records if record.body == "request completed"]
    assert completed.span_id == server.span_id, "the access log record belongs to the server span"
    assert completed.severity == "INFO"
    assert completed.resource["service.name"] == "mindhit-api"
    assert completed.resource["deployment.environment.name"] == MAIN_ENVIRONMENT
