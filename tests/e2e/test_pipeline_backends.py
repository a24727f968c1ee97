"""Backends are swapped by Collector overlays alone: one service process, started with the main
instance's environment but for its OTLP endpoint, talks to a second Collector ("Collector B") that
is restarted with different overlays and one unchanging environment between tests:

- collector/traces-jaeger.yaml: the trace lands in the stack's Jaeger, not in Zipkin;
- collector/traces-zipkin.yaml: the trace lands in the stack's Zipkin (and the base OTLP exporter's
  endpoint, a recording sink here), not in Jaeger;
- collector/metrics-remote-write.yaml: the series reach a Prometheus that scrapes nothing (so they
  came by remote write) with the names and labels the scraped ones have (instrumentation scope
  labels aside), and the Collector no longer serves its scrape endpoint.
"""

from __future__ import annotations

import operator
import subprocess
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import httpx
import pytest
from _backends import (
    Prometheus,
    Sample,
    TraceSpan,
    eventually,
    jaeger_trace,
    server_span_with_db_child,
    zipkin_trace,
)
from _collector import (
    BASE_CONFIG,
    BUILD_TIMEOUT_S,
    COLLECTOR_DIR,
    CollectorPorts,
    TraceSink,
    collector_binary,
    running_collector,
    trace_sink,
)
from _pipeline import Stack
from _stack import need_tools, wait_for
from _traffic import (
    MAIN_ENVIRONMENT,
    SESSION,
    SESSION_EVENTS,
    SESSIONS,
    ServiceProcess,
    TrafficRecord,
    event_batch,
)
from loopback_ports import free_ports

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(BUILD_TIMEOUT_S + 600)]

WAIT_S = 45.0
SERVER_SPAN = f"GET {SESSION}"
DB_SPAN = "SELECT sessions"
MAIN = f'service_name="mindhit-api", deployment_environment_name="{MAIN_ENVIRONMENT}"'


# ------------------------------------------------------------------- a Prometheus that only receives


