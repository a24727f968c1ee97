"""Metric values as a test sees them: what changed since the test began, read on demand.

The session's reader is cumulative and never resets, so each test keeps the snapshot taken when it
started and reports differences: a counter incremented by an earlier test does not leak into this one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from opentelemetry.sdk.metrics.export import Gauge, Histogram, InMemoryMetricReader, Sum

Attributes = frozenset[tuple[str, Any]]


@dataclass(frozen=True)
class HistogramValue:
    """Count, sum and per-bucket counts; ``buckets`` maps each upper bound (``inf`` last) to its count."""

    count: int = 0
    sum: float = 0.0
    buckets: dict[float, int] = field(default_factory=dict)

    def __add__(self, other: HistogramValue) -> HistogramValue:
        merged = dict(self.buckets)
        for bound, n in other.buckets.items():
            merged[bound] = merged.get(bound, 0) + n
        return HistogramValue(self.count + other.count, self.sum + other.sum, merged)

    def __sub__(self, other: HistogramValue) -> HistogramValue:
        return HistogramValue(
            self.count - other.count,
            self.sum - other.sum,
            {bound: n - other.buckets.get(bound, 0) for bound, n in self.buckets.items()},
        )

    @property
    def bounds(self) -> list[float]:
        return list(self.buckets)


Value = float | HistogramValue
Snapshot = dict[str, dict[Attributes, tuple[str, Value]]]


def take_snapshot(reader: InMemoryMetricReader) -> Snapshot:
    snapshot: Snapshot = {}
    data = reader.get_metrics_data()
    if data is None:
        return snapshot
    for resource_metrics in data.resource_metrics:
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                points = snapshot.setdefault(metric.name, {})
                for point in metric.data.data_points:
                    key = frozenset((point.attributes or {}).items())
                    points[key] = _point_value(metric.data, point)
    return snapshot


def _point_value(data: Any, point: Any) -> tuple[str, Value]:
    if isinstance(data, Histogram):
        bounds = [*point.explicit_bounds, float("inf")]
        return "histogram", HistogramValue(point.count, point.sum, dict(zip(bounds, point.bucket_counts, strict=True)))
    if isinstance(data, Sum):
        return ("counter" if data.is_monotonic else "updowncounter"), float(point.value)
    if isinstance(data, Gauge):
        return "gauge", float(point.value)
    raise TypeError(f"unsupported metric data {type(data).__name__}")


class MetricsView:
    """Differences between the reader's state now and at the start of the test."""

    def __init__(self, reader: InMemoryMetricReader) -> None:
        self._reader = reader
        self._baseline = take_snapshot(reader)

    def rebase(self) -> None:
        self._baseline = take_snapshot(self._reader)

    def points(self, name: str) -> dict[Attributes, tuple[str, Value]]:
        """Every data point of a metric that changed during the test, keyed by its attribute set."""
        current = take_snapshot(self._reader)
        if name not in current:
            known = sorted(current) or ["<none>"]
            raise AssertionError(f"no metric named {name!r} was recorded; recorded: {', '.join(known)}")
        baseline = self._baseline.get(name, {})
        changed: dict[Attributes, tuple[str, Value]] = {}
        for attributes, (kind, now) in current[name].items():
            before = baseline.get(attributes)
            delta = now if kind == "gauge" or before is None else now - before[1]  # type: ignore[operator]
            changed[attributes] = (kind, delta)
        return changed

    def value(self, name: str, attributes: Mapping[str, Any] | None = None) -> float:
        """A counter's or up-down counter's change (or a gauge's value), summed over matching points."""
        total = 0.0
        for kind, value in self._matching(name, attributes):
            if isinstance(value, HistogramValue):
                raise AssertionError(f"{name} is a {kind}; use histogram()")
            total += value
        return total

    def histogram(self, name: str, attributes: Mapping[str, Any] | None = None) -> HistogramValue:
        merged = HistogramValue()
        for kind, value in self._matching(name, attributes):
            if not isinstance(value, HistogramValue):
                raise AssertionError(f"{name} is a {kind}; use value()")
            merged = merged + value
        return merged

    def _matching(self, name: str, attributes: Mapping[str, Any] | None) -> list[tuple[str, Value]]:
        wanted = dict(attributes or {})
        return [
            entry
            for point_attributes, entry in self.points(name).items()
            if all(dict(point_attributes).get(k) == v for k, v in wanted.items())
        ]
