"""Which spans a query means: the criteria behind ``find_spans``, ``span`` and ``assert_instrumented``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanKind, StatusCode


@dataclass(frozen=True)
class SpanCriteria:
    name: str | None = None
    kind: SpanKind | None = None
    attributes: Mapping[str, Any] | None = None
    parent: ReadableSpan | None = None
    status: StatusCode | None = None
    scope: str | None = None

    def __call__(self, span: ReadableSpan) -> bool:
        span_attributes = span.attributes or {}
        return (
            (self.name is None or span.name == self.name)
            and (self.kind is None or span.kind == self.kind)
            and (self.status is None or span.status.status_code == self.status)
            and (self.parent is None or _is_child(span, self.parent))
            and (self.scope is None or _scope(span) == self.scope)
            and all(k in span_attributes and span_attributes[k] == v for k, v in (self.attributes or {}).items())
        )

    def describe(self) -> str:
        shown = {
            "name": repr(self.name),
            "kind": self.kind and self.kind.name,
            "attributes": self.attributes and repr(dict(self.attributes)),
            "parent": self.parent and repr(self.parent.name),
            "status": self.status and self.status.name,
            "scope": repr(self.scope),
        }
        return ", ".join(f"{k}={v}" for k, v in shown.items() if v not in (None, "None")) or "any span"


def _scope(span: ReadableSpan) -> str | None:
    return span.instrumentation_scope.name if span.instrumentation_scope is not None else None


def _is_child(span: ReadableSpan, parent: ReadableSpan) -> bool:
    parent_context = parent.get_span_context()
    return (
        span.parent is not None
        and parent_context is not None
        and span.parent.span_id == parent_context.span_id
        and span.parent.trace_id == parent_context.trace_id
    )
