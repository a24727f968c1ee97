"""What one test emitted, in the order the SDK reported it.

The processors stamp every span start, span end and log record with a tick of one per-test counter.
That order is exact on every platform, unlike wall-clock timestamps (equal on coarse clocks, and
able to jump), so sibling ordering and the stable times of snapshots are taken from it.
"""

from __future__ import annotations

import threading

from opentelemetry.sdk._logs import ReadWriteLogRecord
from opentelemetry.sdk.trace import ReadableSpan, Span

from otel.alerts import Alert

SpanKey = tuple[int, int]


def span_key(span: ReadableSpan) -> SpanKey:
    context = span.get_span_context()
    return (context.trace_id, context.span_id) if context is not None else (0, 0)


class Recording:
    """Finished spans (in end order), log records (in emit order), and the tick of each instant."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._clock = 0
        self.spans: list[ReadableSpan] = []
        self.logs: list[ReadWriteLogRecord] = []
        self.log_ticks: list[int] = []
        self.starts: dict[SpanKey, int] = {}
        self.ends: dict[SpanKey, int] = {}
        self.running: dict[SpanKey, Span] = {}
        self.alerts: list[Alert] = []

    def started(self, span: Span) -> None:
        key = span_key(span)
        with self._lock:
            self._clock += 1
            self.starts[key] = self._clock
            self.running[key] = span

    def ended(self, span: ReadableSpan) -> None:
        key = span_key(span)
        with self._lock:
            self._clock += 1
            self.ends[key] = self._clock
            self.running.pop(key, None)
            self.spans.append(span)

    def emitted(self, record: ReadWriteLogRecord) -> None:
        with self._lock:
            self._clock += 1
            self.logs.append(record)
            self.log_ticks.append(self._clock)

    def raised(self, alert: Alert) -> None:
        with self._lock:
            self.alerts.append(alert)

    def start_tick(self, span: ReadableSpan) -> int | None:
        """None for a span that started before the test (or before ``clear()``)."""
        return self.starts.get(span_key(span))

    def end_tick(self, span: ReadableSpan) -> int:
        return self.ends.get(span_key(span), 0)

    def mark(self) -> tuple[int, int]:
        with self._lock:
            return len(self.spans), len(self.logs)

    def take_since(self, mark: tuple[int, int]) -> list[ReadableSpan]:
        """Remove the spans and records captured after ``mark``; the spans are returned."""
        spans, logs = mark
        with self._lock:
            taken = self.spans[spans:]
            del self.spans[spans:]
            del self.logs[logs:]
            del self.log_ticks[logs:]
            return taken

    def clear(self) -> None:
        """Forget finished spans and records; spans still running keep their start for when they end."""
        with self._lock:
            self.spans.clear()
            self.logs.clear()
            self.alerts.clear()
            self.log_ticks.clear()
            self.ends.clear()
            self.starts = {key: tick for key, tick in self.starts.items() if key in self.running}
