"""The local stack of scripts/stack-up.sh for the pipeline tests: started once per session on free
loopback ports with short intervals, described by ``Stack``, stopped by scripts/stack-down.sh.

The stack runs without its own service (STACK_SKIP_SERVICE=1): the tests start their instances with
``_traffic.running_service`` so they choose the environment and the export interval. SERVICE_PORT
still goes to stack-up.sh, which points Alertmanager's webhook at it: the main instance listens there.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import yaml
from _backends import Prometheus, eventually
from _collector import BUILD_TIMEOUT_S, collector_binary
from _stack import READY_TIMEOUT_S, REPO_ROOT, SCRIPTS, missing, need_tools, read_env_file, stack_environment

# Prometheus scrapes and evaluates every second; the Collector's span_metrics connector flushes every
# second instead of every 15 (collector-config.yaml reads OTELCOL_SPANMETRICS_FLUSH_INTERVAL; the
# scripts pass their environment on to the components they start).
# The Collector keeps quiet series for the whole session instead of 5 to 15 minutes: the tests run in
# random order, so minutes of other tests may pass between the known traffic and a test that counts
# it in a series only the Collector makes (span metrics, log records by severity).
INTERVALS = {
    "STACK_SCRAPE_INTERVAL": "1s",
    "STACK_EVALUATION_INTERVAL": "1s",
    "OTELCOL_SPANMETRICS_FLUSH_INTERVAL": "1s",
    "OTELCOL_SPANMETRICS_EXPIRATION": "2h",
    "OTELCOL_DELTA_MAX_STALE": "2h",
    "OTELCOL_METRIC_EXPIRATION": "2h",
}
# The alert the end-to-end tests make fire. Its committed `for: 5m` would hold a test for minutes, so
# the stack's Prometheus loads a copy of the rules file with only that rule's `for:` line shortened.
ALERTS_FILE = REPO_ROOT / "prometheus" / "rules" / "alerts.yml"
SHORT_FOR_ALERT = "MindhitHighErrorRatio"
SHORT_FOR = "2s"
# Alertmanager's webhook calls the main instance accepted, as the service itself counts them.
WEBHOOK_ACCEPTED = (
    'sum(http_server_request_duration_seconds_count{service_name="mindhit-api",'
    ' http_route="/api/v1/alerts/alertmanager", http_response_status_code=~"2.."})'
)


@dataclass(frozen=True)
class Stack:
    """A running stack: the environment its scripts ran with and the URLs stack-up.sh wrote."""

    dir: Path
    env: Mapping[str, str]
    urls: Mapping[str, str]

    @property
    def prometheus(self) -> Prometheus:
        return Prometheus(self.urls["PROMETHEUS_URL"])

    @property
    def alertmanager_url(self) -> str:
        return self.urls["ALERTMANAGER_URL"]

    @property
    def jaeger_url(self) -> str:
        return self.urls["JAEGER_QUERY_URL"]

    @property
    def jaeger_otlp_grpc_endpoint(self) -> str:
        return f"127.0.0.1:{self.env['JAEGER_OTLP_GRPC_PORT']}"

    @property
    def zipkin_url(self) -> str:
        return self.urls["ZIPKIN_URL"]

    @property
    def otlp_http_url(self) -> str:
        return self.urls["OTELCOL_OTLP_HTTP_URL"]

    @property
    def logs_file(self) -> Path:
        return Path(self.urls["OTELCOL_LOGS_FILE"])

    @property
    def service_port(self) -> int:
        """Where Alertmanager's webhook points (stack-up.sh rewrote its config for this port)."""
        return int(self.env["SERVICE_PORT"])

    @property
    def rules_dir(self) -> Path:
        """The copy of prometheus/rules the stack's Prometheus loads (stack-up.sh copies prometheus/)."""
        return self.dir / "prometheus" / "config" / "rules"

    def secret(self, name: str) -> str:
        """A secret stack-up.sh generated (jwt_secret, webhook-token, ...)."""
        return (self.dir / "secrets" / name).read_text().strip()

    def reload_prometheus(self) -> None:
        response = httpx.post(f"{self.urls['PROMETHEUS_URL']}/-/reload", timeout=10)
        assert response.status_code == 200, f"Prometheus reload: {response.status_code} {response.text}"


