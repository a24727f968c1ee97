"""OTLP exporters for the three signals, over gRPC or HTTP/protobuf as OTEL_EXPORTER_OTLP_PROTOCOL says.

Only the chosen transport is imported: the gRPC stack is heavy to load and starts threads of its own.
Spans and log records go through the kit's encoder (``otel._otlp_wire``), which redacts as it encodes;
the console exporters get redacted copies instead (``otel._providers``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from opentelemetry.sdk._logs.export import ConsoleLogRecordExporter, LogRecordExporter
from opentelemetry.sdk.metrics.export import ConsoleMetricExporter, MetricExporter
from opentelemetry.sdk.trace.export import ConsoleSpanExporter, SpanExporter

from otel._config import TelemetrySettings
from otel._resource import parse_key_values

Signal = Literal["traces", "metrics", "logs"]

_DEFAULT_ENDPOINTS = {"grpc": "http://localhost:4317", "http/protobuf": "http://localhost:4318"}


@dataclass(frozen=True)
class OtlpTarget:
    """Where one signal goes; the per-signal variable wins over the shared one, as the spec requires."""

    endpoint: str
    headers: dict[str, str]
    timeout_s: float
    grpc: bool

    @classmethod
    def for_signal(cls, settings: TelemetrySettings, signal: Signal) -> OtlpTarget:
        grpc = settings.exporter_otlp_protocol == "grpc"
        specific = {
            "traces": settings.exporter_otlp_traces_endpoint,
            "metrics": settings.exporter_otlp_metrics_endpoint,
            "logs": settings.exporter_otlp_logs_endpoint,
        }[signal]
        if specific:
            endpoint = specific
        else:
            base = (settings.exporter_otlp_endpoint or _DEFAULT_ENDPOINTS[settings.exporter_otlp_protocol]).rstrip("/")
            endpoint = base if grpc else f"{base}/v1/{signal}"
        return cls(
            endpoint=endpoint,
            headers=parse_key_values(settings.exporter_otlp_headers, variable="OTEL_EXPORTER_OTLP_HEADERS"),
            timeout_s=settings.exporter_otlp_timeout_ms / 1000,
            grpc=grpc,
        )

    @property
    def insecure(self) -> bool:
        return self.endpoint.startswith("http://")


def span_exporter(settings: TelemetrySettings) -> SpanExporter | None:
    if settings.traces_exporter == "none":
        return None
    if settings.traces_exporter == "console":
        return ConsoleSpanExporter()
    target = OtlpTarget.for_signal(settings, "traces")
    if target.grpc:
        from otel._otlp_grpc import WireSpanExporter as GrpcSpanExporter

        return GrpcSpanExporter(
            endpoint=target.endpoint, insecure=target.insecure, headers=target.headers, timeout=target.timeout_s
        )
    from otel._otlp_http import WireSpanExporter as HttpSpanExporter

    return HttpSpanExporter(endpoint=target.endpoint, headers=target.headers, timeout=target.timeout_s)


def metric_exporter(settings: TelemetrySettings) -> MetricExporter | None:
    if settings.metrics_exporter == "none":
        return None
    if settings.metrics_exporter == "console":
        return ConsoleMetricExporter()
    target = OtlpTarget.for_signal(settings, "metrics")
    if target.grpc:
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter as GrpcMetricExporter

        return GrpcMetricExporter(
            endpoint=target.endpoint, insecure=target.insecure, headers=target.headers, timeout=target.timeout_s
        )
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter as HttpMetricExporter

    return HttpMetricExporter(endpoint=target.endpoint, headers=target.headers, timeout=target.timeout_s)


def log_exporter(settings: TelemetrySettings) -> LogRecordExporter | None:
    if settings.logs_exporter == "none":
        return None
    if settings.logs_exporter == "console":
        return ConsoleLogRecordExporter()
    target = OtlpTarget.for_signal(settings, "logs")
    if target.grpc:
        from otel._otlp_grpc import WireLogExporter as GrpcLogExporter

        return GrpcLogExporter(
            endpoint=target.endpoint, insecure=target.insecure, headers=target.headers, timeout=target.timeout_s
        )
    from otel._otlp_http import WireLogExporter as HttpLogExporter

    return HttpLogExporter(endpoint=target.endpoint, headers=target.headers, timeout=target.timeout_s)
