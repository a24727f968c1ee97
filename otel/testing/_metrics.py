"""Metric values as a test sees them: what was measured during the test, read on demand.

The session's reader asks for delta temporality, so each collection returns only the series that
received a measurement since the previous one. The test start drains what came before; every query
drains again and adds to the test's running totals. A series is therefore "recorded in this test"
exactly when the code measured it during the test (an up-down counter moved +1 then -1 included),
whatever earlier tests did and in whatever order they ran.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Final

from opentelemetry.sdk.metrics import (
    Counter,
    Histogram,
    ObservableCounter,
    ObservableGauge,
    ObservableUpDownCounter,
    UpDownCounter,
    _Gauge,  # the SDK's synchronous gauge, exported under this name while the API's is experimental
)
from opentelemetry.sdk.metrics.export import AggregationTemporality, Gauge, InMemoryMetricReader, Sum
from opentelemetry.sdk.metrics.export import Histogram as HistogramData

Attributes = frozenset[tuple[str, Any]]

_INSTRUMENTS: Final = (
    Counter,
    UpDownCounter,
    Histogram,
    _Gauge,
    ObservableCounter,
    ObservableUpDownCounter,
    ObservableGauge,
)
DELTA: Final[dict[type, AggregationTemporality]] = dict.fromkeys(_INSTRUMENTS, AggregationTemporality.DELTA)


def delta_reader() -> InMemoryMetricReader:
    return InMemoryMetricReader(preferred_temporality=DELTA)


@dataclass(frozen=True)
class HistogramValue:
    """Count, sum, min, max and per-bucket counts; ``buckets`` maps each upper bound (``inf`` last) to its count."""

    count: int = 0
    sum: float = 0.0
    buckets: dict[float, int] = field(default_factory=dict)
    min: float | None = None
    max: float | None = None

    def __add__(self, other: HistogramValue) -> HistogramValue:
        merged = dict(self.buckets)
        for bound, n in other.buckets.items():
            merged[bound] = merged.get(bound, 0) + n
        return HistogramValue(
            self.count + other.count,
            self.sum + other.sum,
            merged,
            _pick(min, self.min, other.min),
            _pick(max, self.max, other.max),
        )

    def __sub__(self, other: HistogramValue) -> HistogramValue:
        """The difference of two cumulative readings; min and max cannot be derived from those."""
        return HistogramValue(
            self.count - other.count,
            self.sum - other.sum,
            {bound: n - other.buckets.get(bound, 0) for bound, n in self.buckets.items()},
        )

    @property
    def bounds(self) -> list[float]:
        return list(self.buckets)


def _pick(choose: Any, a: float | None, b: float | None) -> float | None:
    if a is None or b is None:
        return b if a is None else a
    return float(choose(a, b))


Value = float | HistogramValue


@dataclass
class MetricSeries:
    """One instrument's series recorded during the test, keyed by attribute set."""

    name: str
    kind: str
    unit: str
    points: dict[Attributes, Value] = field(default_factory=dict)

    def add(self, attributes: Attributes, value: Value) -> None:
        before = self.points.get(attributes)
        if before is None or self.kind == "gauge":
            self.points[attributes] = value
        else:
            self.points[attributes] = before + value  # type: ignore[operator]


class MetricsView:
    """The test's running totals, fed from the delta reader on each query."""

    def __init__(self, reader: InMemoryMetricReader) -> None:
        self._reader = reader
        self._lock = threading.Lock()
        self._series: dict[str, MetricSeries] = {}
        self.rebase()

    def rebase(self) -> None:
        """Start from nothing: what was measured until now is read and dropped."""
        with self._lock:
            self._reader.get_metrics_data()
            self._series = {}

    @contextmanager
    def set_aside(self) -> Iterator[dict[str, MetricSeries]]:
        """Measurements made inside the block go to the dict yielded, not to the test's totals."""
        with self._lock:
            self._drain()
            kept, self._series = self._series, {}
        inside: dict[str, MetricSeries] = {}
        try:
            yield inside
        finally:
            with self._lock:
                self._drain()
                inside.update(self._series)
                self._series = kept

    def recorded(self) -> dict[str, MetricSeries]:
        """Every metric measured during the test, by name, read now."""
        with self._lock:
            self._drain()
            return {name: self._series[name] for name in sorted(self._series)}

    def _drain(self) -> None:
        data = self._reader.get_metrics_data()
        if data is None:
            return
        for resource_metrics in data.resource_metrics:
            for scope_metrics in resource_metrics.scope_metrics:
                for metric in scope_metrics.metrics:
                    for point in metric.data.data_points:
                        kind, value = _point_value(metric.data, point)
                        series = self._series.get(metric.name)
                        if series is None:
                            series = self._series[metric.name] = MetricSeries(metric.name, kind, metric.unit or "")
                        series.add(frozenset((point.attributes or {}).items()), value)


