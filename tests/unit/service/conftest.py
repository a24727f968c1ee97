"""Fixtures for the service's unit tests: app metrics recorded into memory, never globally."""

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from service.observability import AppMetrics

PointsByAttributes = dict[tuple[tuple[str, Any], ...], float]


@pytest.fixture
def metric_reader() -> InMemoryMetricReader:
    return InMemoryMetricReader()


@pytest.fixture
def app_metrics(metric_reader: InMemoryMetricReader) -> Iterator[AppMetrics]:
    # A private provider: the global one is the telemetry kit's, and is set once per process.
    provider = MeterProvider(metric_readers=[metric_reader], shutdown_on_exit=False)
    yield AppMetrics(version="test", meter=provider.get_meter("test"))
    provider.shutdown()


@pytest.fixture
def metric_points(metric_reader: InMemoryMetricReader) -> Callable[[str], PointsByAttributes]:
    """``metric_points(name)``: the current value of each series of one instrument, by attributes."""

    def read(name: str) -> PointsByAttributes:
        data = metric_reader.get_metrics_data()
        points: PointsByAttributes = {}
        for resource in data.resource_metrics if data else ():
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    if metric.name == name:
                        for point in metric.data.data_points:
                            points[tuple(sorted((point.attributes or {}).items()))] = point.value  # type: ignore[union-attr]
        return points

    return read