def _run_script(name: str, env: Mapping[str, str], *, timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603  (our own scripts, no shell)
        [str(SCRIPTS / name)], env=dict(env), capture_output=True, text=True, timeout=timeout, check=False
    )


def _prerequisites() -> Path:
    """The Collector binary; the trace backends fetched (both cached). Skips, or fails under REQUIRE_STACK."""
    need_tools("prometheus", "prometheus-alertmanager", "java", "curl", "setsid")
    binary = collector_binary()
    fetched = _run_script("fetch-trace-backends.sh", os.environ, timeout=BUILD_TIMEOUT_S)
    if fetched.returncode != 0:
        missing(f"fetch-trace-backends.sh failed: {fetched.stderr.strip()[-2000:]}")
    return binary


@contextmanager
def running_stack(stack_dir: Path) -> Iterator[Stack]:
    """scripts/stack-up.sh on free ports in ``stack_dir``; scripts/stack-down.sh afterwards, whatever happened."""
    binary = _prerequisites()
    env = stack_environment(stack_dir, **INTERVALS, COLLECTOR_BIN=str(binary))
    try:
        up = _run_script("stack-up.sh", env, timeout=READY_TIMEOUT_S * 6)
        if up.returncode != 0:
            pytest.fail(f"stack-up.sh exited {up.returncode}:\n{up.stderr[-6000:]}", pytrace=False)
        yield Stack(stack_dir, env, read_env_file(stack_dir / "stack.env"))
    finally:
        down = _run_script("stack-down.sh", env, timeout=180)
        assert down.returncode == 0, f"stack-down.sh failed:\n{down.stderr[-4000:]}"


# ------------------------------------------------------------------------- alert rules, shortened

_ALERT_LINE = re.compile(r"^\s*- (alert|record): (\S+)\s*$")
_FOR_LINE = re.compile(r"^(\s*for: )(\S+)(\s*)$")


def with_short_for(rules_text: str, alert: str, duration: str) -> str:
    """The rules file text with only the ``for:`` line of ``alert`` changed; every other byte kept."""
    lines = rules_text.splitlines(keepends=True)
    current = None
    changed = 0
    for index, line in enumerate(lines):
        if match := _ALERT_LINE.match(line):
            current = match[2]
        elif current == alert and (match := _FOR_LINE.match(line)):
            lines[index] = f"{match[1]}{duration}{match[3]}"
            changed += 1
    assert changed == 1, f"expected one `for:` line for {alert}, changed {changed}"
    return "".join(lines)


def rule_named(rules_text: str, name: str) -> dict[str, object]:
    for group in yaml.safe_load(rules_text)["groups"]:
        for rule in group["rules"]:
            if rule.get("alert") == name or rule.get("record") == name:
                return dict(rule)
    raise AssertionError(f"no rule {name}")


def load_rules_with_short_for(stack: Stack, *, file: Path, alert: str, duration: str) -> Path:
    """Write a copy of ``file`` with ``alert``'s ``for:`` shortened into the stack's Prometheus, reload it,
    and wait until the rule is evaluated with the new duration. Returns the loaded copy."""
    rendered = with_short_for(file.read_text(encoding="utf-8"), alert, duration)
    loaded = stack.rules_dir / file.name
    loaded.write_text(rendered, encoding="utf-8")
    stack.reload_prometheus()
    seconds = float(duration.removesuffix("s"))
    eventually(
        lambda: [rule for rule in stack.prometheus.rules() if rule["name"] == alert],
        lambda found: len(found) == 1 and found[0]["duration"] == seconds,
        timeout=30,
        what=f"Prometheus did not load {alert} with for: {duration}",
    )
    # A reload restarts Alertmanager discovery, which reports after up to 5 s; an alert that fires
    # before that is dropped and only re-sent a minute later.
    eventually(
        stack.prometheus.alertmanagers,
        lambda found: found == [f"{stack.alertmanager_url}/api/v2/alerts"],
        timeout=30,
        what="Prometheus did not rediscover the stack's Alertmanager after the reload",
    )
    return loaded
