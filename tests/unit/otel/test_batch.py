"""The kit's batch processors: when they export, on which thread, and how they count what they lose."""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence

import pytest
from drop_counts import Drops
from opentelemetry import context
from opentelemetry.sdk._logs import LoggerProvider, ReadableLogRecord
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, LogRecordExporter, LogRecordExportResult
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF

from otel._batch import BatchLogRecordProcessor, BatchSpanProcessor
from otel._config import BatchOptions


class _Exporter(SpanExporter):
    """Records what it is given, on which thread, and with what context; can block or fail."""

    def __init__(self, *, fail: bool = False, gated: bool = False) -> None:
        self.fail = fail
        self.entered = threading.Event()
        self.release = threading.Event()
        if not gated:
            self.release.set()
        self.batches: list[list[str]] = []
        self.threads: list[str] = []
        self.suppressed: list[bool] = []
        self.exported = threading.Event()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.entered.set()
        assert self.release.wait(10)
        self.threads.append(threading.current_thread().name)
        self.suppressed.append(bool(context.get_value(context._SUPPRESS_INSTRUMENTATION_KEY)))
        if self.fail:
            return SpanExportResult.FAILURE
        self.batches.append([span.name for span in spans])
        self.exported.set()
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        self.release.set()

    @property
    def names(self) -> list[str]:
        return [name for batch in self.batches for name in batch]


def _tracer(exporter: SpanExporter, drops: Drops, **options: float) -> tuple[TracerProvider, BatchSpanProcessor]:
    processor = BatchSpanProcessor(exporter, drops.recorder, BatchOptions(**options))  # type: ignore[arg-type]
    provider = TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(processor)
    return provider, processor


def _spans(provider: TracerProvider, names: range) -> None:
    tracer = provider.get_tracer("test")
    for index in names:
        tracer.start_span(f"span {index}").end()


def test_a_full_batch_leaves_at_once_on_the_worker_with_instrumentation_suppressed() -> None:
    exporter, drops = _Exporter(), Drops()
    provider, _ = _tracer(exporter, drops, max_batch_size=3, schedule_delay_s=60)

    _spans(provider, range(3))

    assert exporter.exported.wait(5), "a full batch must not wait for the schedule delay"
    assert exporter.batches == [["span 0", "span 1", "span 2"]]
    assert exporter.threads == ["otel-batch-traces"]
    assert exporter.suppressed == [True]
    provider.shutdown()


def test_a_worker_woken_by_a_full_batch_leaves_the_remainder_for_later() -> None:
    """Under steady load a remainder sent at once would be a tiny request after every full batch."""
    exporter, drops = _Exporter(), Drops()
    provider, processor = _tracer(exporter, drops, max_batch_size=4, schedule_delay_s=60)

    _spans(provider, range(6))
    assert exporter.exported.wait(5)
    processor.force_flush()

    assert exporter.batches[0] == ["span 0", "span 1", "span 2", "span 3"]
    assert exporter.batches[1:] == [["span 4", "span 5"]]
    provider.shutdown()


def test_a_partial_batch_leaves_after_the_schedule_delay() -> None:
    exporter, drops = _Exporter(), Drops()
    provider, _ = _tracer(exporter, drops, max_batch_size=100, schedule_delay_s=0.05)

    _spans(provider, range(2))

    assert exporter.exported.wait(5)
    assert exporter.names == ["span 0", "span 1"]
    provider.shutdown()


def test_force_flush_exports_everything_on_the_callers_thread_in_batches() -> None:
    exporter, drops = _Exporter(), Drops()
    provider, processor = _tracer(exporter, drops, max_queue_size=100, max_batch_size=4, schedule_delay_s=60)
    exporter.release.clear()  # hold the worker off the first full batch
    _spans(provider, range(10))
    exporter.release.set()

    processor.force_flush()

    assert sorted(exporter.names, key=lambda name: int(name.split()[1])) == [f"span {i}" for i in range(10)]
    assert all(len(batch) <= 4 for batch in exporter.batches)
    assert threading.current_thread().name in exporter.threads
    provider.shutdown()
    assert drops.counts() == {}


