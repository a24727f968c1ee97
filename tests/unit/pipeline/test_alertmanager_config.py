"""Alertmanager configuration: valid for amtool, routes by severity, keeps secrets out of the file."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from promql_inventory import REPO_ROOT, rules

CONFIG = REPO_ROOT / "alertmanager" / "alertmanager.yml"
WEBHOOK_URL = "http://127.0.0.1:8000/api/v1/alerts/alertmanager"
# docker-compose mounts this copy: the same routing, with the webhook on the API container.
COMPOSE_CONFIG = REPO_ROOT / "alertmanager" / "alertmanager.compose.yml"
COMPOSE_WEBHOOK_URL = "http://api:8000/api/v1/alerts/alertmanager"
SECRETS_DIR = "/etc/alertmanager/secrets/"
CRITICAL_RECEIVERS = "pager-critical,mindhit-webhook"
WARNING_RECEIVERS = "slack-warnings"
# Keys whose value would be a secret written inline; each has a *_file twin that must be used instead.
INLINE_SECRET_KEYS = frozenset(
    {
        "api_url",
        "slack_api_url",
        "routing_key",
        "service_key",
        "api_key",
        "credentials",
        "bearer_token",
        "password",
        "auth_password",
        "token",
        "user_key",
        "bot_token",
        "webhook_url",
        "url_secret",
    }
)
SECRET_LOOKING = re.compile(r"hooks\.slack\.com|xox[abpr]-|events\.pagerduty\.com|[A-Za-z0-9_-]{32,}")


def _amtool() -> str:
    path = shutil.which("amtool")
    if path is None:
        message = "amtool is not installed (Debian package prometheus-alertmanager)"
        if os.environ.get("REQUIRE_STACK") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return path


def _run(*argv: str) -> subprocess.CompletedProcess[str]:
    # Fixed argv of a trusted local tool, no shell.
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False, cwd=REPO_ROOT)  # noqa: S603


def _config() -> dict[str, Any]:
    config: dict[str, Any] = yaml.safe_load(CONFIG.read_text(encoding="utf-8"))
    return config


def _walk(node: Any, path: str = "") -> Iterator[tuple[str, str, Any]]:
    """(path, key, value) for every mapping entry in the document."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield path, str(key), value
            yield from _walk(value, f"{path}.{key}")
    elif isinstance(node, list):
        for index, item in enumerate(node):
            yield from _walk(item, f"{path}[{index}]")


def _receiver(name: str) -> dict[str, Any]:
    return next(receiver for receiver in _config()["receivers"] if receiver["name"] == name)


def _routes(*labels: str, expect: str) -> subprocess.CompletedProcess[str]:
    return _run(
        _amtool(), "config", "routes", "test", f"--config.file={CONFIG}", f"--verify.receivers={expect}", *labels
    )


@pytest.mark.parametrize("config", [CONFIG, COMPOSE_CONFIG], ids=lambda path: path.name)
def test_amtool_check_config(config: Path) -> None:
    result = _run(_amtool(), "check-config", str(config))
    assert result.returncode == 0, result.stdout + result.stderr


def test_compose_copy_differs_only_in_the_webhook_address() -> None:
    compose: dict[str, Any] = yaml.safe_load(COMPOSE_CONFIG.read_text(encoding="utf-8"))
    (receiver,) = [receiver for receiver in compose["receivers"] if receiver["name"] == "mindhit-webhook"]
    (webhook,) = receiver["webhook_configs"]
    assert webhook["url"] == COMPOSE_WEBHOOK_URL
    webhook["url"] = WEBHOOK_URL
    assert compose == _config()


@pytest.mark.parametrize(
    ("labels", "receivers"),
    [
        (("severity=critical", "service=mindhit-api", "alertname=MindhitHighErrorRatio"), CRITICAL_RECEIVERS),
        (("severity=critical", "service=otel-collector", "alertname=OtelCollectorDown"), CRITICAL_RECEIVERS),
        (("severity=warning", "service=mindhit-api", "alertname=MindhitHighLatencyP95"), WARNING_RECEIVERS),
        (("severity=info", "service=mindhit-api", "alertname=Unexpected"), WARNING_RECEIVERS),
        (("alertname=NoSeverity",), WARNING_RECEIVERS),
    ],
    ids=["critical", "critical-collector", "warning", "unknown-severity", "no-severity"],
)
def test_routes_by_severity(labels: tuple[str, ...], receivers: str) -> None:
    result = _routes(*labels, expect=receivers)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == receivers


@pytest.mark.parametrize("rule", [rule for _, rule in rules("alert")], ids=lambda rule: rule["alert"])
def test_every_alert_rule_reaches_its_severity_receivers(rule: dict[str, Any]) -> None:
    severity = rule["labels"]["severity"]
    expected = CRITICAL_RECEIVERS if severity == "critical" else WARNING_RECEIVERS
    labels = (f"alertname={rule['alert']}", f"severity={severity}", "service=mindhit-api")
    result = _routes(*labels, expect=expected)
    assert result.returncode == 0, result.stdout + result.stderr


def test_groups_by_alertname_and_service() -> None:
    assert _config()["route"]["group_by"] == ["alertname", "service"]


def test_critical_inhibits_warning_of_the_same_service() -> None:
    inhibit = _config()["inhibit_rules"]
    assert {
        "source_matchers": ['severity="critical"'],
        "target_matchers": ['severity="warning"'],
        "equal": ["service"],
    } in inhibit


def test_inhibitions_name_existing_alerts() -> None:
    known = {rule["alert"] for _, rule in rules("alert")}
    named = {
        match
        for rule in _config()["inhibit_rules"]
        for matcher in rule.get("source_matchers", []) + rule.get("target_matchers", [])
        for match in re.findall(r'^alertname="([^"]+)"$', matcher)
    }
    assert named <= known


def test_webhook_calls_the_service_with_a_bearer_token_from_a_file() -> None:
    (webhook,) = _receiver("mindhit-webhook")["webhook_configs"]
    assert webhook["url"] == WEBHOOK_URL
    assert webhook["send_resolved"] is True
    authorization = webhook["http_config"]["authorization"]
    assert authorization.get("type", "Bearer") == "Bearer"
    assert authorization["credentials_file"] == SECRETS_DIR + "webhook-token"
    assert "credentials" not in authorization


def test_slack_url_and_pager_key_come_from_files() -> None:
    (slack,) = _receiver("slack-warnings")["slack_configs"]
    assert slack["api_url_file"] == SECRETS_DIR + "slack-webhook-url"
    (pager,) = _receiver("pager-critical")["pagerduty_configs"]
    assert pager["routing_key_file"] == SECRETS_DIR + "pagerduty-routing-key"


def test_no_secret_or_url_literal_in_the_file() -> None:
    problems = []
    for path, key, value in _walk(_config()):
        if key in INLINE_SECRET_KEYS:
            problems.append(f"{path}.{key}: inline secret; use {key}_file")
        if isinstance(value, str):
            if "://" in value and value != WEBHOOK_URL:
                problems.append(f"{path}.{key}: URL literal {value!r}")
            if SECRET_LOOKING.search(value):
                problems.append(f"{path}.{key}: looks like a secret")
            if key.endswith("_file") and not value.startswith(SECRETS_DIR):
                problems.append(f"{path}.{key}: secret files live in {SECRETS_DIR}")
    assert not problems, "\n".join(problems)
