"""The whole capture as plain dicts with stable ids and times, for one ``==`` against a snapshot."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Final

from opentelemetry.sdk.trace import ReadableSpan

from otel.testing._metrics import HistogramValue, MetricSeries, Value
from otel.testing._recording import Recording
from otel.testing._stable import Numbering, Timeline

MASKED: Final = "<masked>"
VOLATILE_ATTRIBUTES: Final = frozenset(
    {
        "request_id",  # the kit's request id: a fresh UUID per request unless the client sent one
        "latency_ms",  # the kit's request log: wall-clock duration
        "service.instance.id",  # the resource: a fresh UUID per process
    }
)


class _Attributes:
    """Copies attribute maps with volatile values masked and sequences as lists."""

    def __init__(self, mask: Iterable[str]) -> None:
        self._mask = VOLATILE_ATTRIBUTES | frozenset(mask)

    def __call__(self, attributes: Mapping[str, Any] | None) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in sorted((attributes or {}).items()):
            if key in self._mask:
                out[key] = MASKED
            elif key == "exception.stacktrace" and isinstance(value, str):
                # Paths and line numbers change with every edit; the last line names the exception.
                out[key] = next((line.strip() for line in reversed(value.splitlines()) if line.strip()), "")
            else:
                out[key] = list(value) if isinstance(value, tuple) else value
        return out


def span_dicts(
    recording: Recording, *, resource: bool = False, scope: bool = False, mask: Iterable[str] = ()
) -> list[dict[str, Any]]:
    timeline = Timeline(recording)
    spans = timeline.by_start()
    numbering = Numbering(spans)
    attributes = _Attributes(mask)

    def build(span: ReadableSpan) -> dict[str, Any]:
        context = span.get_span_context()
        entry: dict[str, Any] = {
            "name": span.name,
            "kind": span.kind.name,
            "trace_id": numbering.trace(context.trace_id if context else None),
            "span_id": numbering.span(context.span_id if context else None),
            "parent_id": numbering.span(span.parent.span_id) if span.parent is not None else None,
            "start": timeline.start(span),
            "end": timeline.end(span),
            "status": span.status.status_code.name,
        }
        if span.status.description:
            entry["status_description"] = span.status.description
        entry["attributes"] = attributes(span.attributes)
        if span.events:
            entry["events"] = [
                {"name": event.name, "time": timeline.event(span, n), "attributes": attributes(event.attributes)}
                for n, event in enumerate(span.events)
            ]
        if span.links:
            entry["links"] = [
                {
                    "trace_id": numbering.trace(link.context.trace_id),
                    "span_id": numbering.span(link.context.span_id),
                    "attributes": attributes(link.attributes),
                }
                for link in span.links
            ]
        if scope:
            entry["scope"] = span.instrumentation_scope.name if span.instrumentation_scope else None
        if resource:
            entry["resource"] = attributes(span.resource.attributes)
        return entry

    return [build(span) for span in spans]


def log_dicts(recording: Recording, *, resource: bool = False, mask: Iterable[str] = ()) -> list[dict[str, Any]]:
    timeline = Timeline(recording)
    numbering = Numbering(timeline.by_start())
    attributes = _Attributes(mask)
    out = []
    for index, record in enumerate(timeline.logs):
        log = record.log_record
        entry: dict[str, Any] = {
            "time": timeline.log(index),
            "level": log.severity_text,
            "logger": record.instrumentation_scope.name if record.instrumentation_scope else None,
            "body": log.body,
            "attributes": attributes(log.attributes),
            "trace_id": numbering.trace(log.trace_id),
            "span_id": numbering.span(log.span_id),
        }
        if resource:
            entry["resource"] = attributes(record.resource.attributes if record.resource else None)
        out.append(entry)
    return out


def metric_dicts(recorded: Mapping[str, MetricSeries], names: Iterable[str] | None = None) -> list[dict[str, Any]]:
    wanted = None if names is None else set(names)
    return [
        {
            "name": series.name,
            "kind": series.kind,
            "unit": series.unit,
            "points": [
                {"attributes": dict(sorted(key)), **_value(value)}
                for key, value in sorted(series.points.items(), key=lambda item: sorted(map(repr, item[0])))
            ],
        }
        for name, series in recorded.items()
        if wanted is None or name in wanted
    ]


def _value(value: Value) -> dict[str, Any]:
    if isinstance(value, HistogramValue):
        return {"count": value.count, "sum": value.sum, "min": value.min, "max": value.max, "buckets": value.buckets}
    return {"value": value}
