"""Helpers for the tests that drive docker-compose.yml and scripts/stack-{up,down}.sh."""

import os
import shutil
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import NoReturn

import pytest
from loopback_ports import free_ports

REPO_ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = REPO_ROOT / "scripts"
# Every listener scripts/stack-up.sh starts, by the variable that places it: a port, or host:port.
PORT_VARIABLES = (
    "PROMETHEUS_PORT", "ALERTMANAGER_PORT", "ZIPKIN_PORT", "SERVICE_PORT", "OTELCOL_TELEMETRY_PORT",
    "JAEGER_QUERY_PORT", "JAEGER_QUERY_GRPC_PORT", "JAEGER_OTLP_GRPC_PORT", "JAEGER_OTLP_HTTP_PORT",
    "JAEGER_HEALTH_PORT", "JAEGER_METRICS_PORT",
)  # fmt: skip
ENDPOINT_VARIABLES = (
    "OTELCOL_OTLP_GRPC_ENDPOINT", "OTELCOL_OTLP_HTTP_ENDPOINT", "OTELCOL_PROMETHEUS_ENDPOINT",
    "OTELCOL_HEALTH_ENDPOINT", "OTELCOL_ZPAGES_ENDPOINT", "OTELCOL_PPROF_ENDPOINT",
)  # fmt: skip
READY_TIMEOUT_S = 180  # STACK_TIMEOUT: how long stack-up.sh waits for each component


def require_stack() -> bool:
    """``REQUIRE_STACK=1`` (CI) turns a missing prerequisite from a skip into a failure."""
    return os.environ.get("REQUIRE_STACK", "") == "1"


def missing(reason: str) -> NoReturn:
    """Skip the test because ``reason``; fail instead when the stack is required."""
    if require_stack():
        pytest.fail(f"REQUIRE_STACK=1 but {reason}")
    pytest.skip(reason)


def need_tools(*names: str) -> None:
    absent = [name for name in names if shutil.which(name) is None]
    if absent:
        missing(f"not installed: {', '.join(absent)}")


def stack_environment(stack_dir: Path, **settings: str) -> dict[str, str]:
    """This process's environment for the stack scripts: every listener of the stack on a free loopback
    port, the stack in ``stack_dir`` without its own service, then ``settings``."""
    ports = iter(free_ports(len(PORT_VARIABLES) + len(ENDPOINT_VARIABLES)))
    env = dict(os.environ)
    env.update({name: str(next(ports)) for name in PORT_VARIABLES})
    env.update({name: f"127.0.0.1:{next(ports)}" for name in ENDPOINT_VARIABLES})
    env.update(
        STACK_DIR=str(stack_dir),
        STACK_SKIP_SERVICE="1",
        STACK_TIMEOUT=str(READY_TIMEOUT_S),
        STACK_STOP_GRACE="10",
    )
    env.update(settings)
    return env


def http_get(url: str, *, timeout: float = 5.0) -> tuple[int, bytes]:
    """Status and body; an HTTP error status is returned, not raised."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310  (loopback URLs we built)
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def wait_for(url: str, *, timeout: float, accept: tuple[int, ...] = (200,)) -> tuple[int, bytes]:
    """Poll ``url`` until its status is in ``accept``; fail with the last answer after ``timeout``."""
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        try:
            status, body = http_get(url, timeout=2.0)
        except OSError as exc:
            last = exc
        else:
            if status in accept:
                return status, body
            last = f"HTTP {status}: {body[:200]!r}"
        time.sleep(0.5)
    pytest.fail(f"{url} did not answer {accept} within {timeout:.0f} s; last: {last}")


def read_env_file(path: Path) -> dict[str, str]:
    """``KEY=value`` lines of a file written by stack-up.sh (values never need shell unquoting)."""
    values = {}
    for line in path.read_text().splitlines():
        if line and not line.startswith("#") and "=" in line:
            key, _, value = line.partition("=")
            values[key] = value
    return values