def _point_value(data: Any, point: Any) -> tuple[str, Value]:
    if isinstance(data, HistogramData):
        bounds = [*point.explicit_bounds, math.inf]
        buckets = dict(zip(bounds, point.bucket_counts, strict=True))
        low = point.min if point.count and math.isfinite(point.min) else None
        high = point.max if point.count and math.isfinite(point.max) else None
        return "histogram", HistogramValue(point.count, point.sum, buckets, low, high)
    if isinstance(data, Sum):
        return ("counter" if data.is_monotonic else "updowncounter"), float(point.value)
    if isinstance(data, Gauge):
        return "gauge", float(point.value)
    raise TypeError(f"unsupported metric data {type(data).__name__}")


def matches(attributes: Attributes, wanted: Mapping[str, Any]) -> bool:
    present = dict(attributes)
    return all(k in present and present[k] == v for k, v in wanted.items())


def format_attributes(attributes: Attributes | Mapping[str, Any]) -> str:
    items = sorted(dict(attributes).items())
    return "{" + ", ".join(f"{k!r}: {v!r}" for k, v in items) + "}"


def format_value(value: Value) -> str:
    if isinstance(value, HistogramValue):
        low = "-" if value.min is None else f"{value.min:g}"
        high = "-" if value.max is None else f"{value.max:g}"
        return f"count={value.count} sum={value.sum:g} min={low} max={high}"
    return f"{value:g}"


class MetricQueries:
    """The lookups behind ``capotel.metric_value`` and friends, failing with what was recorded."""

    def __init__(self, view: MetricsView) -> None:
        self._view = view

    def points(self, name: str, attributes: Mapping[str, Any] | None = None) -> list[tuple[dict[str, Any], Value]]:
        series = self._view.recorded().get(name)
        if series is None:
            return []
        wanted = attributes or {}
        return [
            (dict(sorted(key)), value)
            for key, value in sorted(series.points.items(), key=_order)
            if matches(key, wanted)
        ]

    def value(self, name: str, attributes: Mapping[str, Any] | None = None) -> float:
        series, values = self._matching(name, attributes)
        if series.kind == "histogram":
            raise AssertionError(f"{name!r} is a histogram; use histogram()\n{_listing(series)}")
        return float(sum(values))  # type: ignore[arg-type]

    def histogram(self, name: str, attributes: Mapping[str, Any] | None = None) -> HistogramValue:
        series, values = self._matching(name, attributes)
        if series.kind != "histogram":
            raise AssertionError(f"{name!r} is a {series.kind}; use metric_value()\n{_listing(series)}")
        merged = HistogramValue()
        for value in values:
            merged = merged + value  # type: ignore[operator]
        return merged

    def _matching(self, name: str, attributes: Mapping[str, Any] | None) -> tuple[MetricSeries, list[Value]]:
        recorded = self._view.recorded()
        series = recorded.get(name)
        if series is None:
            raise AssertionError(
                f"no metric named {name!r} was recorded in this test; recorded: {describe_names(recorded)}\n"
                f"(to assert that nothing was recorded, use `capotel.metric_points({name!r}) == []`)"
            )
        wanted = attributes or {}
        values = [value for key, value in series.points.items() if matches(key, wanted)]
        if not values:
            raise AssertionError(
                f"no point of {name!r} has attributes {format_attributes(wanted)}\n{_listing(series)}\n"
                f"(to assert that nothing was recorded, use `capotel.metric_points({name!r}, {{...}}) == []`)"
            )
        return series, values


def describe_names(recorded: Mapping[str, MetricSeries]) -> str:
    """The names recorded; those that only report a change of zero (observable instruments are read at
    every collection, whether anything moved or not) come last, apart."""
    moved = [name for name, series in recorded.items() if any(_nonzero(v) for v in series.points.values())]
    still = [name for name in recorded if name not in moved]
    text = ", ".join(moved) or "(none)"
    return f"{text}; unchanged: {', '.join(still)}" if still else text


def _nonzero(value: Value) -> bool:
    return value.count != 0 if isinstance(value, HistogramValue) else value != 0


def _order(item: tuple[Attributes, Value]) -> list[str]:
    return sorted(map(repr, item[0]))


def _listing(series: MetricSeries) -> str:
    lines = [f"points of {series.name!r} ({series.kind}) recorded in this test:"]
    for key, value in sorted(series.points.items(), key=_order):
        lines.append(f"  - {format_attributes(key)}: {format_value(value)}")
    return "\n".join(lines)
