"""Telemetry the process could not deliver is counted in a metric and reported once a minute, not per item.

While the Collector is down or silent, the batch processors drop what their queue cannot hold and the
exporters give up on batches after the OTLP timeout. The SDK can count both itself, but only when
``OTEL_PYTHON_SDK_INTERNAL_METRICS_ENABLED`` switches on all of its self-metrics at once (two counter
updates on every span among them). The wrappers here count just the losses, for spans and log records:

- ``mindhit.telemetry.dropped`` (counter, ``{item}``), attributes ``otel.signal`` (``traces``, ``logs``)
  and ``error.type``: ``queue_full`` (the processor's queue overflowed), ``export_failed`` (the
  exporter gave up on a batch) or ``shutdown`` (still queued when the process stopped).

Metrics need no such counter: they are cumulative, so the next export that gets through carries
everything a failed one held.

A batch processor's queue is private, so ``Backlog`` mirrors its length: one in per span handed to the
processor, ``len(batch)`` out per export. When the mirror is at capacity the processor drops its
oldest item, and so the mirror counts one drop.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Sequence
from typing import Final, Literal

from opentelemetry.context import Context
from opentelemetry.metrics import Counter as MetricCounter
from opentelemetry.metrics import MeterProvider
from opentelemetry.sdk._logs import LogRecordProcessor, ReadableLogRecord, ReadWriteLogRecord
from opentelemetry.sdk._logs.export import LogRecordExporter, LogRecordExportResult
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

logger = logging.getLogger(__name__)

DROPPED_METRIC: Final = "mindhit.telemetry.dropped"
REPORT_INTERVAL_S: Final = 60.0

Signal = Literal["traces", "logs"]
Reason = Literal["queue_full", "export_failed", "shutdown"]


class DropRecorder:
    """Counts lost items in ``mindhit.telemetry.dropped`` and logs a summary at most once per interval.

    Built before the MeterProvider exists (the processors come first); drops recorded until ``bind``
    are added to the counter then.
    """

    def __init__(self, *, report_interval_s: float = REPORT_INTERVAL_S) -> None:
        self.report_interval_s = report_interval_s
        self._lock = threading.Lock()
        self._counter: MetricCounter | None = None
        self._unbound: Counter[tuple[Signal, Reason]] = Counter()
        self._unreported: Counter[tuple[Signal, Reason]] = Counter()
        self._last_report = -report_interval_s

    def bind(self, meter_provider: MeterProvider) -> None:
        counter = meter_provider.get_meter("otel.export").create_counter(
            DROPPED_METRIC, unit="{item}", description="Telemetry items the process could not deliver."
        )
        with self._lock:
            self._counter, unbound = counter, self._unbound
            self._unbound = Counter()
        for (signal, reason), count in unbound.items():
            counter.add(count, _attributes(signal, reason))

    def dropped(self, signal: Signal, reason: Reason, count: int) -> None:
        if count <= 0:
            return
        now = time.monotonic()
        with self._lock:
            counter = self._counter
            if counter is None:
                self._unbound[signal, reason] += count
            self._unreported[signal, reason] += count
            report = None
            if now - self._last_report >= self.report_interval_s:
                self._last_report = now
                report, self._unreported = self._unreported, Counter()
        if counter is not None:
            counter.add(count, _attributes(signal, reason))
        if report:
            _log(report, self.report_interval_s)

    def report_now(self) -> None:
        """Log what was dropped since the last summary (at shutdown, so nothing goes unsaid)."""
        with self._lock:
            report, self._unreported = self._unreported, Counter()
        if report:
            _log(report, self.report_interval_s)


def _attributes(signal: Signal, reason: Reason) -> dict[str, str]:
    return {"otel.signal": signal, "error.type": reason}


def _log(report: Counter[tuple[Signal, Reason]], interval_s: float) -> None:
    summary = ", ".join(f"{count} {signal} ({reason})" for (signal, reason), count in sorted(report.items()))
    logger.warning(
        "telemetry dropped: %s; counted in %s, reported at most every %.0f s", summary, DROPPED_METRIC, interval_s
    )


class Backlog:
    """A mirror of one batch processor's queue length, to count what the processor drops."""

    def __init__(self, signal: Signal, capacity: int, recorder: DropRecorder) -> None:
        self.signal: Signal = signal
        self.capacity = capacity
        self.recorder = recorder
        self._queued = 0
        self._closed = False
        self._lock = threading.Lock()

    def offered(self) -> None:
        """One item handed to the processor: queued, or (queue full, or shut down) one item lost."""
        with self._lock:
            closed = self._closed
            full = not closed and self._queued >= self.capacity
            if not closed and not full:
                self._queued += 1
        if closed:
            self.recorder.dropped(self.signal, "shutdown", 1)
        elif full:
            self.recorder.dropped(self.signal, "queue_full", 1)

    def taken(self, count: int) -> None:
        """``count`` items left the queue for the exporter."""
        with self._lock:
            self._queued = max(0, self._queued - count)

    def close(self) -> None:
        """The processor has shut down: what it still held is lost, and so is anything offered later."""
        with self._lock:
            self._closed = True
            left, self._queued = self._queued, 0
        self.recorder.dropped(self.signal, "shutdown", left)
        self.recorder.report_now()


