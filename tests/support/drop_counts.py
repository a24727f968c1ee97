"""``mindhit.telemetry.dropped`` as a test reads it: a recorder bound to its own in-memory meter."""

from __future__ import annotations

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from otel._export_health import DROPPED_METRIC, DropRecorder


class Drops:
    """A ``DropRecorder`` and what it has counted; ``bound=False`` leaves the meter for later, as
    ``configure()`` does (the processors are built before the meter provider)."""

    def __init__(self, *, bound: bool = True) -> None:
        self.reader = InMemoryMetricReader()
        self.recorder = DropRecorder()
        if bound:
            self.bind()

    def bind(self) -> None:
        self.recorder.bind(MeterProvider(metric_readers=[self.reader]))

    def counts(self) -> dict[tuple[str, str], int]:
        """The counter's values by (signal, reason)."""
        data = self.reader.get_metrics_data()
        found: dict[tuple[str, str], int] = {}
        for resource_metrics in data.resource_metrics if data else []:
            for scope in resource_metrics.scope_metrics:
                for metric in scope.metrics:
                    if metric.name != DROPPED_METRIC:
                        continue
                    for point in metric.data.data_points:
                        attributes = point.attributes or {}
                        key = str(attributes["otel.signal"]), str(attributes["error.type"])
                        found[key] = int(point.value)  # type: ignore[attr-defined]  # a Sum's point
        return found
