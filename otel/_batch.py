"""Batch processors for spans and log records: a bounded queue that one thread drains into the exporter.

They replace the SDK's ``BatchSpanProcessor`` and ``BatchLogRecordProcessor`` for three reasons, all
measured (docs/benchmarks.md):

- **The request's share is one append.** The SDK's processors check ``os.getpid()`` (a system call)
  on every item, and the log processor copies each record and re-wraps it before queueing: 15 us a span
  and 26 us a log record on our machines. Here ``on_end``/``on_emit`` checks the queue's length, appends
  and, once a batch is full, wakes the worker. Forks are handled by ``os.register_at_fork`` instead.
- **Losses are counted exactly.** Owning the queue, the processor knows what it refuses (queue full,
  after shutdown) and what the exporter fails to deliver, and counts it in
  ``mindhit.telemetry.dropped`` (``otel._export_health``) without mirroring a private queue.
- **The same contract.** ``OTEL_BSP_*``/``OTEL_BLRP_*`` settings, export at least every schedule delay
  or as soon as a batch is full, ``force_flush`` exports on the caller's thread, ``shutdown`` exports
  what is left, and the export runs with instrumentation suppressed, like the SDK's.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Sequence
from typing import Final, Generic, TypeVar

from opentelemetry.context import _SUPPRESS_INSTRUMENTATION_KEY, Context, attach, detach, set_value
from opentelemetry.sdk._logs import LogRecordProcessor, ReadableLogRecord, ReadWriteLogRecord
from opentelemetry.sdk._logs.export import LogRecordExporter, LogRecordExportResult
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from otel._config import BatchOptions
from otel._export_health import DropRecorder, Signal

logger = logging.getLogger(__name__)

Item = TypeVar("Item")
_NO_RESOURCE = Resource.get_empty()
# The SDK's defaults: spans wait up to 5 s for a batch, log records 1 s.
SPAN_BATCH: Final = BatchOptions()
LOG_BATCH: Final = BatchOptions(schedule_delay_s=1.0)


class Batcher(Generic[Item]):
    """The queue and its worker thread, for one signal.

    ``export`` sends one batch and says whether it was delivered; an exception counts as a failure.
    """

    def __init__(
        self,
        export: Callable[[Sequence[Item]], bool],
        *,
        signal: Signal,
        drops: DropRecorder,
        options: BatchOptions,
    ) -> None:
        self._export_batch = export
        self.signal: Signal = signal
        self.drops = drops
        self.max_queue_size = options.max_queue_size
        self.max_batch_size = min(options.max_batch_size, options.max_queue_size)
        self.schedule_delay_s = options.schedule_delay_s
        self._queue: deque[Item] = deque()
        self._export_lock = threading.Lock()
        self._shutdown = False
        self._start_worker()
        # A forked child inherits the queue but not the thread: start afresh there.
        reinit = weakref.WeakMethod(self._after_fork)
        os.register_at_fork(after_in_child=lambda: (method := reinit()) is not None and method())

    def _start_worker(self) -> None:
        self._wake = threading.Event()
        self._worker = threading.Thread(target=self._run, name=f"otel-batch-{self.signal}", daemon=True)
        self._worker.start()

    def _after_fork(self) -> None:
        self._queue.clear()
        self._export_lock = threading.Lock()
        self._start_worker()

    def offer(self, item: Item) -> None:
        """Called on the request's thread: never blocks, never raises."""
        queue = self._queue
        if self._shutdown:
            self.drops.dropped(self.signal, "shutdown", 1)
        elif len(queue) >= self.max_queue_size:
            self.drops.dropped(self.signal, "queue_full", 1)
        else:
            queue.append(item)  # deque appends and pops are atomic: no lock on this path
            if len(queue) >= self.max_batch_size and not self._wake.is_set():
                self._wake.set()

    def _run(self) -> None:
        while not self._shutdown:
            full = self._wake.wait(self.schedule_delay_s)
            self._wake.clear()
            if not self._shutdown:
                # Woken by a full batch, send the full batches only: a remainder would go out as a tiny
                # request of its own, and under steady load the worker would never stop posting them.
                self.export_queued(full_batches_only=full)

    def export_queued(self, *, full_batches_only: bool = False) -> None:
        """Export what is queued now, a batch at a time; on the worker, or on the caller of ``force_flush``.

        Only what was there on entry: items queued meanwhile wait for the next round.
        """
        with self._export_lock:
            self._export_holding_lock(full_batches_only=full_batches_only)

    def _export_holding_lock(self, *, full_batches_only: bool) -> None:
        count = len(self._queue)
        if full_batches_only:
            count -= count % self.max_batch_size
        token = attach(set_value(_SUPPRESS_INSTRUMENTATION_KEY, True))
        try:
            while count > 0 and (batch := self._take(min(self.max_batch_size, count))):
                count -= len(batch)
                self._send(batch)
        finally:
            detach(token)

    def _take(self, count: int) -> list[Item]:
        """Up to ``count`` items; fewer when a shutdown that gave up waiting on this export took the rest."""
        batch: list[Item] = []
        take = self._queue.popleft
        try:
            for _ in range(count):
                batch.append(take())
        except IndexError:
            pass
        return batch

    def _send(self, batch: list[Item]) -> None:
        try:
            delivered = self._export_batch(batch)
        except Exception:  # the worker must survive whatever the exporter does
            logger.exception("exporting %d %s items failed", len(batch), self.signal)
            delivered = False
        if not delivered:
            self.drops.dropped(self.signal, "export_failed", len(batch))

    def shutdown(self, timeout_s: float) -> None:
        """Stop taking items, export what is queued, and count what could not be."""
        if self._shutdown:
            return
        self._shutdown = True
        deadline = time.monotonic() + timeout_s
        self._wake.set()
        self._worker.join(timeout_s)
        # The export in progress, the worker's or a force_flush caller's, may be stuck in the exporter: wait
        # for it until the deadline only. Waiting on the worker alone let a stuck flush hold shutdown.
        if self._export_lock.acquire(timeout=max(0.0, deadline - time.monotonic())):
            try:
                self._export_holding_lock(full_batches_only=False)
            finally:
                self._export_lock.release()
        # An export still stuck may pop concurrently once it resumes: each item is taken by one side only.
        left = len(self._take(len(self._queue)))
        self.drops.dropped(self.signal, "shutdown", left)
        self.drops.report_now()


