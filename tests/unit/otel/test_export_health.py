"""Lost telemetry is reported once per interval and counted even before the meter exists; shutdown is bounded.

How the batch processors count what they lose is in ``test_batch.py``.
"""

from __future__ import annotations

import logging
import threading
import time

import pytest
from drop_counts import Drops
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from prometheus_client import CollectorRegistry

from otel._export_health import DROPPED_METRIC, DropRecorder
from otel._providers import Providers, shutdown_providers


def test_drops_are_reported_once_per_interval_not_per_item(caplog: pytest.LogCaptureFixture) -> None:
    drops = DropRecorder(report_interval_s=60)
    caplog.set_level(logging.WARNING, logger="otel._export_health")

    for _ in range(500):
        drops.dropped("traces", "queue_full", 1)
    drops.dropped("logs", "export_failed", 40)
    first = [r.getMessage() for r in caplog.records]
    drops.report_now()

    messages = [r.getMessage() for r in caplog.records]
    assert len(first) == 1
    assert first[0].startswith("telemetry dropped: 1 traces (queue_full)")
    assert len(messages) == 2
    assert "40 logs (export_failed), 499 traces (queue_full)" in messages[1]
    assert DROPPED_METRIC in messages[1]


def test_drops_before_the_meter_exists_are_counted_once_it_does() -> None:
    drops = Drops(bound=False)
    drops.recorder.dropped("traces", "export_failed", 5)

    drops.bind()
    drops.recorder.dropped("traces", "export_failed", 2)

    assert drops.counts() == {("traces", "export_failed"): 7}


class _StuckProcessor(SpanProcessor):
    def __init__(self) -> None:
        self.unblock = threading.Event()

    def shutdown(self) -> None:
        self.unblock.wait(30)


def test_shutdown_gives_up_after_its_timeout(caplog: pytest.LogCaptureFixture) -> None:
    stuck = _StuckProcessor()
    tracer_provider = TracerProvider(resource=Resource.create({}), shutdown_on_exit=False)
    tracer_provider.add_span_processor(stuck)
    providers = Providers(
        tracer_provider,
        MeterProvider(shutdown_on_exit=False),
        LoggerProvider(shutdown_on_exit=False),
        CollectorRegistry(),
        shutdown_timeout_s=0.3,
    )

    started = time.monotonic()
    shutdown_providers(providers)
    elapsed = time.monotonic() - started
    stuck.unblock.set()

    assert elapsed < 2
    assert "telemetry flush did not finish within 0.3 s" in caplog.text
