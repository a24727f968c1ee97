"""Telemetry the process cannot deliver is counted exactly, reported once per interval, and shutdown is bounded."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence

import pytest
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor, InMemoryLogRecordExporter
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from prometheus_client import CollectorRegistry

from otel._export_health import (
    DROPPED_METRIC,
    Backlog,
    CountingLogExporter,
    CountingLogProcessor,
    CountingSpanExporter,
    CountingSpanProcessor,
    DropRecorder,
)
from otel._providers import Providers, shutdown_providers


class _GatedExporter(SpanExporter):
    """Blocks in ``export`` until released; fails every batch when told to."""

    def __init__(self, *, fail: bool = False) -> None:
        self.fail = fail
        self.entered = threading.Event()
        self.release = threading.Event()
        self.exported: list[ReadableSpan] = []

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.entered.set()
        assert self.release.wait(10)
        if self.fail:
            return SpanExportResult.FAILURE
        self.exported.extend(spans)
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        self.release.set()


def _dropped(reader: InMemoryMetricReader) -> dict[tuple[str, str], int]:
    data = reader.get_metrics_data()
    found: dict[tuple[str, str], int] = {}
    for resource_metrics in data.resource_metrics if data else []:
        for scope in resource_metrics.scope_metrics:
            for metric in scope.metrics:
                if metric.name == DROPPED_METRIC:
                    for point in metric.data.data_points:
                        attributes = point.attributes or {}
                        found[str(attributes["otel.signal"]), str(attributes["error.type"])] = int(point.value)  # type: ignore[attr-defined]
    return found


@pytest.fixture
def recorder() -> tuple[DropRecorder, InMemoryMetricReader]:
    reader = InMemoryMetricReader()
    drops = DropRecorder()
    drops.bind(MeterProvider(metric_readers=[reader]))
    return drops, reader


def _tracer(
    exporter: SpanExporter, drops: DropRecorder, *, capacity: int, batch: int
) -> tuple[TracerProvider, CountingSpanProcessor]:
    backlog = Backlog("traces", capacity, drops)
    processor = CountingSpanProcessor(
        BatchSpanProcessor(
            CountingSpanExporter(exporter, backlog),
            max_queue_size=capacity,
            max_export_batch_size=batch,
            schedule_delay_millis=60_000,
        ),
        backlog,
    )
    provider = TracerProvider()
    provider.add_span_processor(processor)
    return provider, processor


def test_a_full_queue_counts_each_span_it_drops(recorder: tuple[DropRecorder, InMemoryMetricReader]) -> None:
    drops, reader = recorder
    exporter = _GatedExporter()
    provider, _ = _tracer(exporter, drops, capacity=4, batch=4)
    tracer = provider.get_tracer("test")

    for index in range(4):  # the fourth fills a batch: the worker takes all four and blocks exporting them
        tracer.start_span(f"span {index}").end()
    assert exporter.entered.wait(5)
    for index in range(4, 11):  # four fit in the queue again, three do not
        tracer.start_span(f"span {index}").end()
    exporter.release.set()
    provider.shutdown()

    assert len(exporter.exported) == 8
    assert _dropped(reader) == {("traces", "queue_full"): 3}


def test_failed_exports_count_their_spans(recorder: tuple[DropRecorder, InMemoryMetricReader]) -> None:
    drops, reader = recorder
    exporter = _GatedExporter(fail=True)
    exporter.release.set()
    provider, processor = _tracer(exporter, drops, capacity=100, batch=10)
    tracer = provider.get_tracer("test")

    for index in range(25):
        tracer.start_span(f"span {index}").end()
    processor.force_flush()
    provider.shutdown()

    assert _dropped(reader) == {("traces", "export_failed"): 25}


def test_what_is_still_queued_at_shutdown_counts_as_lost(recorder: tuple[DropRecorder, InMemoryMetricReader]) -> None:
    drops, reader = recorder
    backlog = Backlog("logs", 10, drops)
    for _ in range(7):
        backlog.offered()
    backlog.taken(5)

    backlog.close()
    backlog.offered()  # after shutdown: lost as well

    assert _dropped(reader) == {("logs", "shutdown"): 3}


def test_log_records_are_counted_like_spans(recorder: tuple[DropRecorder, InMemoryMetricReader]) -> None:
    drops, reader = recorder
    backlog = Backlog("logs", 2, drops)
    exported = InMemoryLogRecordExporter()
    provider = LoggerProvider()
    provider.add_log_record_processor(
        CountingLogProcessor(
            BatchLogRecordProcessor(
                CountingLogExporter(exported, backlog),
                max_queue_size=2,
                max_export_batch_size=2,
                schedule_delay_millis=60_000,
            ),
            backlog,
        )
    )
    exported.shutdown()  # an exporter that refuses every batch
    logger = provider.get_logger("test")
    for index in range(2):
        logger.emit(body=f"record {index}")
    provider.force_flush()
    provider.shutdown()

    assert _dropped(reader)[("logs", "export_failed")] == 2


def test_drops_are_reported_once_per_interval_not_per_item(caplog: pytest.LogCaptureFixture) -> None:
    drops = DropRecorder(report_interval_s=60)
    caplog.set_level(logging.WARNING, logger="otel._export_health")

    for _ in range(500):
        drops.dropped("traces", "queue_full", 1)
    drops.dropped("logs", "export_failed", 40)
    first = [r.getMessage() for r in caplog.records]
    drops.report_now()

    messages = [r.getMessage() for r in caplog.records]
    assert len(first) == 1
    assert first[0].startswith("telemetry dropped: 1 traces (queue_full)")
    assert len(messages) == 2
    assert "40 logs (export_failed), 499 traces (queue_full)" in messages[1]
    assert DROPPED_METRIC in messages[1]


def test_drops_before_the_meter_exists_are_counted_once_it_does() -> None:
    drops = DropRecorder()
    drops.dropped("traces", "export_failed", 5)
    reader = InMemoryMetricReader()

    drops.bind(MeterProvider(metric_readers=[reader]))
    drops.dropped("traces", "export_failed", 2)

    assert _dropped(reader) == {("traces", "export_failed"): 7}


class _StuckProcessor(SpanProcessor):
    def __init__(self) -> None:
        self.unblock = threading.Event()

    def shutdown(self) -> None:
        self.unblock.wait(30)


def test_shutdown_gives_up_after_its_timeout(caplog: pytest.LogCaptureFixture) -> None:
    stuck = _StuckProcessor()
    tracer_provider = TracerProvider(resource=Resource.create({}), shutdown_on_exit=False)
    tracer_provider.add_span_processor(stuck)
    providers = Providers(
        tracer_provider,
        MeterProvider(shutdown_on_exit=False),
        LoggerProvider(shutdown_on_exit=False),
        CollectorRegistry(),
        shutdown_timeout_s=0.3,
    )

    started = time.monotonic()
    shutdown_providers(providers)
    elapsed = time.monotonic() - started
    stuck.unblock.set()

    assert elapsed < 2
    assert "telemetry flush did not finish within 0.3 s" in caplog.text
