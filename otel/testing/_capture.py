"""``TelemetryCapture``: everything one test emitted, with queries that read like the question."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan, Span
from opentelemetry.trace import SpanKind, StatusCode

from otel.alerts import Alert
from otel.testing._instrumented import check_probe
from otel.testing._logs import CapturedLog, LogCriteria
from otel.testing._metrics import HistogramValue, MetricQueries, MetricsView
from otel.testing._recording import Recording, span_key
from otel.testing._render import TreeOptions, describe_span, render_tree
from otel.testing._snapshot import log_dicts, metric_dicts, span_dicts
from otel.testing._spans import SpanCriteria


class TelemetryCapture:
    """Spans, log records and metric changes of one test; built by the ``capotel`` fixture."""

    def __init__(self, recording: Recording, metrics: MetricsView) -> None:
        self._recording = recording
        self._metrics = metrics
        self._metric_queries = MetricQueries(metrics)

    # -- spans -------------------------------------------------------------------------------------
    @property
    def spans(self) -> list[ReadableSpan]:
        """Finished spans in the order they ended (children before parents), as the SDK exports them."""
        return list(self._recording.spans)

    @property
    def open_spans(self) -> list[Span]:
        """Spans started during the test and not ended (yet): never exported, so a likely bug."""
        return list(self._recording.running.values())

    def find_spans(
        self,
        name: str | None = None,
        *,
        kind: SpanKind | None = None,
        attributes: Mapping[str, Any] | None = None,
        parent: ReadableSpan | None = None,
        status: StatusCode | None = None,
        scope: str | None = None,
    ) -> list[ReadableSpan]:
        """Finished spans matching every criterion given, in the order they started.

        ``attributes`` match as a subset; ``scope`` is the instrumentation scope (the tracer's name).
        """
        criteria = SpanCriteria(name, kind, attributes, parent, status, scope)
        return self._by_start([span for span in self._recording.spans if criteria(span)])

    def span(
        self,
        name: str | None = None,
        *,
        kind: SpanKind | None = None,
        attributes: Mapping[str, Any] | None = None,
        parent: ReadableSpan | None = None,
        status: StatusCode | None = None,
        scope: str | None = None,
    ) -> ReadableSpan:
        """The one span matching; fails listing what was captured when there is none or several."""
        criteria = SpanCriteria(name, kind, attributes, parent, status, scope)
        found = self._by_start([span for span in self._recording.spans if criteria(span)])
        if len(found) == 1:
            return found[0]
        raise AssertionError(
            f"expected exactly one span with {criteria.describe()}, found {len(found)}; {self._span_listing()}"
        )

    def children(self, span: ReadableSpan) -> list[ReadableSpan]:
        """The direct children of ``span``, in the order they started."""
        return self.find_spans(parent=span)

    def span_tree(
        self, attributes: tuple[str, ...] = (), *, ids: bool = False, times: bool = False, logs: bool = False
    ) -> str:
        """The captured spans as an indented tree, siblings in the order they started, fit for a snapshot.

        ``attributes`` names the attributes to show; ``ids`` adds stable trace and span numbers;
        ``times`` adds stable times (``t=start..end``, every instant of the test numbered in order);
        ``logs`` places each log record under the span that was current when it was emitted.
        """
        return render_tree(self._recording, TreeOptions(attributes, ids=ids, times=times, logs=logs))

    def spans_as_dicts(
        self, *, resource: bool = False, scope: bool = False, mask: Iterable[str] = ()
    ) -> list[dict[str, Any]]:
        """Every finished span as a plain dict in start order, with stable ids and times, for one ``==``.

        Ids are numbered from 1 in start order and times are the ordinal of each instant, so the
        result does not change between runs. Attributes named in ``mask`` (and the few that can
        never be stable, such as ``request_id``) read ``"<masked>"``; a stack trace keeps its last line.
        """
        return span_dicts(self._recording, resource=resource, scope=scope, mask=mask)

    # -- logs --------------------------------------------------------------------------------------
    @property
    def logs(self) -> list[CapturedLog]:
        """Every log record, in the order it was emitted."""
        return [CapturedLog.from_record(r) for r in list(self._recording.logs)]

    def find_logs(
        self,
        body: Any = None,
        *,
        level: str | None = None,
        logger: str | None = None,
        attributes: Mapping[str, Any] | None = None,
        in_span: ReadableSpan | None = None,
        in_trace: ReadableSpan | None = None,
    ) -> list[CapturedLog]:
        """Records matching every criterion; ``level`` is OTel severity text (``INFO``, ``WARN``, ``ERROR``;
        ``WARNING`` and ``CRITICAL`` are accepted too); ``in_span``/``in_trace`` check trace correlation."""
        criteria = LogCriteria(body, level, logger, attributes, in_span, in_trace)
        return [log for log in self.logs if criteria(log)]

    def log(
        self,
        body: Any = None,
        *,
        level: str | None = None,
        logger: str | None = None,
        attributes: Mapping[str, Any] | None = None,
        in_span: ReadableSpan | None = None,
        in_trace: ReadableSpan | None = None,
    ) -> CapturedLog:
        """The one record matching; fails listing every record, with the span each was emitted in."""
        criteria = LogCriteria(body, level, logger, attributes, in_span, in_trace)
        logs = self.logs
        found = [log for log in logs if criteria(log)]
        if len(found) == 1:
            return found[0]
        names = {span_key(s): s.name for s in self._recording.spans}
        listing = "\n".join(f"  - {log.describe(names)}" for log in logs) or "  (no log records were captured)"
        raise AssertionError(
            f"expected exactly one log record with {criteria.describe()}, found {len(found)}; captured:\n{listing}"
        )

    def logs_as_dicts(self, *, resource: bool = False, mask: Iterable[str] = ()) -> list[dict[str, Any]]:
        """Every record as a plain dict in emit order; ids and times numbered as in ``spans_as_dicts``."""
        return log_dicts(self._recording, resource=resource, mask=mask)

    # -- metrics -----------------------------------------------------------------------------------
    def metric_value(self, name: str, attributes: Mapping[str, Any] | None = None) -> float:
        """Change of a counter or up-down counter during the test (a gauge's last value), summed over
        the points whose attributes include ``attributes``; fails listing the points when none match."""
        return self._metric_queries.value(name, attributes)

    def histogram(self, name: str, attributes: Mapping[str, Any] | None = None) -> HistogramValue:
        """Count, sum, min, max and bucket counts recorded during the test over the matching points."""
        return self._metric_queries.histogram(name, attributes)

    def metric_points(self, name: str, attributes: Mapping[str, Any] | None = None) -> list[tuple[dict[str, Any], Any]]:
        """Every point of a metric recorded during the test as (attributes, value); ``[]`` when none.

        The lenient lookup: use it to assert that nothing was recorded, or to see what was.
        """
        return self._metric_queries.points(name, attributes)

    def metrics_as_dicts(self, names: Iterable[str] | None = None) -> list[dict[str, Any]]:
        """Every metric recorded during the test (or those named) as plain dicts, sorted by name."""
        return metric_dicts(self._metrics.recorded(), names)

    # -- alerts ------------------------------------------------------------------------------------
    @property
    def alerts(self) -> list[Alert]:
        """Alerts raised during the test, in order, before any deduplication (that is the sinks' job)."""
        return list(self._recording.alerts)

    def find_alerts(
        self,
        *,
        severity: str | None = None,
        source: str | None = None,
        route: str | None = None,
        title: str | None = None,
    ) -> list[Alert]:
        return [
            alert
            for alert in self._recording.alerts
            if (severity is None or alert.severity == severity)
            and (source is None or alert.source == source)
            and (route is None or alert.route == route)
            and (title is None or alert.title == title)
        ]

    def alert(
        self,
        *,
        severity: str | None = None,
        source: str | None = None,
        route: str | None = None,
        title: str | None = None,
    ) -> Alert:
        """The one alert matching; fails listing every alert raised when there is none or several."""
        found = self.find_alerts(severity=severity, source=source, route=route, title=title)
        if len(found) == 1:
            return found[0]
        listing = "\n".join(f"  - [{a.severity}] {a.source}: {a.title}" for a in self._recording.alerts)
        raise AssertionError(
            f"expected exactly one alert, found {len(found)}; raised:\n{listing or '  (no alerts were raised)'}"
        )

    # -- instrumentation ---------------------------------------------------------------------------
    def assert_instrumented(
        self,
        probe: Callable[[], object],
        *,
        scope: str | None = None,
        name: str | None = None,
        kind: SpanKind | None = None,
        metric: str | None = None,
    ) -> list[ReadableSpan]:
        """Run ``probe`` and fail unless it emitted a matching span (or a point of ``metric``).

        An instrumentor can silently do nothing (an unsupported library version only logs a
        warning); call this where the instrumentation is set up. What the probe emitted is set aside,
        so it never mixes with what the test asserts; the matching spans are returned.
        """
        return check_probe(self._recording, self._metrics, probe, SpanCriteria(name, kind, scope=scope), metric)

    def assert_not_instrumented(
        self,
        probe: Callable[[], object],
        *,
        scope: str | None = None,
        name: str | None = None,
        kind: SpanKind | None = None,
        metric: str | None = None,
    ) -> None:
        """Run ``probe`` and fail if it emitted a matching span (or a point of ``metric``): after an
        uninstrument call, proves nothing leaks into later tests. The probe's telemetry is set aside."""
        check_probe(
            self._recording, self._metrics, probe, SpanCriteria(name, kind, scope=scope), metric, expected=False
        )

    def clear(self) -> None:
        """Forget what was captured so far (spans, logs and metrics)."""
        self._recording.clear()
        self._metrics.rebase()

    # -- helpers -----------------------------------------------------------------------------------
    def _by_start(self, spans: list[ReadableSpan]) -> list[ReadableSpan]:
        def key(span: ReadableSpan) -> tuple[int, int]:
            tick = self._recording.start_tick(span)
            return (0, span.start_time or 0) if tick is None else (1, tick)

        return sorted(spans, key=key)

    def _span_listing(self) -> str:
        text = "captured (siblings in start order):\n"
        tree = render_tree(self._recording, TreeOptions(attributes=None, bullet="- "))
        text += "\n".join(f"  {line}" for line in tree.splitlines()) if tree else "  (no spans were captured)"
        running = self.open_spans
        if running:
            text += "\nstill open (started, never ended, so never exported):\n"
            text += "\n".join(f"  - {describe_span(span)}" for span in running)
        return text
