"""The Collector closed, hanging, killed, or cut off from its backend: the service keeps serving and loses
nothing that matters.

The real service process exports OTLP (HTTP or gRPC) through a ``tcp_switch`` to the real Collector, whose
trace backend is a local OTLP sink. Load is steady and paced (``WORKERS`` users, ``RATE`` requests a second
each) so latency measures the cost of a request, not a queue; healthy and faulty segments of
``SEGMENT_S`` alternate ``ROUNDS`` times on the same process, and the load is bounded in time and count.
"""

from __future__ import annotations

import json
import re
import signal
import statistics
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from _collector import (
    BASE_CONFIG,
    BUILD_TIMEOUT_S,
    Collector,
    CollectorPorts,
    TraceSink,
    collector_binary,
    running_collector,
    trace_sink,
)
from service_process import (
    Load,
    LoadResult,
    ServiceProcess,
    base_environment,
    metric_value,
    running_service,
    scrape,
    token,
    wait_until,
)
from tcp_switch import Mode, running_switch

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(BUILD_TIMEOUT_S + 300)]

SEGMENT_S = 2.5
ROUNDS = 6
# This machine's p99 wanders by tens of milliseconds between identical runs (two cores shared with the
# Collector, the load and whatever else runs): a difference below this floor is noise, not the fault.
# Measured over three or four runs of each of the four variants (November 2026, a benchmark running
# beside them), the degraded p99 minus the healthy one was -75 to +72 ms (healthy p99 41-169 ms, degraded
# 37-126 ms), pooled over all rounds. The swing is as large with healthy above degraded, so it is the
# noise of a statistic that is the 4th-largest of ~430 samples; a CI run (December 2026) failed on
# +89 ms. So the p99 compared is each kind of segment's median over the rounds (LoadResult.typical_p99).
# Over three runs of the four variants (December 2026) the degraded median minus the healthy one was
# -12 to +13 ms, where the pooled p99s differed by -24 to +32 ms in the same runs. The floor stays at
# 75 ms: a fault that matters costs seconds (a request waiting on a 2 s export gives medians of 2,048 ms
# against 33 ms). The test prints every round's figures (pytest -rP).
P99_NOISE_FLOOR_S = 0.075
WORKERS = 4
RATE = 7.5
OTLP_TIMEOUT_MS = 2000
P99_RATIO = 1.2
BATCH_TIMEOUT_S = 1.0  # collector-config.yaml, processors.batch.timeout
# Small batch queues, so that a dead Collector makes the SDK drop within the phase, not after minutes.
QUEUE = {
    "OTEL_BSP_MAX_QUEUE_SIZE": "128",
    "OTEL_BSP_MAX_EXPORT_BATCH_SIZE": "32",
    "OTEL_BLRP_MAX_QUEUE_SIZE": "128",
    "OTEL_BLRP_MAX_EXPORT_BATCH_SIZE": "32",
}


def _request_ids(backend: TraceSink) -> set[str]:
    """The ``request_id`` of every span the backend received."""
    return {kv.value.string_value for span in backend.spans() for kv in span.attributes if kv.key == "request_id"}


@dataclass
class Pipeline:
    collector: Collector
    ports: CollectorPorts
    backend: TraceSink
    workdir: Path
    storage: Path
    env: dict[str, str]


@contextmanager
def collector(
    workdir: Path, backend: TraceSink, ports: CollectorPorts | None = None, *, storage: Path | None = None
) -> Iterator[Pipeline]:
    """A Collector exporting traces to ``backend``; its sending queue persists in ``storage`` (file_storage)."""
    ports = ports or CollectorPorts.allocate()
    storage = storage or workdir / "storage"
    workdir.mkdir(parents=True, exist_ok=True)
    env = {
        **ports.env(),
        "OTELCOL_STORAGE_DIR": str(storage),
        "LOGS_FILE_PATH": str(workdir / "logs.jsonl"),
        "TRACES_OTLP_ENDPOINT": backend.endpoint,
    }
    with running_collector(
        collector_binary(), [BASE_CONFIG], env=env, health_url=ports.health_url, log_path=workdir / "collector.log"
    ) as running:
        yield Pipeline(running, ports, backend, workdir, storage, env)


# --- load and measurements --------------------------------------------------------------------------


