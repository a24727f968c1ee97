"""Helpers for tests that run our Collector build (otelcol-mindhit) for real.

``collector_binary()`` finds or builds it, ``CollectorPorts`` hands out free loopback ports as the
environment variables collector-config.yaml reads, ``running_collector()`` starts it and waits for
its health check, and ``trace_sink()`` is an OTLP/gRPC trace backend that records what it is sent
(and can go away and come back on the same port).
Free ports, HTTP polling and skip-or-fail live in ``_stack``.
"""

import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from concurrent import futures
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest
from _stack import REPO_ROOT, http_get, missing
from loopback_ports import free_ports
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.proto.trace.v1.trace_pb2 import Span

BASE_CONFIG = REPO_ROOT / "collector-config.yaml"
COLLECTOR_DIR = REPO_ROOT / "collector"
BUILD_SCRIPT = REPO_ROOT / "scripts" / "build-collector.sh"
MANIFEST_NAME = "builder-config.yaml"
# A cold build takes 5-12 minutes on two cores; a fresh one answers in well under a second.
BUILD_TIMEOUT_S = 1800


def overlay_files() -> list[Path]:
    """Every config overlay under collector/ (all YAML files but the ocb manifest)."""
    return sorted(path for path in COLLECTOR_DIR.glob("*.yaml") if path.name != MANIFEST_NAME)


def collector_binary() -> Path:
    """``$OTELCOL_BIN``, else what scripts/build-collector.sh builds (a no-op when fresh).

    Skips the calling test when neither gives a binary, or fails it under ``REQUIRE_STACK=1``.
    """
    configured = os.environ.get("OTELCOL_BIN")
    if configured:
        binary = Path(configured)
        if not (binary.is_file() and os.access(binary, os.X_OK)):
            missing(f"OTELCOL_BIN={configured} is not an executable file")
        return binary
    try:
        result = subprocess.run(  # noqa: S603  (our own script, no user input)
            [str(BUILD_SCRIPT)],
            capture_output=True,
            text=True,
            timeout=BUILD_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        missing(f"{BUILD_SCRIPT.name} could not build the Collector: {exc}")
    lines = result.stdout.strip().splitlines()
    if result.returncode != 0 or not lines:
        missing(f"{BUILD_SCRIPT.name} failed ({result.returncode}): {result.stderr.strip()[-2000:]}")
    return Path(lines[-1])


def validate(binary: Path, *configs: Path, env: Mapping[str, str] | None = None) -> None:
    """``otelcol validate`` on the configs layered in order; fails the test with the Collector's words."""
    args = [str(binary), "validate", *(f"--config={config}" for config in configs)]
    result = subprocess.run(  # noqa: S603  (our binary, our files)
        args, capture_output=True, text=True, timeout=60, check=False, env=env
    )
    if result.returncode != 0:
        pytest.fail(f"{' '.join(args)} exited {result.returncode}:\n{result.stderr.strip()}")


@dataclass(frozen=True)
class CollectorPorts:
    """One free loopback port per listener of collector-config.yaml."""

    grpc: int
    http: int
    prometheus: int
    telemetry: int
    health: int
    zpages: int
    pprof: int

    @classmethod
    def allocate(cls) -> "CollectorPorts":
        return cls(*free_ports(7))

    def env(self) -> dict[str, str]:
        """The environment variables collector-config.yaml reads its addresses from."""
        return {
            "OTELCOL_OTLP_GRPC_ENDPOINT": f"127.0.0.1:{self.grpc}",
            "OTELCOL_OTLP_HTTP_ENDPOINT": f"127.0.0.1:{self.http}",
            "OTELCOL_PROMETHEUS_ENDPOINT": f"127.0.0.1:{self.prometheus}",
            "OTELCOL_TELEMETRY_HOST": "127.0.0.1",
            "OTELCOL_TELEMETRY_PORT": str(self.telemetry),
            "OTELCOL_HEALTH_ENDPOINT": f"127.0.0.1:{self.health}",
            "OTELCOL_ZPAGES_ENDPOINT": f"127.0.0.1:{self.zpages}",
            "OTELCOL_PPROF_ENDPOINT": f"127.0.0.1:{self.pprof}",
        }

    @property
    def otlp_http_url(self) -> str:
        return f"http://127.0.0.1:{self.http}"

    @property
    def metrics_url(self) -> str:
        """The prometheus exporter: the service's metrics and those made in the Collector."""
        return f"http://127.0.0.1:{self.prometheus}/metrics"

    @property
    def telemetry_url(self) -> str:
        """The Collector's own metrics (otelcol_*)."""
        return f"http://127.0.0.1:{self.telemetry}/metrics"

    @property
    def health_url(self) -> str:
        return f"http://127.0.0.1:{self.health}/"


@dataclass
class Collector:
    process: "subprocess.Popen[bytes]"
    log_path: Path

    def log_tail(self, chars: int = 4000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:]


@contextmanager
def running_collector(
    binary: Path,
    configs: Sequence[Path],
    *,
    env: Mapping[str, str],
    health_url: str,
    log_path: Path,
    timeout: float = 60.0,
) -> Iterator[Collector]:
    """Start the Collector with ``configs`` layered in order, wait until healthy, stop it afterwards.

    ``env`` is added to this process's environment. The Collector's own log goes to ``log_path`` and
    ends any failure message.
    """
    args = [str(binary), *(f"--config={config}" for config in configs)]
    with log_path.open("wb") as log:
        process = subprocess.Popen(  # noqa: S603  (our binary, our files)
            args, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **env}
        )
    collector = Collector(process, log_path)
    try:
        _wait_healthy(collector, health_url, timeout)
        yield collector
    finally:
        _stop(process)


