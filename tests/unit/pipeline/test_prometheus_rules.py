"""Prometheus configuration, recording and alert rules, and their promtool unit tests."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from promql_inventory import (
    PROMETHEUS_TESTS_DIR,
    REPO_ROOT,
    alert_rules,
    recording_rule_names,
    recording_rules,
    rule_files,
    rules,
    unknown_series,
)

PROMETHEUS_DIR = REPO_ROOT / "prometheus"
CONFIGS = [PROMETHEUS_DIR / "prometheus.yml", PROMETHEUS_DIR / "prometheus.compose.yml"]
RECORD_NAME = re.compile(r"^[a-z][a-z0-9_]*:[a-z][a-z0-9_]*:[a-z0-9_]+$")
_DURATION_PART = re.compile(r"(\d+)(ms|s|m|h|d|w|y)")
_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}


def _tool(name: str) -> str:
    """Path of a CLI the test needs; skip without it, unless REQUIRE_STACK=1 says it must be there."""
    path = shutil.which(name)
    if path is None:
        message = f"{name} is not installed (Debian package prometheus)"
        if os.environ.get("REQUIRE_STACK") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return path


def _run(*argv: str) -> subprocess.CompletedProcess[str]:
    # Fixed argv of a trusted local tool, no shell.
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False, cwd=REPO_ROOT)  # noqa: S603


def _seconds(duration: str | int | None) -> float:
    """Prometheus duration ("1h30m", "90s") in seconds; 0 for none."""
    if not duration:
        return 0.0
    text = str(duration)
    parts = _DURATION_PART.findall(text)
    if "".join(number + unit for number, unit in parts) != text:
        raise ValueError(f"not a Prometheus duration: {duration!r}")
    return sum(int(number) * _SECONDS[unit] for number, unit in parts)


def _load(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def _unit_test_files() -> list[Path]:
    return sorted(PROMETHEUS_TESTS_DIR.glob("*.yml"))


def _alert_cases() -> list[tuple[str, float, bool, bool]]:
    """(alertname, eval seconds, fires, group has input series) for every alert_rule_test case."""
    cases = []
    for path in _unit_test_files():
        for group in _load(path).get("tests", []):
            has_input = bool(group.get("input_series"))
            for case in group.get("alert_rule_test", []):
                cases.append((case["alertname"], _seconds(case["eval_time"]), bool(case.get("exp_alerts")), has_input))
    return cases


# ----------------------------------------------------------------------------------- promtool


@pytest.mark.parametrize("config", CONFIGS, ids=lambda path: path.name)
def test_promtool_check_config(config: Path) -> None:
    result = _run(_tool("promtool"), "check", "config", str(config))
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_check_rules() -> None:
    result = _run(_tool("promtool"), "check", "rules", *map(str, rule_files()))
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_unit_tests_pass() -> None:
    files = _unit_test_files()
    assert files, "no promtool unit tests in prometheus/tests"
    result = _run(_tool("promtool"), "test", "rules", *map(str, files))
    assert result.returncode == 0, result.stdout + result.stderr


# ------------------------------------------------------------------------------ test coverage


def test_every_alert_fires_in_a_test_and_stays_quiet_in_another() -> None:
    """A new alert without both cases fails here; a quiet case counts only once `for:` has elapsed."""
    cases = _alert_cases()
    problems = []
    for _, rule in rules("alert"):
        name, hold = rule["alert"], _seconds(rule.get("for"))
        fires = [t for alert, t, firing, _ in cases if alert == name and firing]
        quiet = [t for alert, t, firing, has_input in cases if alert == name and not firing and has_input and t >= hold]
        if not fires:
            problems.append(f"{name}: no case where it fires")
        if not quiet:
            problems.append(f"{name}: no quiet case on input data evaluated after for: {rule.get('for', '0s')}")
    assert not problems, "\n".join(problems)


def test_unit_tests_name_only_existing_alerts() -> None:
    known = {rule["alert"] for _, rule in rules("alert")}
    assert not {alert for alert, *_ in _alert_cases()} - known


def test_every_recording_rule_has_a_value_test() -> None:
    tested = ""
    for path in _unit_test_files():
        for group in _load(path).get("tests", []):
            tested += "\n".join(case["expr"] for case in group.get("promql_expr_test", []) if case.get("exp_samples"))
    untested = sorted(name for name in recording_rule_names() if name not in tested)
    assert not untested, f"recording rules without a promql_expr_test: {untested}"


# ---------------------------------------------------------------------------------- rule shape


def test_recording_rule_names_follow_level_metric_operations() -> None:
    names = [rule.name for rule in recording_rules()]
    assert names, "no recording rules found"
    assert [name for name in names if not RECORD_NAME.match(name)] == []
    assert len(names) == len(set(names)), "a recording rule is defined twice"


@pytest.mark.parametrize("rule", [rule for _, rule in rules("alert")], ids=lambda rule: rule["alert"])
def test_alert_has_severity_service_and_runbook(rule: dict[str, Any]) -> None:
    labels, annotations = rule.get("labels", {}), rule.get("annotations", {})
    assert labels.get("severity") in {"warning", "critical"}
    assert labels.get("service"), "service label drives grouping and inhibition in Alertmanager"
    assert annotations.get("summary")
    assert annotations.get("description")
    # Anchors are the alert name in lower case, as a `## AlertName` heading in docs/runbooks.md makes.
    assert annotations.get("runbook_url") == f"docs/runbooks.md#{rule['alert'].lower()}"
    assert _seconds(rule.get("for")) >= 60, "every alert waits at least a minute before firing"


def test_alert_names_are_unique() -> None:
    names = [rule.name for rule in alert_rules()]
    assert len(names) == len(set(names))


def test_rules_read_only_contract_series_and_recording_rules() -> None:
    """Renaming a metric in docs/signals.md (or here) without the other breaks this."""
    assert unknown_series(recording_rules() + alert_rules()) == []


# ------------------------------------------------------------------------------------- config


def test_local_and_compose_configs_differ_only_in_targets() -> None:
    local, compose = (_load(path) for path in CONFIGS)

    def shape(config: dict[str, Any]) -> Any:
        jobs = {
            job["job_name"]: {key: value for key, value in job.items() if key != "static_configs"}
            for job in config["scrape_configs"]
        }
        return config["global"], config["rule_files"], jobs

    assert shape(local) == shape(compose)


def test_scrape_config_for_the_local_stack() -> None:
    config = _load(CONFIGS[0])
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    targets = {name: [t for sc in job["static_configs"] for t in sc["targets"]] for name, job in jobs.items()}
    assert config["global"]["scrape_interval"] == "15s"
    assert config["global"]["evaluation_interval"] == "15s"
    assert config["rule_files"] == ["rules/*.yml"]
    assert targets["otel-collector"] == ["127.0.0.1:8889"]
    assert targets["otelcol"] == ["127.0.0.1:8888"]
    assert "prometheus" in targets
    (alertmanager,) = config["alerting"]["alertmanagers"]
    assert [t for sc in alertmanager["static_configs"] for t in sc["targets"]] == ["127.0.0.1:9093"]
    # The exporter's job/instance (service.name / service.instance.id) must survive the scrape.
    assert jobs["otel-collector"].get("honor_labels") is True
    assert not jobs["otelcol"].get("honor_labels", False)