@dataclass
class Phase:
    samples: list[Any]
    threads: list[int]
    started: float
    ended: float

    @staticmethod
    def merge(phases: list[Phase]) -> Phase:
        return Phase(
            [s for p in phases for s in p.samples],
            [t for p in phases for t in p.threads],
            phases[0].started,
            phases[-1].ended,
        )

    def describe(self) -> str:
        ok = sorted(s.latency for s in self.served)
        q = statistics.quantiles(ok, n=100)
        ms = " ".join(f"{name}={value * 1000:.1f}" for name, value in (("p50", q[49]), ("p90", q[89]), ("p99", q[98])))
        return f"n={len(ok)} {ms} max={ok[-1] * 1000:.1f} ms, threads {self.threads}"

    @property
    def served(self) -> list[Any]:
        return [s for s in self.samples if s.status and s.status < 500]


def _run_phase(service: ServiceProcess, seconds: float) -> Phase:
    threads: list[int] = []
    started = time.monotonic()
    load = Load(service.url, workers=WORKERS, rate=RATE, duration_s=seconds, max_requests=int(WORKERS * RATE * seconds))
    load.start()
    while time.monotonic() - started < seconds:
        threads.append(service.threads())
        time.sleep(1.0)
    result = load.wait()
    return Phase(result.samples, threads, started, time.monotonic())


def _assert_served(phase: Phase, what: str) -> None:
    statuses = sorted({s.status for s in phase.samples})
    assert phase.samples, what
    assert all(200 <= s.status < 500 for s in phase.samples), f"{what}: statuses {statuses}"


def _assert_tail_latency_kept(healthy: list[Phase], degraded: list[Phase], what: str) -> None:
    good = LoadResult.typical_p99([phase.served for phase in healthy])
    bad = LoadResult.typical_p99([phase.served for phase in degraded])
    rounds = " ".join(
        f"{LoadResult.p99(h.served) * 1000:.0f}/{LoadResult.p99(d.served) * 1000:.0f}"
        for h, d in zip(healthy, degraded, strict=True)
    )
    figures = (
        f"healthy {Phase.merge(healthy).describe()}; degraded {Phase.merge(degraded).describe()}; "
        f"p99 ms healthy/degraded by round {rounds}; medians {good * 1000:.1f}/{bad * 1000:.1f}"
    )
    print(f"{what}: {figures}")  # see P99_NOISE_FLOOR_S
    assert bad <= max(P99_RATIO * good, good + P99_NOISE_FLOOR_S), f"{what}: {figures}"


def _sdk_log_lines(service: ServiceProcess, since_line: int) -> list[str]:
    lines = service.output().splitlines()[since_line:]
    return [line for line in lines if '"logger": "opentelemetry' in line or "telemetry dropped" in line]


# Every export() of the service's exporters, timed from inside the process: the only place an export
# attempt is visible as such over gRPC, where one HTTP/2 connection carries many attempts (see below).
TIME_EXPORTS = """
import json, os, time
import otel._exporters as _exporters

def _timed(make, signal):
    def build(settings):
        exporter = make(settings)
        if exporter is not None:
            export = exporter.export
            def timed(*args, **kwargs):
                started = time.monotonic()
                try:
                    return export(*args, **kwargs)
                finally:
                    line = {"signal": signal, "started": started, "seconds": time.monotonic() - started}
                    with open(os.environ["EXPORT_TIMINGS_PATH"], "a") as out:
                        out.write(json.dumps(line) + "\\n")
            exporter.export = timed
        return exporter
    return build

for _signal in ("span", "metric", "log"):
    setattr(_exporters, f"{_signal}_exporter", _timed(getattr(_exporters, f"{_signal}_exporter"), _signal))
"""


@dataclass(frozen=True)
class ExportCall:
    signal: str
    started: float  # CLOCK_MONOTONIC is system-wide, so comparable with this process's time.monotonic()
    seconds: float


def _export_calls(path: Path) -> list[ExportCall]:
    lines = path.read_text().splitlines() if path.exists() else []
    return [ExportCall(**json.loads(line)) for line in lines]


