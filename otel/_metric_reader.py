"""One aggregation of every instrument, scraped at ``/metrics`` and pushed over OTLP.

The SDK aggregates each measurement once per metric reader: with a Prometheus reader for ``/metrics``
and a periodic OTLP reader, every histogram record and counter add was hashed, locked and aggregated
twice, the second time for the same cumulative numbers. ``SharedMetricReader`` is the Prometheus reader
with the periodic push added: a scrape renders the current aggregation, and every export interval the
same aggregation goes to the OTLP exporter. It is used only when the exporter wants what Prometheus
wants (cumulative temporality, explicit-bucket histograms); otherwise the two readers stay apart, and
``/metrics`` has a ``PullMetricReader`` of its own.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from opentelemetry.context import _SUPPRESS_INSTRUMENTATION_KEY, attach, detach, set_value
from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.sdk.metrics.export import AggregationTemporality, MetricExporter, MetricsData
from opentelemetry.sdk.metrics.view import ExplicitBucketHistogramAggregation
from prometheus_client import CollectorRegistry

logger = logging.getLogger(__name__)


def shareable(exporter: MetricExporter) -> bool:
    """Whether ``exporter`` can be fed from the Prometheus reader's cumulative, explicit-bucket aggregation."""
    if not hasattr(exporter, "_preferred_temporality") or not hasattr(exporter, "_preferred_aggregation"):
        return False  # an SDK that keeps them elsewhere: two readers, as the SDK would build them
    # ``None`` is no preference: the reader's defaults, which are cumulative and explicit buckets.
    temporality: dict[type, AggregationTemporality] = exporter._preferred_temporality or {}
    aggregation: dict[type, Any] = exporter._preferred_aggregation or {}
    cumulative = all(value is AggregationTemporality.CUMULATIVE for value in temporality.values())
    explicit = all(
        isinstance(value, ExplicitBucketHistogramAggregation)
        for kind, value in aggregation.items()
        if "Histogram" in kind.__name__
    )
    return cumulative and explicit


class PullMetricReader(PrometheusMetricReader):
    """The Prometheus reader, minus the snapshots a flush would leave waiting for the next scrape.

    The SDK's ``force_flush`` collects, and the Prometheus reader queues every collection until a scrape
    renders them all: each flush between two scrapes added a complete copy of every series, so the next
    ``/metrics`` showed each series once per flush (invalid for Prometheus) and memory grew until then.
    The apps of a test session share one provider and each flushes it when it stops: after our
    log-injection tests the next scrape was 78 MB. A pull reader has nothing to deliver: the next scrape
    collects afresh.
    """

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        return True


class SharedMetricReader(PrometheusMetricReader):
    """A Prometheus reader that also pushes its collections to ``exporter`` every ``interval_s``."""

    def __init__(
        self, exporter: MetricExporter, *, registry: CollectorRegistry, interval_s: float, timeout_s: float
    ) -> None:
        super().__init__(registry=registry)
        self._exporter = exporter
        self._interval_s = interval_s
        self._timeout_ms = timeout_s * 1000
        self._pushing = threading.local()
        self._export_lock = threading.Lock()
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="otel-metric-push", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stopped.wait(self._interval_s):
            self.push()

    def push(self, timeout_millis: float | None = None) -> bool:
        """Collect now and hand the result to the exporter (not to the next scrape)."""
        self._pushing.active = True
        try:
            self.collect(timeout_millis=timeout_millis if timeout_millis is not None else self._timeout_ms)
        except Exception:  # the push thread must survive a failed collection
            logger.exception("metric collection for OTLP failed")
            return False
        finally:
            self._pushing.active = False
        return True

    def _receive_metrics(self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any) -> None:
        if not getattr(self._pushing, "active", False):
            super()._receive_metrics(metrics_data, timeout_millis, **kwargs)
            return
        if metrics_data is None:
            return
        # The exporter's own HTTP or gRPC calls must not be traced or measured in turn.
        token = attach(set_value(_SUPPRESS_INSTRUMENTATION_KEY, True))
        try:
            with self._export_lock:
                self._exporter.export(metrics_data, timeout_millis=timeout_millis)
        except Exception:
            logger.exception("metric export failed")
        finally:
            detach(token)

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        pushed = self.push(timeout_millis)
        return self._exporter.force_flush(timeout_millis=timeout_millis) and pushed

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        """A last push, so the final export counts the last requests; then the exporter and the scrape stop."""
        if self._stopped.is_set():
            return
        self._stopped.set()
        self._thread.join(timeout=timeout_millis / 1000)
        self.push(timeout_millis)
        self._exporter.shutdown(timeout_millis=timeout_millis)
        super().shutdown(timeout_millis, **kwargs)
