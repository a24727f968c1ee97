"""The README's run command for real: `python -m service` on SQLite, serving, exporting, stopping cleanly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from loopback_ports import free_port
from otlp_receiver import Received, http_receiver


def _wait_until_healthy(base_url: str, process: subprocess.Popen[str], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the service exited early: {process.communicate()}")
        try:
            if httpx.get(f"{base_url}/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError("the service did not become healthy in time")


@pytest.fixture
def running_service(tmp_path: Path) -> Iterator[tuple[str, dict[str, str], Received, subprocess.Popen[str]]]:
    with http_receiver() as (otlp_endpoint, received):
        port = free_port()
        env = {
            **os.environ,
            "PORT": str(port),
            "DATABASE_URL": f"sqlite:///{tmp_path / 'mindhit.db'}",
            "ENVIRONMENT": "production",
            "JWT_SECRET": "a-process-test-secret-of-sufficient-length",
            "OTEL_EXPORTER_OTLP_ENDPOINT": otlp_endpoint,
            "OTEL_METRIC_EXPORT_INTERVAL": "500",
        }
        process = subprocess.Popen(
            [sys.executable, "-m", "service"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        base_url = f"http://127.0.0.1:{port}"
        try:
            _wait_until_healthy(base_url, process)
            yield base_url, env, received, process
        finally:
            if process.poll() is None:
                process.kill()
                process.communicate()


def test_the_service_serves_exports_and_stops_cleanly(
    running_service: tuple[str, dict[str, str], Received, subprocess.Popen[str]],
) -> None:
    base_url, env, received, process = running_service
    token = subprocess.run(
        [sys.executable, "-m", "service", "token", "--user", "reader-1"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()

    created = httpx.post(
        f"{base_url}/api/v1/sessions",
        json={"title": "from a real process"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert created.status_code == 201
    metrics_text = httpx.get(f"{base_url}/metrics").text
    assert "mindhit_sessions_active" in metrics_text

    process.send_signal(signal.SIGTERM)
    stdout, stderr = process.communicate(timeout=30)

    # uvicorn shuts down gracefully, then re-raises the signal so the exit status tells why it stopped.
    assert process.returncode in {0, -signal.SIGTERM}, stderr
    assert "Application shutdown complete" in stdout, stdout
    assert "POST /api/v1/sessions" in received.span_names()
    assert "INSERT sessions" in received.span_names()
    assert "request completed" in received.log_bodies()
    assert {"http.server.request.duration", "mindhit.sessions.active"} <= received.metric_names()
    access_lines = [line for line in stdout.splitlines() if '"request completed"' in line]
    assert len(access_lines) == 1, stdout  # /health and /metrics are not logged, uvicorn's access log is off