class _Batching(Generic[Item]):
    """What both processors share: the batcher, a flush on the caller's thread, and shutdown."""

    def __init__(
        self,
        export: Callable[[Sequence[Item]], bool],
        shutdown_exporter: Callable[[], object],
        *,
        signal: Signal,
        drops: DropRecorder,
        options: BatchOptions,
    ) -> None:
        self.batcher: Batcher[Item] = Batcher(export, signal=signal, drops=drops, options=options)
        self._shutdown_exporter = shutdown_exporter
        self._export_timeout_s = options.export_timeout_s

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        self.batcher.export_queued()
        return True

    def shutdown(self) -> None:
        self.batcher.shutdown(self._export_timeout_s)
        self._shutdown_exporter()


class BatchSpanProcessor(_Batching[ReadableSpan], SpanProcessor):
    """Queues sampled spans as they end; the exporter gets them in batches on a thread of its own."""

    def __init__(self, exporter: SpanExporter, drops: DropRecorder, options: BatchOptions = SPAN_BATCH) -> None:
        super().__init__(
            lambda spans: exporter.export(spans) is SpanExportResult.SUCCESS,
            exporter.shutdown,
            signal="traces",
            drops=drops,
            options=options,
        )

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        pass

    def on_end(self, span: ReadableSpan) -> None:
        context = span.context
        if context is not None and context.trace_flags.sampled:
            self.batcher.offer(span)


class BatchLogRecordProcessor(_Batching[ReadableLogRecord], LogRecordProcessor):
    """Queues log records as they are emitted; the exporter gets them in batches on a thread of its own.

    The record is queued as the read-only view the exporters take, sharing (not copying) the API record:
    nothing changes it after ``emit``, and the context it holds lives at most until the batch leaves.
    """

    def __init__(self, exporter: LogRecordExporter, drops: DropRecorder, options: BatchOptions = LOG_BATCH) -> None:
        super().__init__(
            lambda records: exporter.export(records) is LogRecordExportResult.SUCCESS,
            exporter.shutdown,
            signal="logs",
            drops=drops,
            options=options,
        )

    def on_emit(self, log_record: ReadWriteLogRecord) -> None:
        resource = log_record.resource if log_record.resource is not None else _NO_RESOURCE
        self.batcher.offer(
            ReadableLogRecord(
                log_record=log_record.log_record,
                resource=resource,
                instrumentation_scope=log_record.instrumentation_scope,
                limits=log_record.limits,
            )
        )