# --- the tests ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("protocol", ["http/protobuf", "grpc"])
@pytest.mark.parametrize("fault", ["closed", "hang"])
def test_a_dead_or_hanging_collector_under_load(tmp_path: Path, fault: Mode, protocol: str) -> None:
    timings = tmp_path / "exports.jsonl"
    with trace_sink() as backend, collector(tmp_path / "collector", backend) as pipeline:
        upstream = ("127.0.0.1", pipeline.ports.grpc if protocol == "grpc" else pipeline.ports.http)
        with running_switch(upstream) as switch:
            env = base_environment(
                tmp_path,
                OTEL_EXPORTER_OTLP_PROTOCOL=protocol,
                OTEL_EXPORTER_OTLP_ENDPOINT=switch.url,
                OTEL_EXPORTER_OTLP_TIMEOUT=str(OTLP_TIMEOUT_MS),
                EXPORT_TIMINGS_PATH=str(timings),
                LOG_LEVEL="WARNING",
                **QUEUE,
            )
            with running_service(tmp_path / "service", env, fault=TIME_EXPORTS) as service:
                _run_phase(service, 3)  # warm-up: imports, first connections, the thread pool
                wait_until(lambda: len(backend.spans()) > 0, timeout=30, what="spans at the backend")
                lines_before = len(service.output().splitlines())
                dropped_before = _dropped(service)
                # Healthy and faulty segments alternate, so a slow minute of the machine hits both alike.
                healthy: list[Phase] = []
                degraded: list[Phase] = []
                connections = []
                for _ in range(ROUNDS):
                    switch.set_mode("forward")
                    healthy.append(_run_phase(service, SEGMENT_S))
                    switch.set_mode(fault)
                    fault_started = time.monotonic()
                    degraded.append(_run_phase(service, SEGMENT_S))
                    connections.append(switch.opened_since(fault_started))
                log_lines = _sdk_log_lines(service, lines_before)
                dropped = _dropped(service) - dropped_before

    good, bad = Phase.merge(healthy), Phase.merge(degraded)
    _assert_served(good, "healthy")
    _assert_served(bad, f"collector {fault}")
    _assert_tail_latency_kept(healthy, degraded, f"{protocol} {fault}")
    # Flat: no thread is started per failed export; the worker pool does not grow past the healthy one.
    assert max(bad.threads) <= max(good.threads) + 1, (good.threads, bad.threads)
    assert dropped > 0, "nothing counted in mindhit.telemetry.dropped"
    # Logged once per interval, not per item: each message (per logger) at most once in the test.
    messages = [_template(line) for line in log_lines]
    assert len(messages) == len(set(messages)), log_lines
    assert len(log_lines) <= 15, log_lines
    assert sum("telemetry dropped" in line for line in log_lines) <= 1, log_lines
    # Every export attempt, retries included, gives up after the OTLP timeout.
    calls = _export_calls(timings)
    attempt_bound = OTLP_TIMEOUT_MS / 1000 + 1.0
    assert max(call.seconds for call in calls) <= attempt_bound, sorted(c.seconds for c in calls)[-10:]
    during = [c for c in calls if any(p.started <= c.started < p.ended for p in degraded)]
    if fault == "hang":
        # A hanging Collector never answers, so the exporters met it and waited out their deadline.
        assert any(c.seconds >= 0.9 * OTLP_TIMEOUT_MS / 1000 for c in during), during
        hung = [c for segment in connections for c in segment if c.mode == "hang"]
        assert hung, "the exporters never tried the hanging Collector"
        if protocol == "grpc":
            # A gRPC channel keeps its one HTTP/2 connection and ends only the timed-out call (RST_STREAM);
            # the connection whose handshake never completes is dropped after gRPC's own connect timeout
            # (20 s, beyond a segment). So attempts do not open connections: at most one per exporter
            # (traces, metrics, logs) in each hanging segment.
            assert max(len(segment) for segment in connections) <= 3, [len(s) for s in connections]
        else:
            # Over HTTP an attempt that times out closes its connection: none is held longer than that.
            held = [c.held_s for c in hung if c.closed is not None]
            assert held, "no connection to the hanging Collector was closed"
            assert max(held) <= attempt_bound, held


def _template(line: str) -> tuple[str, str]:
    entry = json.loads(line)
    return entry["logger"], re.sub(r"\d+", "N", entry["message"])


def _dropped(service: ServiceProcess) -> float:
    return metric_value(scrape(service), "mindhit_telemetry_dropped_total")


def test_export_resumes_after_the_collector_is_killed_and_restarted(tmp_path: Path) -> None:
    ports = CollectorPorts.allocate()
    with trace_sink() as backend, ExitStack() as stack:
        first = stack.enter_context(collector(tmp_path / "first", backend, ports))
        env = base_environment(
            tmp_path,
            OTEL_EXPORTER_OTLP_ENDPOINT=ports.otlp_http_url,
            OTEL_EXPORTER_OTLP_TIMEOUT=str(OTLP_TIMEOUT_MS),
            LOG_LEVEL="WARNING",
        )
        service = stack.enter_context(running_service(tmp_path / "service", env))
        pid = service.pid
        load = Load(service.url, workers=2, rate=20, duration_s=60, max_requests=2400).start()
        backend_has(backend, _marked_request(service, "before"))
        first.collector.process.kill()  # no goodbye: SIGKILL
        first.collector.process.wait(timeout=10)
        time.sleep(5)

        with collector(tmp_path / "second", backend, ports):
            restarted = time.monotonic()
            sent: set[str] = set()

            def resumed() -> bool:
                sent.add(_marked_request(service, "after"))
                return bool(_request_ids(backend) & sent)

            wait_until(resumed, timeout=15, what="spans at the backend after the restart", interval=0.5)
            elapsed = time.monotonic() - restarted
        result = load.stop()
        assert service.process.poll() is None  # the same process all along: never restarted
        assert service.pid == pid

    assert elapsed <= 15
    assert not [s for s in result.samples if s.status >= 500 or s.status == 0]


