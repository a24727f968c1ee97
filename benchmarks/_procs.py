"""Processes the benchmark starts: the Collector and the two services, each pinned to its CPUs.

Every process is started in its own session and stopped by its own PID (SIGTERM, then SIGKILL after a
grace period), so nothing else on the machine is ever signalled.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx

REPO_ROOT = Path(__file__).resolve().parents[1]
COLLECTOR_OVERLAY = Path(__file__).with_name("collector-overlay.yaml")
READY_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 30.0


class BenchError(RuntimeError):
    """A precondition or a component failed; the message says which and where its log is."""


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def pinned(command: Sequence[str], cpus: str | None) -> list[str]:
    """``command`` run by ``taskset -c cpus`` when both a CPU list and taskset are there."""
    if cpus and shutil.which("taskset"):
        return ["taskset", "-c", cpus, *command]
    return list(command)


def rss_kib(pid: int) -> int:
    """Resident set size of one process, from /proc (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise BenchError(f"no VmRSS for pid {pid}")


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of one process, all its threads included (exporters too)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Process:
    name: str
    command: list[str]
    env: Mapping[str, str]
    workdir: Path
    popen: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def log_path(self) -> Path:
        return self.workdir / f"{self.name}.log"

    @property
    def pid(self) -> int:
        if self.popen is None:
            raise BenchError(f"{self.name} is not running")
        return self.popen.pid

    def log_tail(self, chars: int = 3000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:] if self.log_path.exists() else ""

    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.popen = subprocess.Popen(  # noqa: S603  (our own commands, fixed arguments)
                self.command,
                cwd=self.workdir,
                env=dict(self.env),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def wait_ready(self, url: str, *, timeout: float = READY_TIMEOUT_S) -> None:
        deadline = time.monotonic() + timeout
        last: object = None
        while time.monotonic() < deadline:
            if self.popen is not None and self.popen.poll() is not None:
                raise BenchError(f"{self.name} exited {self.popen.returncode}:\n{self.log_tail()}")
            try:
                response = httpx.get(url, timeout=2.0)
            except httpx.HTTPError as exc:
                last = exc
            else:
                if response.status_code == 200:
                    return
                last = f"HTTP {response.status_code}"
            time.sleep(0.2)
        self.stop()
        raise BenchError(f"{self.name} not ready at {url} ({last}):\n{self.log_tail()}")

    def stop(self) -> int | None:
        """SIGTERM and wait (the service flushes its telemetry on the way out); SIGKILL after a grace."""
        popen = self.popen
        if popen is None:
            return None
        if popen.poll() is None:
            popen.send_signal(signal.SIGTERM)
            try:
                popen.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                os.killpg(popen.pid, signal.SIGKILL)
                popen.wait(timeout=10)
        return popen.returncode


@dataclass
class Collector(Process):
    """Our Collector build on the base config plus the benchmark overlay, on free loopback ports."""

    otlp_http_port: int = 0
    otlp_grpc_port: int = 0
    telemetry_port: int = 0
    health_port: int = 0

    @classmethod
    def create(cls, binary: Path, workdir: Path, *, cpus: str | None) -> Collector:
        grpc, http, prom, telemetry, health, zpages, pprof = free_ports(7)
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "OTELCOL_OTLP_GRPC_ENDPOINT": f"127.0.0.1:{grpc}",
            "OTELCOL_OTLP_HTTP_ENDPOINT": f"127.0.0.1:{http}",
            "OTELCOL_PROMETHEUS_ENDPOINT": f"127.0.0.1:{prom}",
            "OTELCOL_TELEMETRY_HOST": "127.0.0.1",
            "OTELCOL_TELEMETRY_PORT": str(telemetry),
            "OTELCOL_HEALTH_ENDPOINT": f"127.0.0.1:{health}",
            "OTELCOL_ZPAGES_ENDPOINT": f"127.0.0.1:{zpages}",
            "OTELCOL_PPROF_ENDPOINT": f"127.0.0.1:{pprof}",
            "OTELCOL_STORAGE_DIR": str(workdir / "storage"),
            "LOGS_FILE_PATH": str(workdir / "logs.jsonl"),
            # A generous memory limit: the memory_limiter must never refuse data in a benchmark.
            "OTELCOL_MEMORY_LIMIT_MIB": "1024",
            "OTELCOL_MEMORY_SPIKE_LIMIT_MIB": "256",
        }
        command = [
            str(binary),
            f"--config={REPO_ROOT / 'collector-config.yaml'}",
            f"--config={COLLECTOR_OVERLAY}",
        ]
        return cls(
            "collector",
            pinned(command, cpus),
            env,
            workdir,
            otlp_http_port=http,
            otlp_grpc_port=grpc,
            telemetry_port=telemetry,
            health_port=health,
        )

    @property
    def otlp_http_url(self) -> str:
        return f"http://127.0.0.1:{self.otlp_http_port}"

    @property
    def otlp_grpc_url(self) -> str:
        return f"http://127.0.0.1:{self.otlp_grpc_port}"

    def expand(self, value: str) -> str:
        """``{otlp_grpc}`` and ``{otlp_http}`` in a setting become this Collector's endpoints."""
        return value.replace("{otlp_grpc}", self.otlp_grpc_url).replace("{otlp_http}", self.otlp_http_url)

    def up(self) -> None:
        self.start()
        self.wait_ready(f"http://127.0.0.1:{self.health_port}/")

    def accepted(self) -> dict[str, float]:
        """The OTLP receiver's accepted/refused/failed counters (the Collector's own metrics)."""
        text = httpx.get(f"http://127.0.0.1:{self.telemetry_port}/metrics", timeout=5.0).text
        totals: dict[str, float] = {}
        for line in text.splitlines():
            if not line.startswith("otelcol_receiver_") or 'receiver="otlp"' not in line:
                continue
            name = line.split("{", 1)[0]
            totals[name] = totals.get(name, 0.0) + float(line.rsplit(" ", 1)[1])
        return totals


def collector_binary() -> Path:
    """What scripts/build-collector.sh prints (it builds only when the manifest changed)."""
    result = subprocess.run(  # noqa: S603  (our own script)
        [str(REPO_ROOT / "scripts" / "build-collector.sh")], capture_output=True, text=True, check=False
    )
    lines = result.stdout.strip().splitlines()
    if result.returncode != 0 or not lines:
        raise BenchError(f"scripts/build-collector.sh failed: {result.stderr.strip()[-2000:]}")
    return Path(lines[-1])


@dataclass
class Service(Process):
    """``python -m benchmarks.serve`` (the service, counted) on its own port, database and folder."""

    port: int = 0
    instrumented: bool = True

    @classmethod
    def create(
        cls,
        name: str,
        workdir: Path,
        *,
        instrumented: bool,
        otlp_endpoint: str,
        jwt_secret: str,
        cpus: str | None,
        extra_env: Mapping[str, str] | None = None,
    ) -> Service:
        (port,) = free_ports(1)
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "PYTHONPATH": str(REPO_ROOT),
            # Production settings: JSON console logs, the request log at INFO.
            "ENVIRONMENT": "production",
            "LOG_LEVEL": "INFO",
            "JWT_SECRET": jwt_secret,
            "DATABASE_URL": f"sqlite:///{workdir / 'mindhit.db'}",
            "OTEL_SDK_DISABLED": "false" if instrumented else "true",
            "OTEL_EXPORTER_OTLP_ENDPOINT": otlp_endpoint,
            "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
            "OTEL_TRACES_SAMPLER": "always_on",
            "BENCH_COUNTS_FILE": str(workdir / "counts.json"),
            **(extra_env or {}),
        }
        command = [sys.executable, "-m", "benchmarks.serve", "--port", str(port)]
        return cls(name, pinned(command, cpus), env, workdir, port=port, instrumented=instrumented)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def up(self) -> None:
        counts = self.workdir / "counts.json"
        counts.unlink(missing_ok=True)
        self.start()
        self.wait_ready(f"{self.url}/ready")

    def counts(self) -> dict[str, int]:
        """What the service's SDK was handed (written by benchmarks.serve at exit); empty when bare."""
        path = self.workdir / "counts.json"
        if not path.exists():
            return {}
        data: dict[str, int] = json.loads(path.read_text())
        return data
