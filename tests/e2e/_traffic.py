"""The service as a real process pointed at a Collector, tokens minted by its own CLI, and known traffic.

``service_environment()`` is the one place an instance's environment is written: nothing comes from
the test runner's own. The listening port is a command-line argument, not part of the environment, so
an instance can be started twice with one environment but its OTLP endpoint (the backend-swap test).

The traffic functions return what they sent in the shape the pipeline reports it: requests counted by
(method, route template, status), events by type. Expected values in the tests come from these
records, never from hand-kept numbers.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from _stack import REPO_ROOT, http_get
from fake_slack import FakeSlack

READY_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 15.0

# The route templates are the `http.route` of the server spans and metrics.
SESSIONS = "/api/v1/sessions"
SESSION = "/api/v1/sessions/{session_id}"
SESSION_EVENTS = "/api/v1/sessions/{session_id}/events"
SESSION_STOP = "/api/v1/sessions/{session_id}/stop"
# deployment.environment.name of the instance that serves the known traffic, and of the one whose
# database is down: apart, so the exact counts of one never include the other's requests.
MAIN_ENVIRONMENT = "test"
OUTAGE_ENVIRONMENT = "staging"


@dataclass(frozen=True)
class AlertChannels:
    """Where service instances deliver the alerts they raise: ``env`` configures it, ``slack`` records."""

    slack: FakeSlack
    env: dict[str, str]

    def slack_texts(self) -> list[str]:
        """The text of every message posted to the fake Slack so far."""
        return [str(request.body.get("text")) for request in self.slack.requests]


def service_environment(
    *,
    otlp_endpoint: str,
    database_url: str,
    jwt_secret: str,
    webhook_token: str,
    alert_channels: Mapping[str, str],
    environment: str = MAIN_ENVIRONMENT,
) -> dict[str, str]:
    """The whole environment of a service instance: nothing is inherited from the test runner's.

    Export intervals are short so the tests wait seconds, not a minute: metrics every second, spans
    and log records after 200 ms. ``alert_channels`` configures where the service delivers alerts.
    """
    return {
        **alert_channels,
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": str(REPO_ROOT),
        "ENVIRONMENT": environment,
        "DATABASE_URL": database_url,
        "JWT_SECRET": jwt_secret,
        "ALERTMANAGER_WEBHOOK_TOKEN": webhook_token,
        "LOG_LEVEL": "INFO",
        "OTEL_EXPORTER_OTLP_ENDPOINT": otlp_endpoint,
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
        "OTEL_METRIC_EXPORT_INTERVAL": "1000",
        "OTEL_BSP_SCHEDULE_DELAY": "200",
        "OTEL_BLRP_SCHEDULE_DELAY": "200",
    }


@dataclass
class ServiceProcess:
    """``python -m service --port PORT`` run from its own folder (no checkout ``.env`` leaks in)."""

    name: str
    env: Mapping[str, str]
    port: int
    workdir: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.workdir / f"{self.name}.log"

    def log_tail(self, chars: int = 3000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:] if self.log_path.exists() else ""

    def run_cli(self, *args: str) -> str:
        """A ``python -m service`` command with this instance's environment; its standard output."""
        result = subprocess.run(  # noqa: S603  (our own CLI, fixed arguments)
            [sys.executable, "-m", "service", *args],
            cwd=self.workdir,
            env=dict(self.env),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, f"python -m service {' '.join(args)} failed:\n{result.stderr[-2000:]}"
        return result.stdout.strip()

    def token(self, user: str) -> str:
        """A bearer token minted by the service's own CLI, with the instance's JWT secret."""
        return self.run_cli("token", "--user", user)

    def client(self, user: str) -> ApiClient:
        return ApiClient(self.url, self.token(user))

    def start(self, *, ready_path: str) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(  # noqa: S603  (our own service, fixed arguments)
                [sys.executable, "-m", "service", "--host", "127.0.0.1", "--port", str(self.port)],
                cwd=self.workdir,
                env=dict(self.env),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + READY_TIMEOUT_S
        last: object = None
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"{self.name} exited {self.process.returncode}:\n{self.log_tail()}", pytrace=False)
            try:
                status, body = http_get(f"{self.url}{ready_path}", timeout=2.0)
            except OSError as exc:
                last = exc
            else:
                if status == 200:
                    return
                last = f"HTTP {status}: {body[:200]!r}"
            time.sleep(0.3)
        self.stop()
        pytest.fail(f"{self.name} not ready at {ready_path} ({last}):\n{self.log_tail()}", pytrace=False)

    def stop(self) -> None:
        """SIGTERM (the lifespan flushes every signal), SIGKILL to its process group after a grace."""
        process = self.process
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)


@contextmanager
def running_service(
    name: str, env: Mapping[str, str], *, port: int, workdir: Path, ready_path: str = "/ready"
) -> Iterator[ServiceProcess]:
    service = ServiceProcess(name, env, port, workdir)
    try:
        service.start(ready_path=ready_path)
        yield service
    finally:
        service.stop()