def test_unsampled_spans_are_not_queued() -> None:
    exporter, drops = _Exporter(), Drops()
    processor = BatchSpanProcessor(exporter, drops.recorder, BatchOptions(schedule_delay_s=60))
    provider = TracerProvider(sampler=ALWAYS_OFF, shutdown_on_exit=False)
    provider.add_span_processor(processor)

    _spans(provider, range(5))
    processor.force_flush()

    assert exporter.batches == []
    provider.shutdown()


def test_a_full_queue_counts_each_span_it_refuses() -> None:
    exporter, drops = _Exporter(gated=True), Drops()
    provider, _ = _tracer(exporter, drops, max_queue_size=4, max_batch_size=4, schedule_delay_s=60)

    _spans(provider, range(4))  # a full batch: the worker takes all four and blocks exporting them
    assert exporter.entered.wait(5)
    _spans(provider, range(4, 11))  # four fit in the queue again, three do not
    exporter.release.set()
    provider.shutdown()

    assert len(exporter.names) == 8
    assert drops.counts() == {("traces", "queue_full"): 3}


def test_failed_exports_count_their_spans() -> None:
    exporter, drops = _Exporter(fail=True), Drops()
    provider, processor = _tracer(exporter, drops, max_queue_size=100, max_batch_size=10, schedule_delay_s=60)

    _spans(provider, range(25))
    processor.force_flush()
    provider.shutdown()

    assert drops.counts() == {("traces", "export_failed"): 25}


def test_an_exporter_that_raises_counts_as_failed_and_the_worker_survives(caplog: pytest.LogCaptureFixture) -> None:
    class Raising(_Exporter):
        def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
            if not self.batches and not self.threads:
                self.threads.append("raised")
                raise ConnectionError("collector went away")
            return super().export(spans)

    exporter, drops = Raising(), Drops()
    provider, _ = _tracer(exporter, drops, max_batch_size=2, schedule_delay_s=60)

    _spans(provider, range(2))  # the first batch raises on the worker
    _spans(provider, range(2, 4))  # the worker is still there for the second

    assert exporter.exported.wait(5)
    assert exporter.names == ["span 2", "span 3"]
    assert drops.counts() == {("traces", "export_failed"): 2}
    assert "exporting 2 traces items failed" in caplog.text
    provider.shutdown()


def test_what_a_stuck_exporter_still_holds_at_shutdown_counts_as_lost_and_so_does_anything_later() -> None:
    exporter, drops = _Exporter(gated=True), Drops()
    provider, processor = _tracer(
        exporter, drops, max_queue_size=10, max_batch_size=2, schedule_delay_s=60, export_timeout_s=0.2
    )
    _spans(provider, range(2))
    assert exporter.entered.wait(5)  # the worker is stuck in export with two spans
    _spans(provider, range(2, 7))  # five more wait in the queue

    processor.batcher.shutdown(0.2)
    _spans(provider, range(7, 8))  # after shutdown
    exporter.release.set()

    assert drops.counts() == {("traces", "shutdown"): 6}


def test_a_shutdown_that_gives_up_on_a_stuck_export_takes_each_item_once() -> None:
    """The stuck export resumes after shutdown took the rest: it must find nothing, not fail popping.

    The worker (woken by the full batches) or the flushing thread is the one stuck; either way."""
    exporter, drops = _Exporter(gated=True), Drops()
    _, processor = _tracer(exporter, drops, max_queue_size=10, max_batch_size=2, schedule_delay_s=60)
    provider = TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(processor)
    _spans(provider, range(5))
    errors: list[BaseException] = []

    def flush() -> None:
        try:
            processor.force_flush()  # counts five queued items, then blocks exporting the first two
        except BaseException as exc:  # what the thread raised is the finding
            errors.append(exc)

    flushing = threading.Thread(target=flush)
    flushing.start()
    assert exporter.entered.wait(5)
    processor.batcher.shutdown(0.2)
    exporter.release.set()
    flushing.join(5)

    assert errors == []
    assert exporter.names == ["span 0", "span 1"]
    assert drops.counts() == {("traces", "shutdown"): 3}