def _wait_healthy(collector: Collector, url: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        if collector.process.poll() is not None:
            pytest.fail(f"the Collector exited {collector.process.returncode}:\n{collector.log_tail()}")
        try:
            status, body = http_get(url, timeout=2.0)
        except OSError as exc:
            last = exc
        else:
            if status == 200:
                return
            last = f"HTTP {status}: {body[:200]!r}"
        time.sleep(0.2)
    pytest.fail(f"the Collector was not healthy at {url} within {timeout:.0f} s ({last}):\n{collector.log_tail()}")


def _stop(process: "subprocess.Popen[bytes]") -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


class TraceSink:
    """An OTLP/gRPC trace backend on a loopback port that records what it is sent. ``stop()`` takes it
    away and ``start()`` brings it back on the same port, as a backend outage would."""

    def __init__(self) -> None:
        self.port = 0  # the first start() takes a free one
        self.requests: list[trace_service_pb2.ExportTraceServiceRequest] = []
        self._lock = threading.Lock()
        self._server: grpc.Server | None = None

    @property
    def endpoint(self) -> str:
        """``host:port``."""
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        sink = self

        class _Traces(trace_service_pb2_grpc.TraceServiceServicer):
            def Export(self, request: Any, context: Any) -> Any:  # noqa: N802  (generated gRPC method name)
                sink.add(request)
                return trace_service_pb2.ExportTraceServiceResponse()

        server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
        trace_service_pb2_grpc.add_TraceServiceServicer_to_server(_Traces(), server)
        self.port = server.add_insecure_port(self.endpoint)
        server.start()
        self._server = server

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop(grace=None).wait(5)
            self._server = None

    def add(self, request: trace_service_pb2.ExportTraceServiceRequest) -> None:
        with self._lock:
            self.requests.append(request)

    def snapshot(self) -> list[trace_service_pb2.ExportTraceServiceRequest]:
        with self._lock:
            return list(self.requests)

    def spans(self) -> list[Span]:
        """Every span received so far."""
        return [
            span
            for request in self.snapshot()
            for resource_spans in request.resource_spans
            for scope_spans in resource_spans.scope_spans
            for span in scope_spans.spans
        ]


@contextmanager
def trace_sink() -> Iterator[TraceSink]:
    """A running ``TraceSink`` on a free loopback port."""
    sink = TraceSink()
    sink.start()
    try:
        yield sink
    finally:
        sink.stop()
