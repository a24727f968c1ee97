"""``/metrics`` and the OTLP push read one aggregation, and neither disturbs the other."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.sdk.metrics import Counter, Histogram, MeterProvider
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    MetricExporter,
    MetricExportResult,
    MetricsData,
    PeriodicExportingMetricReader,
)
from opentelemetry.sdk.metrics.view import ExponentialBucketHistogramAggregation
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from otel._config import TelemetrySettings
from otel._metric_reader import PullMetricReader, SharedMetricReader, shareable
from otel._providers import otlp_pipeline


class RecordingExporter(MetricExporter):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.batches: list[MetricsData] = []
        self.shut_down = False
        self.pushed = threading.Event()

    def export(self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any) -> MetricExportResult:
        self.batches.append(metrics_data)
        self.pushed.set()
        return MetricExportResult.SUCCESS

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        return True

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        self.shut_down = True

    def sums(self, name: str) -> list[int]:
        """The cumulative value of counter ``name`` in each exported batch."""
        found = []
        for batch in self.batches:
            for resource in batch.resource_metrics:
                for scope in resource.scope_metrics:
                    for metric in scope.metrics:
                        if metric.name == name:
                            found += [point.value for point in metric.data.data_points]  # type: ignore[union-attr]
        return found


@pytest.fixture
def shared() -> Iterator[tuple[SharedMetricReader, RecordingExporter, CollectorRegistry, MeterProvider]]:
    exporter = RecordingExporter()
    registry = CollectorRegistry()
    reader = SharedMetricReader(exporter, registry=registry, interval_s=3600, timeout_s=5)
    provider = MeterProvider(metric_readers=[reader], shutdown_on_exit=False)
    yield reader, exporter, registry, provider
    provider.shutdown()


def _scraped(registry: CollectorRegistry, family: str) -> list[float]:
    text = generate_latest(registry).decode()
    return [
        sample.value
        for parsed in text_string_to_metric_families(text)
        if parsed.name == family
        for sample in parsed.samples
    ]


def test_a_scrape_and_a_push_see_the_same_cumulative_counts(
    shared: tuple[SharedMetricReader, RecordingExporter, CollectorRegistry, MeterProvider],
) -> None:
    reader, exporter, registry, provider = shared
    requests = provider.get_meter("test").create_counter("requests")
    requests.add(3, {"route": "/a"})
    assert _scraped(registry, "requests") == [3.0]
    assert reader.push()
    assert exporter.sums("requests") == [3]
    requests.add(2, {"route": "/a"})
    # A push between scrapes leaves nothing behind for the next scrape: one sample, the current total.
    assert reader.push()
    assert _scraped(registry, "requests") == [5.0]
    assert _scraped(registry, "requests") == [5.0]
    assert exporter.sums("requests") == [3, 5]


def test_the_push_runs_every_interval_and_a_last_time_at_shutdown() -> None:
    exporter = RecordingExporter()
    reader = SharedMetricReader(exporter, registry=CollectorRegistry(), interval_s=0.05, timeout_s=5)
    provider = MeterProvider(metric_readers=[reader], shutdown_on_exit=False)
    provider.get_meter("test").create_counter("ticks").add(1)
    assert exporter.pushed.wait(5), "no periodic push"
    provider.get_meter("test").create_counter("late").add(7)
    provider.shutdown()
    assert exporter.shut_down
    assert exporter.sums("late")[-1] == 7
    pushes = len(exporter.batches)
    time.sleep(0.2)
    assert len(exporter.batches) == pushes, "pushed after shutdown"


def test_force_flush_pushes(
    shared: tuple[SharedMetricReader, RecordingExporter, CollectorRegistry, MeterProvider],
) -> None:
    _, exporter, _, provider = shared
    provider.get_meter("test").create_counter("flushed").add(4)
    assert provider.force_flush()
    assert exporter.sums("flushed") == [4]


def test_flushes_between_scrapes_leave_each_series_once_in_the_next_one() -> None:
    """The SDK's Prometheus reader queued a full copy of every series per flush until the next scrape."""
    registry = CollectorRegistry()
    provider = MeterProvider(metric_readers=[PullMetricReader(registry=registry)], shutdown_on_exit=False)
    try:
        requests = provider.get_meter("test").create_counter("requests")
        requests.add(3, {"route": "/a"})
        for _ in range(5):  # each app of a test session flushes the shared provider when it stops
            assert provider.force_flush()
        requests.add(2, {"route": "/a"})

        assert _scraped(registry, "requests") == [5.0]
        assert _scraped(registry, "requests") == [5.0]
    finally:
        provider.shutdown()


def test_only_a_cumulative_explicit_bucket_exporter_is_shared() -> None:
    assert shareable(RecordingExporter())
    assert shareable(OTLPMetricExporter())
    assert not shareable(RecordingExporter(preferred_temporality={Counter: AggregationTemporality.DELTA})), (
        "delta counters need their own reader"
    )
    assert not shareable(RecordingExporter(preferred_aggregation={Histogram: ExponentialBucketHistogramAggregation()}))


def test_the_default_pipeline_aggregates_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE", raising=False)
    pipeline = otlp_pipeline(TelemetrySettings(_env_file=None))  # type: ignore[call-arg]
    try:
        assert [type(reader) for reader in pipeline.metric_readers] == [SharedMetricReader]
        assert pipeline.prometheus_registry is not None
    finally:
        for reader in pipeline.metric_readers:
            reader.shutdown()


def test_a_delta_preference_keeps_two_readers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE", "delta")
    pipeline = otlp_pipeline(TelemetrySettings(_env_file=None))  # type: ignore[call-arg]
    try:
        kinds = [type(reader).__name__ for reader in pipeline.metric_readers]
        assert kinds == ["PeriodicExportingMetricReader", "PullMetricReader"]
        assert isinstance(pipeline.metric_readers[0], PeriodicExportingMetricReader)
    finally:
        for reader in pipeline.metric_readers:
            reader.shutdown()