def test_a_shutdown_does_not_wait_past_its_timeout_for_a_flush_stuck_in_export() -> None:
    """The idle worker exits at once; the export it must not wait for is the flushing caller's."""
    exporter, drops = _Exporter(gated=True), Drops()
    provider, processor = _tracer(exporter, drops, max_queue_size=10, max_batch_size=10, schedule_delay_s=60)
    _spans(provider, range(3))  # under a batch: the worker sleeps on
    flushing = threading.Thread(target=processor.force_flush)
    flushing.start()
    assert exporter.entered.wait(5)

    stopping = threading.Thread(target=processor.batcher.shutdown, args=(0.2,))
    stopping.start()
    stopping.join(5)
    stopped_while_stuck = not stopping.is_alive()
    exporter.release.set()
    flushing.join(5)
    stopping.join(5)

    assert stopped_while_stuck, "shutdown waited for the stuck export"
    assert exporter.names == ["span 0", "span 1", "span 2"]
    assert drops.counts() == {}


def test_shutdown_exports_what_is_queued() -> None:
    exporter, drops = _Exporter(), Drops()
    provider, _ = _tracer(exporter, drops, max_batch_size=100, schedule_delay_s=60)
    _spans(provider, range(3))

    provider.shutdown()

    assert exporter.names == ["span 0", "span 1", "span 2"]
    assert drops.counts() == {}


class _RefusingLogExporter(LogRecordExporter):
    def __init__(self) -> None:
        self.seen: list[ReadableLogRecord] = []

    def export(self, batch: Sequence[ReadableLogRecord]) -> LogRecordExportResult:
        self.seen.extend(batch)
        return LogRecordExportResult.FAILURE

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return True

    def shutdown(self) -> None:
        pass


def test_log_records_are_queued_as_readable_records_and_counted_like_spans() -> None:
    drops = Drops()
    refusing = _RefusingLogExporter()
    provider = LoggerProvider(shutdown_on_exit=False)
    provider.add_log_record_processor(
        BatchLogRecordProcessor(
            refusing, drops.recorder, BatchOptions(max_queue_size=3, max_batch_size=3, schedule_delay_s=60)
        )
    )
    logger = provider.get_logger("test")
    for index in range(5):  # the worker may take the first batch at once; what the queue cannot hold is lost
        logger.emit(body=f"record {index}", attributes={"n": index})
    provider.force_flush()
    provider.shutdown()

    assert [type(record) for record in refusing.seen] == [ReadableLogRecord] * len(refusing.seen)
    assert [(r.log_record.body, dict(r.log_record.attributes or {})) for r in refusing.seen[:1]] == [
        ("record 0", {"n": 0})
    ]
    counts = drops.counts()
    assert counts[("logs", "export_failed")] == len(refusing.seen)
    assert counts[("logs", "export_failed")] + counts.get(("logs", "queue_full"), 0) == 5


def test_log_records_reach_the_exporter_with_their_resource_and_scope() -> None:
    exported = InMemoryLogRecordExporter()
    provider = LoggerProvider(shutdown_on_exit=False)
    processor = BatchLogRecordProcessor(exported, Drops().recorder, BatchOptions(schedule_delay_s=60))
    provider.add_log_record_processor(processor)

    provider.get_logger("tests.scope").emit(body="hello")
    provider.force_flush()

    (record,) = exported.get_finished_logs()
    assert record.log_record.body == "hello"
    assert record.instrumentation_scope is not None
    assert record.instrumentation_scope.name == "tests.scope"
    assert record.resource is provider.resource
    provider.shutdown()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork is POSIX")
def test_a_forked_child_exports_with_a_worker_of_its_own() -> None:
    exporter, drops = _Exporter(), Drops()
    provider, _ = _tracer(exporter, drops, max_batch_size=2, schedule_delay_s=60)
    read_end, write_end = os.pipe()

    pid = os.fork()
    if pid == 0:  # the child: a full batch must leave on the child's own worker thread
        try:
            _spans(provider, range(2))
            ok = exporter.exported.wait(5) and exporter.threads == ["otel-batch-traces"]
            os.write(write_end, b"1" if ok else b"0")
        finally:
            os._exit(0)
    os.close(write_end)
    answer = os.read(read_end, 1)
    os.waitpid(pid, 0)
    os.close(read_end)

    assert answer == b"1"
    _spans(provider, range(2, 4))  # and the parent's own worker carries on, untouched by the fork
    assert exporter.exported.wait(5)
    assert (exporter.names, exporter.threads) == (["span 2", "span 3"], ["otel-batch-traces"])
    provider.shutdown()
