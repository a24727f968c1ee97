"""Stable ids and times, so a whole capture compares equal run after run.

Times: every instant of the capture (span starts and ends, span events, log records) is numbered
1, 2, 3… in the order it happened. Starts, ends and records are ordered by the processors' ticks,
which are exact; an event has no hook of its own, so it is placed after the last ticked instant of
its span whose timestamp is not later than the event's. Nothing in the SDK is patched: the real
timestamps stay on the spans for whoever wants them.

Ids: trace and span ids are numbered from 1 in the order the captured spans started, then any other
id (a remote parent, a link, a record from an uncaptured span) in the order the output meets it.
"""

from __future__ import annotations

from bisect import bisect_left
from typing import Any

from opentelemetry.sdk._logs import ReadWriteLogRecord
from opentelemetry.sdk.trace import ReadableSpan

from otel.testing._recording import Recording, SpanKey, span_key


class Timeline:
    def __init__(self, recording: Recording) -> None:
        self.spans = list(recording.spans)
        self.logs = list(recording.logs)
        log_ticks = list(recording.log_ticks)
        entries: list[tuple[tuple[int, ...], tuple[Any, ...]]] = []
        ticked: list[tuple[int, int]] = []  # (tick, wall-clock ns) of every ticked instant, to place events
        bounds: dict[SpanKey, tuple[int, int]] = {}
        for index, span in enumerate(self.spans):
            key = span_key(span)
            start, end = recording.starts.get(key), recording.ends.get(key, 0)
            if start is None:  # started before the test: before everything the test did
                entries.append(((0, 0, span.start_time or 0, index), ("start", key)))
            else:
                entries.append(((start,), ("start", key)))
                ticked.append((start, span.start_time or 0))
            entries.append(((end,), ("end", key)))
            ticked.append((end, span.end_time or 0))
            bounds[key] = (start or 0, end)
        for index, (tick, record) in enumerate(zip(log_ticks, self.logs, strict=True)):
            entries.append(((tick,), ("log", index)))
            ticked.append((tick, _log_time(record)))
        ticked.sort()
        ticks = [tick for tick, _ in ticked]
        for span in self.spans:
            key = span_key(span)
            low, high = bounds[key]
            for number, event in enumerate(span.events):
                anchor = low
                for tick, when in ticked[bisect_left(ticks, low) : bisect_left(ticks, high)]:
                    if when <= event.timestamp:
                        anchor = tick
                entries.append(((anchor, 1, event.timestamp, low, number), ("event", key, number)))
        entries.sort(key=lambda entry: entry[0])
        self._at = {ref: position for position, (_, ref) in enumerate(entries, start=1)}

    def start(self, span: ReadableSpan) -> int:
        return self._at[("start", span_key(span))]

    def end(self, span: ReadableSpan) -> int:
        return self._at[("end", span_key(span))]

    def event(self, span: ReadableSpan, number: int) -> int:
        return self._at[("event", span_key(span), number)]

    def log(self, index: int) -> int:
        return self._at[("log", index)]

    def by_start(self, spans: list[ReadableSpan] | None = None) -> list[ReadableSpan]:
        return sorted(self.spans if spans is None else spans, key=self.start)


def _log_time(record: ReadWriteLogRecord) -> int:
    log = record.log_record
    return log.observed_timestamp or log.timestamp or 0


class Numbering:
    """Small stable numbers for trace and span ids."""

    def __init__(self, spans_by_start: list[ReadableSpan]) -> None:
        self._traces: dict[int, int] = {}
        self._spans: dict[int, int] = {}
        for span in spans_by_start:
            self.trace(span_key(span)[0])
        for span in spans_by_start:
            self.span(span_key(span)[1])

    def trace(self, trace_id: int | None) -> int | None:
        if not trace_id:
            return None
        return self._traces.setdefault(trace_id, len(self._traces) + 1)

    def span(self, span_id: int | None) -> int | None:
        if not span_id:
            return None
        return self._spans.setdefault(span_id, len(self._spans) + 1)
