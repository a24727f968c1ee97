"""Micro-benchmarks of two pieces of the kit against what they replaced, without a server.

``python -m benchmarks.micro`` prints, per item and per request, the minimum over repeats of:

- **encoding**: 200 request-shaped traces (a server span with 12 attributes, a database span, a log
  record; every 50th carries credentials) encoded for OTLP by the SDK's encoders over ``redact_span`` /
  ``redact_log`` copies (what the kit did before) and by ``otel._otlp_wire`` (what it does now). The two
  outputs are checked to be the same bytes first.
- **metric readers**: one request's four measurements (the HTTP duration histogram, active requests up and
  down, the database duration histogram) inside a span, with no reader, the OTLP reader alone, the OTLP
  and Prometheus readers (before) and the shared reader (now).
"""

from __future__ import annotations

import argparse
import time
import timeit
from collections.abc import Callable, Sequence
from typing import Any

from opentelemetry._logs import SeverityNumber
from opentelemetry.exporter.otlp.proto.common._log_encoder import encode_logs as sdk_encode_logs
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans as sdk_encode_spans
from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import ConsoleMetricExporter, MetricReader, PeriodicExportingMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from prometheus_client import CollectorRegistry

from otel import _otlp_wire
from otel._config import TelemetrySettings
from otel._metric_reader import SharedMetricReader
from otel._redaction import redact_log, redact_span
from otel._resource import build_resource

TRACES = 200
ROUTE = "/api/v1/sessions/{session_id}"
STATEMENT = "SELECT sessions.id, sessions.user_id, sessions.title FROM sessions WHERE sessions.id = ?"


def _best_us(function: Callable[[], Any], *, number: int, repeat: int) -> float:
    return min(timeit.repeat(function, number=number, repeat=repeat)) / number * 1e6


def _traces() -> tuple[Sequence[Any], Sequence[Any]]:
    resource = build_resource(TelemetrySettings(), service_version="1.0.0", default_service_name="mindhit-api")
    spans = InMemorySpanExporter()
    tracer_provider = TracerProvider(resource=resource)
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    logs = InMemoryLogRecordExporter()
    logger_provider = LoggerProvider(resource=resource)
    logger_provider.add_log_record_processor(SimpleLogRecordProcessor(logs))
    server = tracer_provider.get_tracer("fastapi", "0.165.0", schema_url="https://opentelemetry.io/schemas/1.44.0")
    database = tracer_provider.get_tracer("otel.sqlalchemy")
    access = logger_provider.get_logger("otel.access")
    for index in range(TRACES):
        request_id = f"{index:032x}"
        query = "token=canary-secret-value&page=2" if index % 50 == 0 else "page=2"
        attributes = {
            "url.scheme": "http",
            "http.request.method": "GET",
            "network.protocol.version": "1.1",
            "server.address": "127.0.0.1",
            "server.port": 8000,
            "url.path": f"/api/v1/sessions/{request_id}",
            "url.query": query,
            "request_id": request_id,
            "client.address": "127.0.0.1",
            "user_agent.original": "wrk",
            "enduser.id": "bench-user",
        }
        with server.start_as_current_span(f"GET {ROUTE}", kind=SpanKind.SERVER, attributes=attributes) as span:
            db_attributes = {
                "db.system.name": "sqlite",
                "db.namespace": "mindhit.db",
                "db.operation.name": "SELECT",
                "db.collection.name": "sessions",
                "db.query.text": STATEMENT,
            }
            database.start_span("SELECT sessions", kind=SpanKind.CLIENT, attributes=db_attributes).end()
            span.set_attributes({"http.route": ROUTE, "http.response.status_code": 200})
            access.emit(
                timestamp=time.time_ns(),
                severity_number=SeverityNumber.INFO,
                severity_text="INFO",
                body="request completed",
                attributes={
                    "http.request.method": "GET",
                    "http.route": ROUTE,
                    "url.path": f"/api/v1/sessions/{request_id}",
                    "http.response.status_code": 200,
                    "latency_ms": 1.234,
                    "client.address": "127.0.0.1",
                    "user_agent.original": "wrk",
                    "request_id": request_id,
                    "user_id": "bench-user",
                },
            )
    return spans.get_finished_spans(), logs.get_finished_logs()


def encoding(repeat: int) -> None:
    spans, records = _traces()
    sdk_spans = sdk_encode_spans([redact_span(span) for span in spans]).SerializeToString()
    sdk_logs = sdk_encode_logs([redact_log(record) for record in records]).SerializeToString()
    if _otlp_wire.encode_spans(spans) != sdk_spans or _otlp_wire.encode_logs(records) != sdk_logs:
        raise SystemExit("the kit's encoding differs from the SDK's")
    cases = {
        "spans, SDK encoder over redacted copies": lambda: sdk_encode_spans(
            [redact_span(span) for span in spans]
        ).SerializeToString(),
        "spans, otel._otlp_wire": lambda: _otlp_wire.encode_spans(spans),
        "log records, SDK encoder over redacted copies": lambda: sdk_encode_logs(
            [redact_log(record) for record in records]
        ).SerializeToString(),
        "log records, otel._otlp_wire": lambda: _otlp_wire.encode_logs(records),
    }
    print(f"encoding ({len(spans)} spans, {len(records)} log records; best of {repeat}):")
    for name, function in cases.items():
        items = len(spans) if name.startswith("spans") else len(records)
        print(f"  {name:<48} {_best_us(function, number=5, repeat=repeat) / items:7.1f} us per item")


def _request(readers: list[MetricReader]) -> Callable[[], None]:
    tracer = TracerProvider().get_tracer("micro")
    meter = MeterProvider(metric_readers=readers, shutdown_on_exit=False).get_meter("fastapi")
    duration = meter.create_histogram("http.server.request.duration", unit="s")
    active = meter.create_up_down_counter("http.server.active_requests")
    database = meter.create_histogram("db.client.operation.duration", unit="s")
    http = {"url.scheme": "http", "http.request.method": "GET", "http.route": ROUTE, "http.response.status_code": 200}
    method = {"url.scheme": "http", "http.request.method": "GET"}
    query = {"db.system.name": "sqlite", "db.operation.name": "SELECT", "db.collection.name": "sessions"}

    def request() -> None:
        with tracer.start_as_current_span("request"):
            active.add(1, method)
            database.record(0.0003, query)
            duration.record(0.002, http)
            active.add(-1, method)

    return request


def metric_readers(repeat: int) -> None:
    hour = 3_600_000

    def otlp() -> MetricReader:
        return PeriodicExportingMetricReader(ConsoleMetricExporter(), export_interval_millis=hour)

    cases: dict[str, Callable[[], list[MetricReader]]] = {
        "no reader (the span alone)": list,
        "OTLP reader alone": lambda: [otlp()],
        "OTLP + Prometheus readers (before)": lambda: [otlp(), PrometheusMetricReader(registry=CollectorRegistry())],
        "shared reader (now)": lambda: [
            SharedMetricReader(ConsoleMetricExporter(), registry=CollectorRegistry(), interval_s=3600, timeout_s=5)
        ],
    }
    print(f"metric readers (4 measurements in a span; best of {repeat}):")
    for name, readers in cases.items():
        print(f"  {name:<48} {_best_us(_request(readers()), number=2000, repeat=repeat):7.1f} us per request")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.micro", description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args(argv)
    encoding(args.repeat)
    metric_readers(args.repeat)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
