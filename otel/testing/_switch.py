"""Processors and an id generator whose target changes per test, installed once per session.

The global providers can be set once per process; what a test captures is therefore decided not by
swapping providers but by pointing these switches at the current test's buffers.
"""

from __future__ import annotations

import random
import threading

from opentelemetry.context import Context
from opentelemetry.sdk._logs import LogRecordProcessor, ReadWriteLogRecord
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor
from opentelemetry.sdk.trace.id_generator import IdGenerator

from otel.testing._recording import Recording


class SwitchSpanProcessor(SpanProcessor):
    """Records each span's start and end in the current test's recording; does nothing between tests."""

    def __init__(self) -> None:
        self.target: Recording | None = None

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        target = self.target
        if target is not None:
            target.started(span)

    def on_end(self, span: ReadableSpan) -> None:
        target = self.target
        if target is not None:
            target.ended(span)


class SwitchLogProcessor(LogRecordProcessor):
    def __init__(self) -> None:
        self.target: Recording | None = None

    def on_emit(self, log_record: ReadWriteLogRecord) -> None:
        target = self.target
        if target is not None:
            target.emitted(log_record)

    def shutdown(self) -> None:
        self.target = None

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return True


class SwitchIdGenerator(IdGenerator):
    """Counts 1, 2, 3… within a test so ids in assertions and snapshots are stable; random otherwise."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._incremental = False
        self._trace_id = 0
        self._span_id = 0

    def reset(self, *, incremental: bool) -> None:
        with self._lock:
            self._incremental = incremental
            self._trace_id = 0
            self._span_id = 0

    def generate_trace_id(self) -> int:
        with self._lock:
            if not self._incremental:
                return random.getrandbits(128) or 1
            self._trace_id += 1
            return self._trace_id

    def generate_span_id(self) -> int:
        with self._lock:
            if not self._incremental:
                return random.getrandbits(64) or 1
            self._span_id += 1
            return self._span_id
