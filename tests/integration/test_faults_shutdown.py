"""SIGTERM while the Collector is down or hanging: the process tries to flush, then exits within its grace.

Kubernetes waits 30 s (``terminationGracePeriodSeconds``) before SIGKILL. The SDK alone bounds each
flush step separately (30 s a processor, the OTLP timeout per attempt) and could take more than a
minute; the kit gives the whole flush ``TELEMETRY_SHUTDOWN_TIMEOUT`` (5 s here) and then lets go.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from service_process import Load, base_environment, running_service
from tcp_switch import Mode, running_switch

SHUTDOWN_BUDGET_S = 5.0
GRACE_S = 15.0  # half of Kubernetes' default, with uvicorn's own drain included


@pytest.mark.parametrize("collector", ["closed", "hang"])
def test_sigterm_with_the_collector_down_exits_within_the_grace_period(tmp_path: Path, collector: Mode) -> None:
    with running_switch(mode=collector) as switch:
        env = base_environment(
            tmp_path,
            OTEL_EXPORTER_OTLP_ENDPOINT=switch.url,
            OTEL_EXPORTER_OTLP_TIMEOUT="10000",  # the default: each attempt may hang 10 s
            TELEMETRY_SHUTDOWN_TIMEOUT=str(int(SHUTDOWN_BUDGET_S * 1000)),
            OTEL_METRIC_EXPORT_INTERVAL="60000",
        )
        with running_service(tmp_path, env) as service:
            load = Load(service.url, workers=2, rate=20, duration_s=4, max_requests=200).start()
            result = load.wait()
            signalled = time.monotonic()
            took = service.terminate(timeout=GRACE_S + 15)
            output = service.output()
            # An export in flight at SIGTERM, or one started after it: the flush reaching for the Collector.
            attempts_after = [c for c in switch.connections if c.closed is None or c.closed >= signalled]

    assert {s.status for s in result.samples} <= {200, 201}
    assert took <= GRACE_S, f"exited {took:.1f} s after SIGTERM"
    assert service.process.returncode in {0, -15}, output[-2000:]
    assert "Application shutdown complete" in output
    # It tried: the final flush reached for the Collector (hanging) or failed to (closed), and said so.
    if collector == "hang":
        assert attempts_after, "no export was in flight or attempted after SIGTERM"
        assert "telemetry flush did not finish within 5.0 s" in output
    else:
        assert "telemetry dropped" in output  # what the failed flush could not deliver is counted and said