@dataclass
class ApiClient:
    """Calls by route template, each counted as the pipeline will count it."""

    base_url: str
    token: str
    sent: Counter[tuple[str, str, str]] = field(default_factory=Counter)

    def call(self, method: str, route: str, *, expect: int, json: Any = None, **path_params: str) -> httpx.Response:
        response = httpx.request(
            method,
            self.base_url + route.format(**path_params),
            json=json,
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=15.0,
        )
        assert response.status_code == expect, f"{method} {route}: {response.status_code} {response.text[:300]}"
        self.sent[(method, route, str(response.status_code))] += 1
        return response


def event_batch(counts: Mapping[str, int]) -> dict[str, Any]:
    now = datetime.now(UTC).isoformat()
    return {
        "events": [
            {"type": kind, "url": f"https://example.org/read/{kind}/{index}", "occurred_at": now}
            for kind, count in counts.items()
            for index in range(count)
        ]
    }


@dataclass(frozen=True)
class TrafficRecord:
    """What ``known_traffic`` sent, and the ids the trace tests follow."""

    requests: Counter[tuple[str, str, str]]  # (method, route, status) -> requests
    events: Counter[str]  # event type -> events stored
    errors: Counter[str]  # error code -> error responses
    sessions_active: int
    trace_id: str  # X-Trace-Id of a GET SESSION that read the session from the database


# Per session started: the event types of the one batch posted to it.
BATCHES: tuple[dict[str, int], ...] = (
    {"page_view": 3, "click": 2},
    {"scroll": 4},
    {"highlight": 1, "page_view": 1},
    {"tab_switch": 2, "click": 1},
    {"page_view": 2},
)
SESSIONS_PER_USER = {"alice": 3, "bob": 2}
STOPPED = (0, 3)  # indexes of the sessions stopped (the first is stopped twice: idempotent)
# The error code the service counts in mindhit.errors for each client-error status (service/errors.py).
ERROR_CODES = {"404": "not_found", "422": "validation_error"}


def known_traffic(service: ServiceProcess) -> TrafficRecord:
    """N sessions, M events of known types, K stops, a 404 and a 422, by two users."""
    clients = {user: service.client(user) for user in SESSIONS_PER_USER}
    owned: list[tuple[ApiClient, str]] = []
    for user, count in SESSIONS_PER_USER.items():
        for index in range(count):
            body = {"title": f"{user} reading #{index}"}
            created = clients[user].call("POST", SESSIONS, json=body, expect=201)
            owned.append((clients[user], created.json()["id"]))
    assert len(owned) == len(BATCHES)

    events: Counter[str] = Counter()
    for (client, session_id), batch in zip(owned, BATCHES, strict=True):
        client.call("POST", SESSION_EVENTS, session_id=session_id, json=event_batch(batch), expect=201)
        events.update(batch)

    trace_ids = [client.call("GET", SESSION, session_id=sid, expect=200).headers["X-Trace-Id"] for client, sid in owned]
    clients["alice"].call("GET", SESSIONS, expect=200)

    for index in STOPPED:
        client, session_id = owned[index]
        client.call("POST", SESSION_STOP, session_id=session_id, expect=200)
    client, session_id = owned[STOPPED[0]]
    client.call("POST", SESSION_STOP, session_id=session_id, expect=200)  # a repeat: no second decrement

    clients["bob"].call("GET", SESSION, session_id=str(uuid.uuid4()), expect=404)
    clients["bob"].call("POST", SESSIONS, json={"title": ""}, expect=422)

    requests: Counter[tuple[str, str, str]] = sum((client.sent for client in clients.values()), Counter())
    errors: Counter[str] = Counter()
    for (_, _, status), count in requests.items():
        if status in ERROR_CODES:
            errors[ERROR_CODES[status]] += count
    return TrafficRecord(
        requests=requests,
        events=events,
        errors=errors,
        sessions_active=len(owned) - len(STOPPED),
        trace_id=trace_ids[1],
    )


@dataclass
class ErrorRecord:
    """What the outage instance was sent, every request answered 503, and when its last burst ended
    (``time.monotonic()``): the error-ratio alert reads a 5-minute rate, which only recent bursts hold up."""

    service: ServiceProcess
    requests: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    last_burst_at: float = 0.0

    def burst(self, count: int) -> None:
        """``count`` requests to each of the two routes, with a token minted now (a later burst may come
        after the previous token expired)."""
        client = self.service.client("mallory")
        for _ in range(count):
            client.call("GET", SESSIONS, expect=503)
            client.call("POST", SESSIONS, json={"title": "lost"}, expect=503)
        self.requests.update(client.sent)
        self.last_burst_at = time.monotonic()


def outage_traffic(service: ServiceProcess, *, first: int, then: int, between: Callable[[], None]) -> ErrorRecord:
    """Requests to an instance whose database is down, on two routes: ``first`` each, ``between()``,
    then ``then`` each.

    Prometheus' rate() only counts increases after a series' first sample, so ``between`` waits until
    the first burst is visible; the second burst is the rate the alert sees.
    """
    record = ErrorRecord(service)
    record.burst(first)
    between()
    record.burst(then)
    return record
