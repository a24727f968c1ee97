"""Several worker processes behind one port, each exporting all three signals under its own identity.

`python -m service --workers 2` (uvicorn's supervisor) and gunicorn with uvicorn workers and
``--preload`` (the app object is built before the fork). Every worker runs the lifespan, and so
configures telemetry of its own with a fresh ``service.instance.id``. The proof goes through the real
pipeline, OTLP to the stack's Collector and PromQL on the stack's Prometheus, where each signal shows
one series per worker: span metrics (traces), ``log_records_total`` (logs) and the service's own
metrics.

The workers' metric export interval is longer than the test, so their counters reach Prometheus only
through the flush each worker does as it exits: the sum equalling the requests sent proves that every
worker started, served, shut down and flushed, and the server exiting in time that nothing deadlocked.

The last test takes the scale path of docs/scaling.md: the workers send to a Collector agent
(collector/agent.yaml) whose load_balancing exporter feeds a gateway (collector/gateway.yaml) that
remote-writes into the stack's Prometheus.
"""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from _backends import Prometheus, eventually
from _collector import BASE_CONFIG, BUILD_TIMEOUT_S, COLLECTOR_DIR, CollectorPorts, collector_binary, running_collector
from _pipeline import Stack
from _stack import http_get, missing
from _traffic import SESSION, SESSIONS, service_environment
from loopback_ports import free_ports

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(BUILD_TIMEOUT_S + 600)]

WORKERS = 2
# Sessions started, then read back: every request on a connection of its own, so the kernel spreads
# them over the workers.
SESSIONS_STARTED = 30
# Apart from the pipeline tests' instances (deployment environments "test" and "staging").
ENVIRONMENT = "production"
READY_TIMEOUT_S = 90.0
# Generous for a loaded CI machine; a deadlocked worker never exits at all.
EXIT_TIMEOUT_S = 45.0
# Longer than any test: metrics are pushed only by the flush at exit.
EXPORT_INTERVAL_MS = "600000"
WAIT_S = 60.0


def _server_command(kind: str, port: int) -> list[str]:
    if kind == "uvicorn":
        return [sys.executable, "-m", "service", "--host", "127.0.0.1", "--port", str(port), "--workers", str(WORKERS)]
    for module in ("gunicorn", "uvicorn_worker"):
        if importlib.util.find_spec(module) is None:
            missing(f"{module} is not installed (pip install gunicorn uvicorn-worker)")
    return [
        *(sys.executable, "-m", "gunicorn", "--workers", str(WORKERS), "--bind", f"127.0.0.1:{port}"),
        *("--worker-class", "uvicorn_worker.UvicornWorker", "--preload", "--graceful-timeout", "30"),
        "service.app:create_app()",
    ]


@dataclass
class Server:
    """The master process of a multi-worker server and what was sent to it."""

    kind: str
    service_name: str
    process: subprocess.Popen[bytes]
    port: int
    log_path: Path
    sent: Counter[tuple[str, str, str]]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log_tail(self, chars: int = 4000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:]


def _token(env: Mapping[str, str], workdir: Path) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "service", "token", "--user", "worker-test"],
        cwd=workdir,
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return result.stdout.strip()


def _wait_ready(server: Server) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            pytest.fail(f"{server.kind} exited {server.process.returncode} at start:\n{server.log_tail()}")
        try:
            if http_get(f"{server.url}/ready", timeout=2.0)[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.3)
    pytest.fail(f"{server.kind} not ready within {READY_TIMEOUT_S:.0f} s:\n{server.log_tail()}")


