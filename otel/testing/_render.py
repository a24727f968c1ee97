"""Text views of spans for failure messages and snapshot tests."""

from __future__ import annotations

from collections import defaultdict

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import StatusCode


def describe_span(span: ReadableSpan, attributes: tuple[str, ...] | None = None) -> str:
    kind = span.kind.name if span.kind is not None else "?"
    text = f"{span.name} ({kind})"
    if span.status.status_code is StatusCode.ERROR:
        text += f" ERROR {span.status.description or ''}".rstrip()
    shown = dict(span.attributes or {})
    if attributes is not None:
        shown = {k: shown[k] for k in attributes if k in shown}
    if shown:
        text += " " + " ".join(f"{k}={v!r}" for k, v in sorted(shown.items()))
    events = [e.name for e in span.events]
    if events:
        text += f" events={events}"
    return text


def render_tree(spans: list[ReadableSpan], attributes: tuple[str, ...] = ()) -> str:
    """Indented parent/child tree; siblings sorted by start time, since spans are exported as they end."""
    by_id = {context.span_id for s in spans if (context := s.get_span_context()) is not None}
    children: dict[int | None, list[ReadableSpan]] = defaultdict(list)
    for span in spans:
        parent_id = span.parent.span_id if span.parent is not None else None
        children[parent_id if parent_id in by_id else None].append(span)
    lines: list[str] = []

    def walk(parent_id: int | None, depth: int) -> None:
        for span in sorted(children.get(parent_id, []), key=lambda s: s.start_time or 0):
            lines.append("    " * depth + describe_span(span, attributes))
            context = span.get_span_context()
            if context is not None:
                walk(context.span_id, depth + 1)

    walk(None, 0)
    return "\n".join(lines)