def _marked_request(service: ServiceProcess, tag: str) -> str:
    request_id = f"{tag}-{time.monotonic_ns()}"
    response = httpx.get(
        f"{service.url}/api/v1/sessions",
        headers={"Authorization": f"Bearer {token('marker')}", "X-Request-ID": request_id},
        timeout=10,
    )
    assert response.status_code == 200
    return request_id


def backend_has(backend: TraceSink, request_id: str, timeout: float = 30) -> None:
    wait_until(lambda: request_id in _request_ids(backend), timeout=timeout, what=f"span {request_id} at the backend")


@pytest.mark.parametrize("restart", [None, signal.SIGTERM, signal.SIGKILL], ids=["running", "sigterm", "sigkill"])
def test_a_backend_outage_loses_nothing_sent_during_it(tmp_path: Path, restart: signal.Signals | None) -> None:
    """Also across a Collector restart during the outage: the queue is on disk, so it outlives the process."""
    with trace_sink() as backend, ExitStack() as stack:
        pipeline = stack.enter_context(collector(tmp_path / "collector", backend))
        env = base_environment(tmp_path, OTEL_EXPORTER_OTLP_ENDPOINT=pipeline.ports.otlp_http_url, LOG_LEVEL="WARNING")
        with running_service(tmp_path / "service", env) as service:
            before = _marked_request(service, "before")
            backend_has(backend, before)
            backend.stop()
            during: set[str] = set()
            for _ in range(40):
                during.add(_marked_request(service, "during"))
                time.sleep(0.25)
            # The Collector has them, queued on disk (file_storage), while the backend is away.
            queued = wait_until(
                lambda: _queue_size(pipeline) > 0, timeout=20, what="the Collector's sending queue to hold data"
            )
            if restart is not None:
                # Only what reached the sending queue is on disk; the batch processor holds spans in
                # memory for up to its timeout (1 s), which SIGKILL would lose. So wait for the last ones.
                _wait_until_settled(pipeline)
                pipeline.collector.process.send_signal(restart)
                pipeline.collector.process.wait(timeout=30)
                pipeline = stack.enter_context(
                    collector(tmp_path / "restarted", backend, pipeline.ports, storage=pipeline.storage)
                )
                # The new process found the queue where the old one left it.
                queued = _queue_size(pipeline)
            backend.start()
            wait_until(
                lambda: (during | {before}) <= _request_ids(backend),
                timeout=90,
                what="every span sent during the outage to reach the returned backend",
                interval=0.5,
            )

    assert queued
    assert during <= _request_ids(backend)


def _wait_until_settled(pipeline: Pipeline) -> None:
    """Until the spans the Collector accepted have had time to leave its batch processor for the queue.

    The batch processor counts what it sends for all signals together, and metrics keep arriving, so its
    own metrics cannot say when the traces are through; no new span for longer than its timeout can.
    """
    quiet_s = 2 * BATCH_TIMEOUT_S + 0.5
    seen: list[tuple[float, float]] = []

    def settled() -> bool:
        text = httpx.get(pipeline.ports.telemetry_url, timeout=5).text
        seen.append((time.monotonic(), metric_value(text, "otelcol_receiver_accepted_spans")))
        changed = [at for (at, count), (_, before) in zip(seen[1:], seen, strict=False) if count != before]
        last_change = changed[-1] if changed else seen[0][0]
        return seen[-1][1] > 0 and time.monotonic() - last_change >= quiet_s

    wait_until(settled, timeout=30, what="the Collector to accept no new span for a while", interval=0.5)


def _queue_size(pipeline: Pipeline) -> float:
    text = httpx.get(pipeline.ports.telemetry_url, timeout=5).text
    return metric_value(text, "otelcol_exporter_queue_size", exporter="otlp_grpc/traces")