def _stop(server: Server) -> int:
    """SIGTERM to the master; its workers shut down (flushing telemetry) before it exits."""
    if server.process.poll() is None:
        server.process.send_signal(signal.SIGTERM)
    try:
        return server.process.wait(timeout=EXIT_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(server.process.pid, signal.SIGKILL)
        server.process.wait(timeout=10)
        pytest.fail(f"{server.kind} did not exit within {EXIT_TIMEOUT_S:.0f} s of SIGTERM:\n{server.log_tail()}")


@contextmanager
def running_server(kind: str, otlp_endpoint: str, stack: Stack, workdir: Path) -> Iterator[Server]:
    workdir.mkdir(parents=True, exist_ok=True)
    service_name = f"mindhit-workers-{kind}-{uuid.uuid4().hex[:8]}"
    env = {
        **service_environment(
            otlp_endpoint=otlp_endpoint,
            database_url=f"sqlite:///{workdir / 'mindhit.db'}",
            jwt_secret=stack.secret("jwt_secret"),
            webhook_token=stack.secret("webhook-token"),
            alert_channels={},
            environment=ENVIRONMENT,
        ),
        "OTEL_SERVICE_NAME": service_name,
        "OTEL_METRIC_EXPORT_INTERVAL": EXPORT_INTERVAL_MS,
    }
    (port,) = free_ports(1)
    log_path = workdir / f"{kind}.log"
    with log_path.open("ab") as log:
        process = subprocess.Popen(  # noqa: S603  (our own service, fixed arguments)
            _server_command(kind, port),
            cwd=workdir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = Server(kind, service_name, process, port, log_path, Counter())
    try:
        _wait_ready(server)
        _send_traffic(server, _token(env, workdir))
        yield server
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


def _send_traffic(server: Server, token: str) -> None:
    headers = {"Authorization": f"Bearer {token}"}

    def call(method: str, route: str, expect: int, **params: str) -> httpx.Response:
        # No shared client: a connection per request, which any worker may accept.
        response = httpx.request(
            method,
            server.url + route.format(**params),
            json={"title": "many workers"} if method == "POST" else None,
            headers={**headers, "Connection": "close"},
            timeout=30,
        )
        assert response.status_code == expect, f"{method} {route}: {response.status_code} {response.text[:300]}"
        return response

    with ThreadPoolExecutor(max_workers=8) as pool:
        started = list(pool.map(lambda _: call("POST", SESSIONS, 201), range(SESSIONS_STARTED)))
        list(pool.map(lambda r: call("GET", SESSION, 200, session_id=r.json()["id"]), started))
    server.sent.update({("POST", SESSIONS, "201"): SESSIONS_STARTED, ("GET", SESSION, "200"): SESSIONS_STARTED})


def _stop_cleanly(server: Server) -> None:
    code = _stop(server)
    log = server.log_tail(10**7)
    assert code == 0, f"{server.kind} exited {code}:\n{server.log_tail()}"
    assert "Traceback" not in log, f"{server.kind} logged a traceback:\n{server.log_tail()}"
    assert "did not finish" not in log, f"a worker's telemetry flush timed out:\n{server.log_tail()}"


def _per_instance(prometheus: Prometheus, expr: str) -> dict[str, float]:
    return {key[0]: value for key, value in prometheus.values(expr, "service_instance_id").items()}


def _assert_every_worker_exported_everything(prometheus: Prometheus, server: Server) -> None:
    """One series per worker for each signal, the same instance ids throughout, nothing lost."""
    selector = f'service_name="{server.service_name}", deployment_environment_name="{ENVIRONMENT}"'
    sent = sum(server.sent.values())

    # Metrics, pushed only at exit: each worker announced mindhit.sessions.active at start.
    sessions = eventually(
        lambda: _per_instance(prometheus, f"sum by (service_instance_id) (mindhit_sessions_active{{{selector}}})"),
        lambda found: len(found) == WORKERS and sum(found.values()) == SESSIONS_STARTED,
        timeout=WAIT_S,
        what=f"mindhit_sessions_active of {WORKERS} workers, summing to {SESSIONS_STARTED}",
    )
    instances = set(sessions)
    requests = eventually(
        lambda: _per_instance(
            prometheus,
            f"sum by (service_instance_id) (http_server_request_duration_seconds_count{{{selector}}})",
        ),
        lambda found: sum(found.values()) == sent,
        timeout=WAIT_S,
        what=f"http_server_request_duration_seconds_count summed over the workers = {sent} requests sent",
    )
    assert set(requests) <= instances, f"requests counted under unknown instances: {requests} vs {instances}"

    # Traces, through the span_metrics connector: every worker's spans (at least its start-up queries).
    eventually(
        lambda: _per_instance(
            prometheus, f"sum by (service_instance_id) (traces_span_metrics_calls_total{{{selector}}})"
        ),
        lambda found: set(found) == instances,
        timeout=WAIT_S,
        what=f"span metrics under each worker's instance id {sorted(instances)}",
    )
    server_spans = f'sum(traces_span_metrics_calls_total{{{selector}, span_kind="SPAN_KIND_SERVER"}})'
    eventually(
        lambda: prometheus.query(server_spans),
        lambda found: bool(found) and found[0].value == sent,
        timeout=WAIT_S,
        what=f"{server_spans} = {sent} requests sent",
    )

    # Logs, through the count connector: every worker's records, a request log line per request at least.
    eventually(
        lambda: _per_instance(prometheus, f"sum by (service_instance_id) (log_records_total{{{selector}}})"),
        lambda found: set(found) == instances and sum(found.values()) >= sent,
        timeout=WAIT_S,
        what=f"log record counts under each worker's instance id {sorted(instances)}",
    )


@pytest.mark.parametrize("kind", ["uvicorn", "gunicorn"])
def test_every_worker_exports_all_signals_under_its_own_instance_id(kind: str, stack: Stack, tmp_path: Path) -> None:
    with running_server(kind, stack.otlp_http_url, stack, tmp_path) as server:
        _stop_cleanly(server)
    _assert_every_worker_exported_everything(stack.prometheus, server)


def test_workers_through_agent_and_gateway_tiers(stack: Stack, tmp_path: Path) -> None:
    """Workers → agent (load_balancing) → gateway → Prometheus remote write, the overlays as shipped."""
    binary = collector_binary()
    gateway_ports, agent_ports = CollectorPorts.allocate(), CollectorPorts.allocate()
    (closed,) = free_ports(1)
    gateway_env = {
        **gateway_ports.env(),
        "OTELCOL_STORAGE_DIR": str(tmp_path / "gateway-storage"),
        "REMOTE_WRITE_URL": f"{stack.urls['PROMETHEUS_URL']}/api/v1/write",
        "TEMPO_OTLP_ENDPOINT": stack.jaeger_otlp_grpc_endpoint,
        # No Loki here: the gateway's log export fails and retries; this test reads logs through counts.
        "LOKI_OTLP_ENDPOINT": f"http://127.0.0.1:{closed}/otlp",
    }
    agent_env = {
        **agent_ports.env(),
        "OTELCOL_STORAGE_DIR": str(tmp_path / "agent-storage"),
        # An IP literal resolves to itself: one gateway (a name could also resolve to ::1).
        "GATEWAY_HOSTNAME": "127.0.0.1",
        "GATEWAY_OTLP_PORT": str(gateway_ports.grpc),
        "OTELCOL_SPANMETRICS_FLUSH_INTERVAL": "1s",
    }
    with (
        running_collector(
            binary,
            [BASE_CONFIG, COLLECTOR_DIR / "gateway.yaml"],
            env=gateway_env,
            health_url=gateway_ports.health_url,
            log_path=tmp_path / "gateway.log",
        ),
        running_collector(
            binary,
            [BASE_CONFIG, COLLECTOR_DIR / "agent.yaml"],
            env=agent_env,
            health_url=agent_ports.health_url,
            log_path=tmp_path / "agent.log",
        ),
    ):
        with running_server("uvicorn", agent_ports.otlp_http_url, stack, tmp_path / "service") as server:
            _stop_cleanly(server)
        _assert_every_worker_exported_everything(stack.prometheus, server)
