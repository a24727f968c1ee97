"""The service as a real process, steady load on it, and OTLP endpoints that fail: for fault and load tests.

``running_service()`` starts ``python -m service`` on a free loopback port in its own folder (no
checkout ``.env`` leaks in), with a complete environment written here, and stops it with SIGTERM.
``fault`` is Python run in the child before the service starts, to inject a failure the way
``monkeypatch`` would in-process (the caller's code, never user input).

``Load`` sends mixed API traffic from a few threads at a fixed pace, bounded in time and count, and
records each request's latency and status. ``/proc`` gives a process's thread count and resident
memory. (A Collector that is down or hangs is ``tcp_switch``.)
"""

from __future__ import annotations

import os
import signal
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
from loopback_ports import closed_endpoint, free_port

from service.auth import create_access_token

REPO_ROOT = Path(__file__).resolve().parents[2]
JWT_SECRET = "fault-and-load-tests-secret-of-sufficient-length"
START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 30.0


def base_environment(workdir: Path, **overrides: str) -> dict[str, str]:
    """Production mode (JSON logs), SQLite in ``workdir``, fast exports; every value can be overridden."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": str(REPO_ROOT),
        "ENVIRONMENT": "production",
        "JWT_SECRET": JWT_SECRET,
        "DATABASE_URL": f"sqlite:///{workdir / 'mindhit.db'}",
        "LOG_LEVEL": "INFO",
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
        "OTEL_EXPORTER_OTLP_ENDPOINT": closed_endpoint(),
        "OTEL_METRIC_EXPORT_INTERVAL": "1000",
        "OTEL_BSP_SCHEDULE_DELAY": "200",
        "OTEL_BLRP_SCHEDULE_DELAY": "200",
        **overrides,
    }


def token(user: str, *, secret: str = JWT_SECRET, scopes: tuple[str, ...] = ()) -> str:
    return create_access_token(subject=user, secret=secret, algorithm="HS256", ttl=timedelta(minutes=30), scopes=scopes)


@dataclass
class ServiceProcess:
    process: subprocess.Popen[bytes]
    port: int
    env: dict[str, str]
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        return self.process.pid

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def threads(self) -> int:
        return _proc_status(self.pid, "Threads")

    def rss_kib(self) -> int:
        return _proc_status(self.pid, "VmRSS")

    def terminate(self, timeout: float = STOP_TIMEOUT_S) -> float:
        """SIGTERM, then wait; the seconds it took to exit (SIGKILL and a failure past ``timeout``)."""
        started = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)
            raise AssertionError(
                f"the service did not exit within {timeout} s of SIGTERM:\n{self.output()[-3000:]}"
            ) from None
        return time.monotonic() - started


def _proc_status(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{key}:"):
            return int(line.split()[1])
    raise KeyError(key)


@contextmanager
def running_service(workdir: Path, env: Mapping[str, str], *, fault: str | None = None) -> Iterator[ServiceProcess]:
    """Start the service, wait for ``/health``, and stop it afterwards (SIGTERM, SIGKILL if it hangs)."""
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    main = f"import sys; from service.cli import main; sys.exit(main(['--host', '127.0.0.1', '--port', '{port}']))"
    command = [sys.executable, "-c", f"{fault}\n{main}" if fault else main]
    log_path = workdir / f"service-{port}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(  # noqa: S603  (our own service, fixed arguments)
            command, cwd=workdir, env=dict(env), stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT
        )
    service = ServiceProcess(process, port, dict(env), log_path)
    try:
        _wait_healthy(service)
        yield service
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)


def _wait_healthy(service: ServiceProcess) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if service.process.poll() is not None:
            raise AssertionError(f"the service exited {service.process.returncode}:\n{service.output()[-3000:]}")
        try:
            if httpx.get(f"{service.url}/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"the service was not healthy within {START_TIMEOUT_S} s:\n{service.output()[-3000:]}")


# --- load -------------------------------------------------------------------------------------------

EVENT = {"type": "page_view", "url": "https://example.com/a", "title": "A page", "occurred_at": "2026-11-23T10:00:00Z"}


@dataclass
class Sample:
    started: float
    latency: float
    status: int  # 0: no response (connection refused or reset)
    label: str


@dataclass
class LoadResult:
    samples: list[Sample] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, sample: Sample) -> None:
        with self.lock:
            self.samples.append(sample)

    def between(self, start: float, end: float) -> list[Sample]:
        return [s for s in self.samples if start <= s.started < end]

    @staticmethod
    def p99(samples: list[Sample]) -> float:
        latencies = sorted(s.latency for s in samples)
        return statistics.quantiles(latencies, n=100, method="inclusive")[98] if len(latencies) > 1 else latencies[0]

    @staticmethod
    def typical_p99(segments: list[list[Sample]]) -> float:
        """The median over ``segments`` of each one's p99.

        For load that alternates healthy and faulty segments: a fault is present in every faulty segment
        and moves this median, while a stall of the machine lands in one segment and does not. The p99
        of all segments pooled is the 4th-largest of ~430 samples, and one stall moved it by +89 ms.
        """
        return statistics.median(LoadResult.p99(segment) for segment in segments)

    def statuses(self, samples: list[Sample] | None = None) -> Counter[int]:
        return Counter(s.status for s in (self.samples if samples is None else samples))


class Load:
    """``workers`` threads, each one user, each sending a mixed request every ``1 / rate`` seconds.

    The mix: start a session, post a batch of events, list sessions, read the session, list its
    events, every tenth round stop it and start another. ``additional`` adds one request of the caller's per round.
    Stops after ``duration_s`` or ``max_requests``, whichever comes first, or when ``stop()`` is called.
    """

    def __init__(
        self,
        base_url: str,
        *,
        workers: int = 4,
        rate: float = 20.0,
        duration_s: float = 15.0,
        max_requests: int = 20_000,
        additional: Callable[[httpx.Client, int], tuple[str, httpx.Response]] | None = None,
    ) -> None:
        self.base_url = base_url
        self.workers = workers
        self.interval = 1.0 / rate
        self.duration_s = duration_s
        self.max_requests = max_requests
        self.additional = additional
        self.result = LoadResult()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._budget = threading.Semaphore(max_requests)

    def start(self) -> Load:
        self._deadline = time.monotonic() + self.duration_s
        for index in range(self.workers):
            thread = threading.Thread(target=self._run, args=(index,), name=f"load-{index}", daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> LoadResult:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=30)
        return self.result

    def wait(self) -> LoadResult:
        for thread in self._threads:
            thread.join(timeout=self.duration_s + 30)
        return self.stop()

    def _running(self) -> bool:
        return not self._stop.is_set() and time.monotonic() < self._deadline

    def _run(self, index: int) -> None:
        user = f"load-user-{index}"
        headers = {"Authorization": f"Bearer {token(user)}"}
        with httpx.Client(base_url=self.base_url, headers=headers, timeout=15.0) as client:
            session_id: str | None = None
            round_number = 0
            next_at = time.monotonic()
            while self._running():
                round_number += 1
                for label, method, path, body in _round(session_id, round_number):
                    if not self._running() or not self._budget.acquire(blocking=False):
                        return
                    next_at = max(next_at + self.interval, time.monotonic())
                    time.sleep(max(0.0, next_at - time.monotonic()))
                    started = time.monotonic()
                    response: httpx.Response | None = None
                    try:
                        response = client.request(method, path, json=body)
                        status = response.status_code
                    except httpx.TransportError:
                        status = 0
                    self.result.add(Sample(started, time.monotonic() - started, status, label))
                    if label == "start" and response is not None and status == 201:
                        session_id = response.json()["id"]
                    elif label == "stop":
                        session_id = None
                if self.additional is not None and self._running() and self._budget.acquire(blocking=False):
                    started = time.monotonic()
                    try:
                        label, response = self.additional(client, round_number)
                        status = response.status_code
                    except httpx.TransportError:
                        label, status = "extra", 0
                    self.result.add(Sample(started, time.monotonic() - started, status, label))


def _round(session_id: str | None, round_number: int) -> list[tuple[str, str, str, Any]]:
    """One user's next requests: (label, method, path, JSON body)."""
    if session_id is None:
        return [("start", "POST", "/api/v1/sessions", {"title": "load"})]
    base = f"/api/v1/sessions/{session_id}"
    steps: list[tuple[str, str, str, Any]] = [
        ("events", "POST", f"{base}/events", {"events": [EVENT] * 5}),
        ("list", "GET", "/api/v1/sessions?limit=5", None),
        ("read", "GET", base, None),
        ("events-list", "GET", f"{base}/events", None),
    ]
    if round_number % 10 == 0:
        steps.append(("stop", "POST", f"{base}/stop", None))
    return steps


def unique_request_id() -> str:
    return f"req-{uuid.uuid4().hex[:20]}"


def metric_value(exposition: str, name: str, **labels: str) -> float:
    """The sum of the samples called ``name`` whose labels include ``labels`` in Prometheus text."""
    total = 0.0
    for line in exposition.splitlines():
        if line.startswith("#") or not line.startswith(name):
            continue
        head, _, value = line.rpartition(" ")
        metric, _, label_text = head.partition("{")
        if metric != name:
            continue
        if all(f'{key}="{expected}"' in label_text for key, expected in labels.items()):
            total += float(value)
    return total


def scrape(service: ServiceProcess, *, headers: Mapping[str, str] | None = None) -> str:
    return httpx.get(f"{service.url}/metrics", headers=dict(headers or {}), timeout=10).text


def wait_until(condition: Callable[[], Any], *, timeout: float, what: str, interval: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")
