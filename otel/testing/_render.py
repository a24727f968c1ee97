"""Text views of a capture for failure messages and snapshot tests."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from opentelemetry.sdk._logs import ReadWriteLogRecord
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import StatusCode

from otel.testing._recording import Recording, span_key
from otel.testing._stable import Numbering, Timeline


def describe_span(
    span: ReadableSpan, attributes: tuple[str, ...] | None = None, event_times: list[int] | None = None
) -> str:
    """``name (KIND)``, an ERROR status, the attributes asked for (all when None) and the event names."""
    kind = span.kind.name if span.kind is not None else "?"
    text = f"{span.name} ({kind})"
    if span.status.status_code is StatusCode.ERROR:
        text += f" ERROR {span.status.description or ''}".rstrip()
    shown = dict(span.attributes or {})
    if attributes is not None:
        shown = {k: shown[k] for k in attributes if k in shown}
    if shown:
        text += " " + " ".join(f"{k}={v!r}" for k, v in sorted(shown.items()))
    if span.events:
        if event_times is None:
            text += f" events={[e.name for e in span.events]}"
        else:
            timed = (f"{e.name!r}@{t}" for e, t in zip(span.events, event_times, strict=True))
            text += " events=[" + ", ".join(timed) + "]"
    return text


def describe_log(record: ReadWriteLogRecord, *, attributes: bool = False) -> str:
    log = record.log_record
    scope = record.instrumentation_scope.name if record.instrumentation_scope else ""
    text = f"log {log.severity_text or '?'} {scope}: {log.body!r}"
    if attributes and log.attributes:
        text += " " + " ".join(f"{k}={v!r}" for k, v in sorted(dict(log.attributes).items()))
    return text


@dataclass(frozen=True)
class TreeOptions:
    attributes: tuple[str, ...] | None = ()
    ids: bool = False
    times: bool = False
    logs: bool = False
    bullet: str = ""


def render_tree(recording: Recording, options: TreeOptions) -> str:
    """Indented parent/child tree; siblings (and, with ``logs``, records) in the order they started."""
    timeline = Timeline(recording)
    spans = timeline.by_start()
    numbering = Numbering(spans)
    captured = {span_key(s) for s in spans}
    children: dict[tuple[int, int] | None, list[tuple[int, ReadableSpan | int]]] = defaultdict(list)
    for span in spans:
        parent = (span.parent.trace_id, span.parent.span_id) if span.parent is not None else None
        children[parent if parent in captured else None].append((timeline.start(span), span))
    if options.logs:
        for index, record in enumerate(timeline.logs):
            log = record.log_record
            owner = (log.trace_id or 0, log.span_id or 0)
            children[owner if owner in captured else None].append((timeline.log(index), index))
    lines: list[str] = []

    def walk(parent: tuple[int, int] | None, depth: int) -> None:
        indent = "    " * depth + options.bullet
        for at, span in sorted(children.get(parent, []), key=lambda item: item[0]):
            if isinstance(span, int):  # a log record, by its index
                head = _prefix(f"t={at}" if options.times else "")
                lines.append(f"{indent}{head}{describe_log(timeline.logs[span])}")
                continue
            parts = []
            if options.ids:
                if parent is None:
                    parts.append(f"trace={numbering.trace(span_key(span)[0])}")
                parts.append(f"span={numbering.span(span_key(span)[1])}")
                if parent is None and span.parent is not None:
                    parts.append(f"parent={numbering.span(span.parent.span_id)}")
            event_times = None
            if options.times:
                parts.append(f"t={at}..{timeline.end(span)}")
                event_times = [timeline.event(span, n) for n in range(len(span.events))]
            head = _prefix(" ".join(parts))
            lines.append(f"{indent}{head}{describe_span(span, options.attributes, event_times)}")
            walk(span_key(span), depth + 1)

    walk(None, 0)
    return "\n".join(lines)


def _prefix(text: str) -> str:
    return f"[{text}] " if text else ""
