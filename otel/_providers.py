"""Builds the three SDK providers from processors and readers handed in.

Keeping construction apart from the choice of exporters lets the pytest plugin build the very same
providers around in-memory exporters, so tests exercise the production wiring.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field

from opentelemetry.sdk._logs import LoggerProvider, LogRecordProcessor
from opentelemetry.sdk._logs.export import LogRecordExporter
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import MetricReader, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SpanExporter
from opentelemetry.sdk.trace.id_generator import IdGenerator
from prometheus_client import CollectorRegistry

from otel import _exporters
from otel._batch import BatchLogRecordProcessor, BatchSpanProcessor
from otel._config import TelemetrySettings
from otel._export_health import DropRecorder
from otel._metric_reader import PullMetricReader, SharedMetricReader, shareable
from otel._redaction import RedactingLogExporter, RedactingSpanExporter
from otel._sampling import build_sampler
from otel.alerts._hub import AlertHub
from otel.alerts._span_processor import AlertSpanProcessor

logger = logging.getLogger(__name__)


@dataclass
class Pipeline:
    """What the providers feed: processors for spans and logs, readers for metrics."""

    span_processors: list[SpanProcessor] = field(default_factory=list)
    metric_readers: list[MetricReader] = field(default_factory=list)
    log_processors: list[LogRecordProcessor] = field(default_factory=list)
    prometheus_registry: CollectorRegistry | None = None
    id_generator: IdGenerator | None = None
    drops: DropRecorder | None = None


@dataclass(frozen=True)
class Providers:
    tracer_provider: TracerProvider
    meter_provider: MeterProvider
    logger_provider: LoggerProvider
    prometheus_registry: CollectorRegistry | None
    shutdown_timeout_s: float = 30.0


def prometheus_reader(pipeline: Pipeline) -> None:
    """Adds a pull reader for ``/metrics``."""
    pipeline.metric_readers.append(PullMetricReader(registry=_metrics_endpoint_registry(pipeline)))


def _metrics_endpoint_registry(pipeline: Pipeline) -> CollectorRegistry:
    """The registry ``/metrics`` renders: one of its own, so nothing else leaks into it."""
    pipeline.prometheus_registry = CollectorRegistry(auto_describe=True)
    return pipeline.prometheus_registry


def otlp_pipeline(settings: TelemetrySettings) -> Pipeline:
    """The production pipeline: batch processors and a periodic reader pushing OTLP to the Collector.

    Spans and log records are redacted on their way to the exporter, and what cannot be delivered is
    counted (``otel._export_health``).
    """
    drops = DropRecorder()
    pipeline = Pipeline(drops=drops)
    if (spans := _exporters.span_exporter(settings)) is not None:
        pipeline.span_processors.append(BatchSpanProcessor(_redacting_spans(spans), drops, settings.span_batch))
    _metric_readers(pipeline, settings)
    if (logs := _exporters.log_exporter(settings)) is not None:
        pipeline.log_processors.append(BatchLogRecordProcessor(_redacting_logs(logs), drops, settings.log_batch))
    return pipeline


def _metric_readers(pipeline: Pipeline, settings: TelemetrySettings) -> None:
    """OTLP push and ``/metrics`` from one aggregation when the exporter allows it, else a reader each."""
    metrics = _exporters.metric_exporter(settings)
    if metrics is not None and settings.metrics_endpoint_enabled and shareable(metrics):
        pipeline.metric_readers.append(
            SharedMetricReader(
                metrics,
                registry=_metrics_endpoint_registry(pipeline),
                interval_s=settings.metric_export_interval_ms / 1000,
                timeout_s=settings.metric_export_timeout_ms / 1000,
            )
        )
        return
    if metrics is not None:
        pipeline.metric_readers.append(
            PeriodicExportingMetricReader(
                metrics,
                export_interval_millis=settings.metric_export_interval_ms,
                export_timeout_millis=settings.metric_export_timeout_ms,
            )
        )
    if settings.metrics_endpoint_enabled:
        prometheus_reader(pipeline)


def _redacting_spans(exporter: SpanExporter) -> SpanExporter:
    """The OTLP exporters redact while encoding (``redacts``); any other gets redacted copies."""
    return exporter if getattr(exporter, "redacts", False) else RedactingSpanExporter(exporter)


def _redacting_logs(exporter: LogRecordExporter) -> LogRecordExporter:
    return exporter if getattr(exporter, "redacts", False) else RedactingLogExporter(exporter)


def build_providers(
    settings: TelemetrySettings, resource: Resource, pipeline: Pipeline, alert_hub: AlertHub
) -> Providers:
    tracer_provider = TracerProvider(
        resource=resource, sampler=build_sampler(settings), id_generator=pipeline.id_generator
    )
    for span_processor in [*pipeline.span_processors, AlertSpanProcessor(alert_hub)]:
        tracer_provider.add_span_processor(span_processor)
    logger_provider = LoggerProvider(resource=resource)
    for log_processor in pipeline.log_processors:
        logger_provider.add_log_record_processor(log_processor)
    meter_provider = MeterProvider(resource=resource, metric_readers=list(pipeline.metric_readers))
    if pipeline.drops is not None:
        pipeline.drops.bind(meter_provider)
    return Providers(
        tracer_provider,
        meter_provider,
        logger_provider,
        pipeline.prometheus_registry,
        shutdown_timeout_s=settings.shutdown_timeout_ms / 1000,
    )


def shutdown_providers(providers: Providers) -> None:
    """Spans and logs first, metrics last, so the final metric export still counts the last requests.

    The SDK bounds each step on its own (30 s a processor, the OTLP timeout per attempt), which adds up
    to more than a grace period when the Collector is down. The flush therefore runs on a thread of its
    own, and is abandoned, with what it still held, once ``shutdown_timeout_s`` has passed.
    """

    def shut_down() -> None:
        providers.tracer_provider.shutdown()
        providers.logger_provider.shutdown()
        providers.meter_provider.shutdown()

    flush = threading.Thread(target=shut_down, name="otel-shutdown", daemon=True)
    flush.start()
    flush.join(providers.shutdown_timeout_s)
    if flush.is_alive():
        logger.warning(
            "telemetry flush did not finish within %.1f s (is the Collector reachable?); unsent telemetry is lost",
            providers.shutdown_timeout_s,
        )
