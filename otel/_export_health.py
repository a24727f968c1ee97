"""Telemetry the process could not deliver is counted in a metric and reported once a minute, not per item.

While the Collector is down or silent, the batch processors drop what their queue cannot hold and the
exporters give up on batches after the OTLP timeout. The SDK can count both itself, but only when
``OTEL_PYTHON_SDK_INTERNAL_METRICS_ENABLED`` switches on all of its self-metrics at once (two counter
updates on every span among them). The kit counts just the losses, for spans and log records:

- ``mindhit.telemetry.dropped`` (counter, ``{item}``), attributes ``otel.signal`` (``traces``, ``logs``)
  and ``error.type``: ``queue_full`` (the processor's queue overflowed), ``export_failed`` (the
  exporter gave up on a batch) or ``shutdown`` (still queued when the process stopped).

Metrics need no such counter: they are cumulative, so the next export that gets through carries
everything a failed one held.

The kit's batch processors (``otel._batch``) own their queues, so they report each loss here as it
happens.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from typing import Final, Literal

from opentelemetry.metrics import Counter as MetricCounter
from opentelemetry.metrics import MeterProvider

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
