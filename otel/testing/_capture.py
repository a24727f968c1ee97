"""``TelemetryCapture``: everything one test emitted, with queries that read like the question."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from opentelemetry.sdk._logs import ReadWriteLogRecord
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanKind, StatusCode

from otel.testing._metrics import HistogramValue, MetricsView
from otel.testing._render import describe_span, render_tree


@dataclass(frozen=True)
class CapturedLog:
    """A log record as exported, flattened for assertions."""

    body: Any
    level: str
    logger: str
    attributes: Mapping[str, Any]
    trace_id: int
    span_id: int

    @classmethod
    def from_record(cls, record: ReadWriteLogRecord) -> CapturedLog:
        log = record.log_record
        return cls(
            body=log.body,
            level=log.severity_text or "",
            logger=record.instrumentation_scope.name if record.instrumentation_scope else "",
            attributes=dict(log.attributes or {}),
            trace_id=log.trace_id or 0,
            span_id=log.span_id or 0,
        )

    def in_span(self, span: ReadableSpan) -> bool:
        """True when the record was emitted while ``span`` was current (same trace and span id)."""
        context = span.get_span_context()
        return context is not None and (self.trace_id, self.span_id) == (context.trace_id, context.span_id)

    def in_trace(self, span: ReadableSpan) -> bool:
        context = span.get_span_context()
        return context is not None and self.trace_id == context.trace_id


class TelemetryCapture:
    """Spans, log records and metric changes of one test; built by the ``capotel`` fixture."""

    def __init__(self, spans: list[ReadableSpan], logs: list[ReadWriteLogRecord], metrics: MetricsView) -> None:
        self._spans = spans
        self._logs = logs
        self._metrics = metrics

    # -- spans -------------------------------------------------------------------------------------
    @property
    def spans(self) -> list[ReadableSpan]:
        """Finished spans in the order they ended (children before parents)."""
        return list(self._spans)

    def find_spans(
        self,
        name: str | None = None,
        *,
        kind: SpanKind | None = None,
        attributes: Mapping[str, Any] | None = None,
        parent: ReadableSpan | None = None,
        status: StatusCode | None = None,
    ) -> list[ReadableSpan]:
        """Spans matching every criterion given; attributes match as a subset."""
        found = []
        for span in self._spans:
            if name is not None and span.name != name:
                continue
            if kind is not None and span.kind != kind:
                continue
            if status is not None and span.status.status_code != status:
                continue
            if parent is not None and not _is_child(span, parent):
                continue
            if attributes and any((span.attributes or {}).get(k, _MISSING) != v for k, v in attributes.items()):
                continue
            found.append(span)
        return sorted(found, key=lambda s: s.start_time or 0)

    def span(
        self,
        name: str | None = None,
        *,
        kind: SpanKind | None = None,
        attributes: Mapping[str, Any] | None = None,
        parent: ReadableSpan | None = None,
        status: StatusCode | None = None,
    ) -> ReadableSpan:
        """The one span matching; fails listing what was captured when there is none or several."""
        found = self.find_spans(name, kind=kind, attributes=attributes, parent=parent, status=status)
        if len(found) == 1:
            return found[0]
        criteria = {"name": name, "kind": kind, "attributes": attributes, "parent": parent and parent.name}
        wanted = ", ".join(f"{k}={v!r}" for k, v in criteria.items() if v is not None) or "any span"
        listing = "\n".join(f"  - {describe_span(s)}" for s in self._spans) or "  (no spans were captured)"
        raise AssertionError(f"expected exactly one span with {wanted}, found {len(found)}; captured:\n{listing}")

    def children(self, span: ReadableSpan) -> list[ReadableSpan]:
        return self.find_spans(parent=span)

    def span_tree(self, attributes: tuple[str, ...] = ()) -> str:
        """The captured spans as an indented tree, siblings by start time, fit for snapshot comparison."""
        return render_tree(self._spans, attributes)

    # -- logs --------------------------------------------------------------------------------------
    @property
    def logs(self) -> list[CapturedLog]:
        return [CapturedLog.from_record(r) for r in self._logs]

    def find_logs(
        self,
        body: str | None = None,
        *,
        level: str | None = None,
        logger: str | None = None,
        attributes: Mapping[str, Any] | None = None,
    ) -> list[CapturedLog]:
        """Records matching every criterion; ``level`` is OTel severity text (``INFO``, ``WARN``, ``ERROR``)."""
        return [
            log
            for log in self.logs
            if (body is None or log.body == body)
            and (level is None or log.level == level.upper())
            and (logger is None or log.logger == logger)
            and all(log.attributes.get(k, _MISSING) == v for k, v in (attributes or {}).items())
        ]

    def log(
        self,
        body: str | None = None,
        *,
        level: str | None = None,
        logger: str | None = None,
        attributes: Mapping[str, Any] | None = None,
    ) -> CapturedLog:
        found = self.find_logs(body, level=level, logger=logger, attributes=attributes)
        if len(found) == 1:
            return found[0]
        listing = "\n".join(f"  - {x.level} {x.logger}: {x.body!r}" for x in self.logs) or "  (no log records)"
        raise AssertionError(f"expected exactly one log record {body!r}, found {len(found)}; captured:\n{listing}")

    # -- metrics -----------------------------------------------------------------------------------
    def metric_value(self, name: str, attributes: Mapping[str, Any] | None = None) -> float:
        """Change of a counter or up-down counter during the test (a gauge's last value), summed over
        the points whose attributes include ``attributes``."""
        return self._metrics.value(name, attributes)

    def histogram(self, name: str, attributes: Mapping[str, Any] | None = None) -> HistogramValue:
        """Count, sum and bucket counts recorded during the test over the matching points."""
        return self._metrics.histogram(name, attributes)

    def metric_points(self, name: str) -> list[tuple[dict[str, Any], Any]]:
        """Every changed point of a metric as (attributes, value): the place to look when a value surprises."""
        return [(dict(attributes), value) for attributes, (_, value) in self._metrics.points(name).items()]

    def clear(self) -> None:
        """Forget what was captured so far (spans and logs; metrics restart from their current values)."""
        self._spans.clear()
        self._logs.clear()
        self._metrics.rebase()


class _Missing:
    def __repr__(self) -> str:
        return "<missing>"


_MISSING = _Missing()


def _is_child(span: ReadableSpan, parent: ReadableSpan) -> bool:
    parent_context = parent.get_span_context()
    return (
        span.parent is not None
        and parent_context is not None
        and span.parent.span_id == parent_context.span_id
        and span.parent.trace_id == parent_context.trace_id
    )