@pytest.fixture(scope="module")
def remote_write_prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Prometheus]:
    """Prometheus with the remote-write receiver and no scrape configuration at all."""
    need_tools("prometheus")
    workdir = tmp_path_factory.mktemp("remote-write-prometheus")
    config = workdir / "prometheus.yml"
    config.write_text("global:\n  evaluation_interval: 1s\n")
    (port,) = free_ports(1)
    url = f"http://127.0.0.1:{port}"
    with (workdir / "prometheus.log").open("wb") as log:
        process = subprocess.Popen(  # noqa: S603  (the Debian binary, fixed arguments)
            [  # noqa: S607  (found on PATH like the stack scripts find it)
                "prometheus",
                f"--config.file={config}",
                f"--storage.tsdb.path={workdir / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--web.enable-remote-write-receiver",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for(f"{url}/-/ready", timeout=60)
        yield Prometheus(url)
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


# ---------------------------------------------------------------------------- Collector B and its user


@dataclass
class SwapRig:
    """Collector B's fixed ports and environment, and the service instance that talks to it."""

    binary: Path
    ports: CollectorPorts
    env: dict[str, str]
    workdir: Path
    service: ServiceProcess
    sink: TraceSink
    events_sent: Counter[str] = field(default_factory=Counter)
    runs: int = 0

    @contextmanager
    def collector(self, *overlays: str) -> Iterator[None]:
        """Collector B with collector-config.yaml and ``overlays``, and the service talking to it."""
        self.runs += 1
        configs = [BASE_CONFIG, *(COLLECTOR_DIR / overlay for overlay in overlays)]
        log = self.workdir / f"collector-{self.runs}-{'+'.join(overlays)}.log"
        with running_collector(self.binary, configs, env=self.env, health_url=self.ports.health_url, log_path=log):
            if self.service.process is None:
                # Started once the first Collector listens, so its start-up telemetry is not retried.
                self.service.start(ready_path="/ready")
            yield

    def request_a_trace(self) -> str:
        """A session with one batch of events, then one read of it; the read's trace id."""
        client = self.service.client("carol")
        session_id = client.call("POST", SESSIONS, json={"title": "swapping backends"}, expect=201).json()["id"]
        batch = {"page_view": 2, "highlight": 1}
        client.call("POST", SESSION_EVENTS, session_id=session_id, json=event_batch(batch), expect=201)
        self.events_sent.update(batch)
        return client.call("GET", SESSION, session_id=session_id, expect=200).headers["X-Trace-Id"]

    def sink_has(self, trace_id: str) -> bool:
        wanted = bytes.fromhex(trace_id)
        return any(
            span.trace_id == wanted
            for request in self.sink.snapshot()
            for resource_spans in request.resource_spans
            for scope_spans in resource_spans.scope_spans
            for span in scope_spans.spans
        )


@pytest.fixture(scope="module")
def rig(
    stack: Stack,
    api_service: ServiceProcess,
    remote_write_prometheus: Prometheus,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[SwapRig]:
    workdir = tmp_path_factory.mktemp("collector-b")
    ports = CollectorPorts.allocate()
    (service_port,) = free_ports(1)
    # The main instance's environment, endpoint aside (same database file, secret and export settings).
    env = {**api_service.env, "OTEL_EXPORTER_OTLP_ENDPOINT": ports.otlp_http_url}
    service = ServiceProcess("swap-service", env, service_port, workdir)
    with trace_sink() as sink:
        collector_env = {
            **ports.env(),
            "OTELCOL_STORAGE_DIR": str(workdir / "storage"),
            "LOGS_FILE_PATH": str(workdir / "logs.jsonl"),
            "OTELCOL_SPANMETRICS_FLUSH_INTERVAL": "1s",
            # Every backend address at once; the overlays decide which are used.
            "TRACES_OTLP_ENDPOINT": sink.endpoint,
            "JAEGER_OTLP_ENDPOINT": stack.jaeger_otlp_grpc_endpoint,
            "ZIPKIN_ENDPOINT": f"{stack.zipkin_url}/api/v2/spans",
            "PROMETHEUS_REMOTE_WRITE_URL": f"{remote_write_prometheus.url}/api/v1/write",
        }
        rig = SwapRig(collector_binary(), ports, collector_env, workdir, service, sink)
        try:
            yield rig
        finally:
            if service.process is not None and service.process.poll() is None:
                # Its last flush needs a Collector to flush to, or it retries for the export timeout.
                with rig.collector():
                    service.stop()


# --------------------------------------------------------------------------------------------- tests


def test_the_service_differs_from_the_main_instance_only_in_its_otlp_endpoint(
    rig: SwapRig, api_service: ServiceProcess
) -> None:
    swapped, main = rig.service.env, api_service.env
    changed = {key for key in swapped.keys() | main.keys() if swapped.get(key) != main.get(key)}
    assert changed == {"OTEL_EXPORTER_OTLP_ENDPOINT"}


def wait_for_trace(fetch: Callable[[str], list[TraceSpan]], trace_id: str, backend: str) -> None:
    eventually(
        lambda: fetch(trace_id),
        lambda spans: server_span_with_db_child(spans, SERVER_SPAN, DB_SPAN) is not None,
        timeout=WAIT_S,
        what=f"{backend} should hold trace {trace_id} with {SERVER_SPAN!r} and its {DB_SPAN!r} child",
    )


def test_traces_jaeger_overlay_sends_traces_to_jaeger(rig: SwapRig, stack: Stack) -> None:
    with rig.collector("traces-jaeger.yaml"):
        trace_id = rig.request_a_trace()
        wait_for_trace(lambda tid: jaeger_trace(stack.jaeger_url, tid), trace_id, "Jaeger")
        time.sleep(2)  # Zipkin would have had it by now from the same export
        assert zipkin_trace(stack.zipkin_url, trace_id) == [], "the Jaeger overlay does not send to Zipkin"
        assert not rig.sink_has(trace_id), "the Jaeger overlay re-points the base exporter away from its default"


def test_traces_zipkin_overlay_sends_traces_to_zipkin(rig: SwapRig, stack: Stack) -> None:
    with rig.collector("traces-zipkin.yaml"):
        trace_id = rig.request_a_trace()
        wait_for_trace(lambda tid: zipkin_trace(stack.zipkin_url, tid), trace_id, "Zipkin")
        eventually(lambda: rig.sink_has(trace_id), bool, timeout=WAIT_S, what="the base OTLP exporter's endpoint")
        time.sleep(2)  # Jaeger would have had it by now from the same export
        assert jaeger_trace(stack.jaeger_url, trace_id) == [], "without the Jaeger overlay nothing goes to Jaeger"


def test_metrics_remote_write_overlay_pushes_the_same_series(
    rig: SwapRig, stack: Stack, remote_write_prometheus: Prometheus, traffic: TrafficRecord
) -> None:
    with rig.collector("metrics-remote-write.yaml"):
        rig.request_a_trace()
        assert remote_write_prometheus.active_targets() == [], "this Prometheus scrapes nothing"
        remote_write_prometheus.wait_for_values(
            f"sum by (event_type) (mindhit_events_processed_total{{{MAIN}}})",
            ("event_type",),
            {(kind,): float(count) for kind, count in rig.events_sent.items()},
            timeout=WAIT_S,
        )
        for series in (
            "http_server_request_duration_seconds_bucket",
            "mindhit_sessions_active",
            "traces_span_metrics_calls_total",
            "log_records_total",
        ):
            selector = f"{series}{{{MAIN}}}"
            scraped = contract_labels(stack.prometheus.wait_for_samples(selector))
            # Series arrive one by one (span metrics of database spans before those of requests).
            eventually(
                partial(pushed_labels, remote_write_prometheus, selector),
                partial(operator.eq, scraped),
                timeout=WAIT_S,
                what=f"{selector} by remote write should carry the labels it has when scraped: {sorted(scraped)}",
            )
        with pytest.raises(httpx.ConnectError):
            httpx.get(rig.ports.metrics_url, timeout=2)  # the scrape exporter is not started


def pushed_labels(prometheus: Prometheus, selector: str) -> set[str]:
    return contract_labels(prometheus.query(selector))


def contract_labels(samples: list[Sample]) -> set[str]:
    """Label names, but the instrumentation scope's: the scrape exporter also writes
    otel_scope_schema_url, remote write does not, and no query reads either."""
    return {name for sample in samples for name in sample.labels if not name.startswith("otel_scope_")}