class CountingSpanProcessor(SpanProcessor):
    """Wraps a ``BatchSpanProcessor`` whose exporter is a ``CountingSpanExporter`` on the same backlog."""

    def __init__(self, processor: SpanProcessor, backlog: Backlog) -> None:
        self.processor = processor
        self.backlog = backlog

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        self.processor.on_start(span, parent_context)

    def on_end(self, span: ReadableSpan) -> None:
        # The batch processor only queues sampled spans.
        if span.context is not None and span.context.trace_flags.sampled:
            self.backlog.offered()
        self.processor.on_end(span)

    def shutdown(self) -> None:
        self.processor.shutdown()
        self.backlog.close()

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return self.processor.force_flush(timeout_millis)


class CountingSpanExporter(SpanExporter):
    def __init__(self, exporter: SpanExporter, backlog: Backlog) -> None:
        self.exporter = exporter
        self.backlog = backlog

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.backlog.taken(len(spans))
        try:
            result = self.exporter.export(spans)
        except Exception:
            self.backlog.recorder.dropped("traces", "export_failed", len(spans))
            raise
        if result is not SpanExportResult.SUCCESS:
            self.backlog.recorder.dropped("traces", "export_failed", len(spans))
        return result

    def shutdown(self) -> None:
        self.exporter.shutdown()

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return self.exporter.force_flush(timeout_millis)


class CountingLogProcessor(LogRecordProcessor):
    """Wraps a ``BatchLogRecordProcessor`` whose exporter is a ``CountingLogExporter`` on the same backlog."""

    def __init__(self, processor: LogRecordProcessor, backlog: Backlog) -> None:
        self.processor = processor
        self.backlog = backlog

    def on_emit(self, log_record: ReadWriteLogRecord) -> None:
        self.backlog.offered()
        self.processor.on_emit(log_record)

    def shutdown(self) -> None:
        self.processor.shutdown()
        self.backlog.close()

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return self.processor.force_flush(timeout_millis)


class CountingLogExporter(LogRecordExporter):
    def __init__(self, exporter: LogRecordExporter, backlog: Backlog) -> None:
        self.exporter = exporter
        self.backlog = backlog

    def export(self, batch: Sequence[ReadableLogRecord]) -> LogRecordExportResult:
        self.backlog.taken(len(batch))
        try:
            result = self.exporter.export(batch)
        except Exception:
            self.backlog.recorder.dropped("logs", "export_failed", len(batch))
            raise
        if result is not LogRecordExportResult.SUCCESS:
            self.backlog.recorder.dropped("logs", "export_failed", len(batch))
        return result

    def shutdown(self) -> None:
        self.exporter.shutdown()  # type: ignore[no-untyped-call]  # the SDK leaves it unannotated

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return self.exporter.force_flush(timeout_millis)
