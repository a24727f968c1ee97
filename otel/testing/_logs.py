"""Log records as a test sees them, and the matching behind ``capotel.find_logs`` and ``capotel.log``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from opentelemetry.sdk._logs import ReadWriteLogRecord
from opentelemetry.sdk.trace import ReadableSpan

# stdlib level names as the OTel severity text the bridge writes, so either spelling finds a record
_LEVELS: Final = {"WARNING": "WARN", "CRITICAL": "FATAL"}


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
        """True when the record carries the trace id of ``span`` (emitted anywhere in its trace)."""
        context = span.get_span_context()
        return context is not None and self.trace_id == context.trace_id

    def describe(self, spans: Mapping[tuple[int, int], str] | None = None) -> str:
        text = f"{self.level or '?'} {self.logger}: {self.body!r}"
        if self.attributes:
            text += " " + " ".join(f"{k}={v!r}" for k, v in sorted(self.attributes.items()))
        if not self.trace_id:
            return text + " (no trace context)"
        name = (spans or {}).get((self.trace_id, self.span_id))
        return text + (f" (in span {name!r})" if name else f" (trace {self.trace_id:x}, span {self.span_id:x})")


@dataclass(frozen=True)
class LogCriteria:
    body: Any = None
    level: str | None = None
    logger: str | None = None
    attributes: Mapping[str, Any] | None = None
    in_span: ReadableSpan | None = None
    in_trace: ReadableSpan | None = None

    def __call__(self, log: CapturedLog) -> bool:
        level = self.level.upper() if self.level is not None else None
        return (
            (self.body is None or log.body == self.body)
            and (level is None or log.level == _LEVELS.get(level, level))
            and (self.logger is None or log.logger == self.logger)
            and all(k in log.attributes and log.attributes[k] == v for k, v in (self.attributes or {}).items())
            and (self.in_span is None or log.in_span(self.in_span))
            and (self.in_trace is None or log.in_trace(self.in_trace))
        )

    def describe(self) -> str:
        shown = {
            "body": self.body,
            "level": self.level,
            "logger": self.logger,
            "attributes": self.attributes,
            "in_span": self.in_span and self.in_span.name,
            "in_trace": self.in_trace and self.in_trace.name,
        }
        return ", ".join(f"{k}={v!r}" for k, v in shown.items() if v is not None) or "any record"
