"""An alert fed by real errors: an instance whose database is down answers 503 to every API call,
MindhitHighErrorRatio fires in the stack's Prometheus, Alertmanager receives it and calls the main
instance's webhook, and the service delivers the alert to its Slack channel (a fake one).

The committed rule waits `for: 5m`. The stack's Prometheus loads, from the start of the session, a
copy of prometheus/rules/alerts.yml in which only that rule's `for:` line is shortened (the first
test proves nothing else changed, the expression byte for byte); the expression, the recording rules
it reads, the labels and the Prometheus-to-Alertmanager path are the committed ones.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from _backends import alertmanager_alerts, eventually
from _collector import BUILD_TIMEOUT_S
from _pipeline import ALERTS_FILE, SHORT_FOR, SHORT_FOR_ALERT, WEBHOOK_ACCEPTED, Stack, rule_named
from _traffic import (
    MAIN_ENVIRONMENT,
    OUTAGE_ENVIRONMENT,
    SESSIONS,
    AlertChannels,
    ErrorRecord,
    ServiceProcess,
    TrafficRecord,
)

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(BUILD_TIMEOUT_S + 600)]

ALERT = SHORT_FOR_ALERT
WAIT_S = 120.0


@pytest.fixture(scope="module")
def short_rules(stack: Stack) -> Path:
    """The rules file the stack's Prometheus loaded instead of the committed one (conftest.stack)."""
    return stack.rules_dir / ALERTS_FILE.name


def test_the_loaded_rules_differ_from_the_committed_ones_only_in_that_for(short_rules: Path) -> None:
    committed_text = ALERTS_FILE.read_text(encoding="utf-8")
    loaded_text = short_rules.read_text(encoding="utf-8")
    # One line differs, and it is a `for:`; so the expression's bytes are the committed ones.
    differing = [
        (old, new) for old, new in zip(committed_text.splitlines(), loaded_text.splitlines(), strict=True) if old != new
    ]
    committed, loaded = rule_named(committed_text, ALERT), rule_named(loaded_text, ALERT)
    assert [(old.strip(), new.strip()) for old, new in differing] == [(f"for: {committed['for']}", f"for: {SHORT_FOR}")]
    assert loaded["expr"] == committed["expr"]
    assert loaded["for"] == SHORT_FOR
    assert {**loaded, "for": committed["for"]} == committed


def test_outage_answers_are_counted_as_503_per_route(stack: Stack, outage: ErrorRecord) -> None:
    keys = ("http_request_method", "http_route", "http_response_status_code")
    stack.prometheus.wait_for_values(
        f"sum by ({', '.join(keys)}) (http_server_request_duration_seconds_count"
        f'{{service_name="mindhit-api", deployment_environment_name="{OUTAGE_ENVIRONMENT}"}})',
        keys,
        {key: float(count) for key, count in outage.requests.items()},
    )


def firing(stack: Stack) -> list[dict[str, Any]]:
    return [alert for alert in stack.prometheus.alerts() if alert["labels"]["alertname"] == ALERT]


def test_high_error_ratio_fires_in_prometheus_and_reaches_alertmanager(
    stack: Stack, short_rules: Path, recent_outage: ErrorRecord
) -> None:
    def outage_alerts() -> list[dict[str, Any]]:
        return [
            alert
            for alert in firing(stack)
            if alert["state"] == "firing"
            and alert["labels"].get("deployment_environment_name") == OUTAGE_ENVIRONMENT
            and alert["labels"].get("http_route") == SESSIONS
        ]

    (alert,) = eventually(outage_alerts, bool, timeout=WAIT_S, what=f"{ALERT} firing in Prometheus for {SESSIONS}")
    assert alert["labels"]["severity"] == "critical"
    assert alert["labels"]["service"] == "mindhit-api"  # the rule's '{{ $labels.service_name }}'
    assert float(alert["value"]) == 1.0  # every request of the route failed
    assert alert["annotations"]["runbook_url"] == f"docs/runbooks.md#{ALERT.lower()}"

    received = eventually(
        lambda: [
            item
            for item in alertmanager_alerts(stack.alertmanager_url, ALERT)
            if item["labels"].get("deployment_environment_name") == OUTAGE_ENVIRONMENT
            and item["labels"].get("http_route") == SESSIONS
        ],
        bool,
        timeout=WAIT_S,
        what=f"{ALERT} ({OUTAGE_ENVIRONMENT}, {SESSIONS}) in Alertmanager's /api/v2/alerts",
    )
    (in_alertmanager,) = received
    assert in_alertmanager["status"]["state"] == "active"
    assert in_alertmanager["labels"]["severity"] == "critical"
    assert in_alertmanager["annotations"]["summary"].startswith("mindhit-api: ")
    # alertmanager/alertmanager.yml routes critical alerts to the pager and to the service's webhook.
    assert {receiver["name"] for receiver in in_alertmanager["receivers"]} == {"pager-critical", "mindhit-webhook"}


def test_alertmanager_calls_the_service_webhook_which_delivers_the_alert_to_slack(
    stack: Stack, api_service: ServiceProcess, alert_channels: AlertChannels, recent_outage: ErrorRecord
) -> None:
    eventually(
        lambda: alertmanager_alerts(stack.alertmanager_url, ALERT),
        bool,
        timeout=WAIT_S,
        what=f"{ALERT} in Alertmanager's /api/v2/alerts",
    )
    # The webhook route waits group_wait (10 s) before its first notification.
    eventually(
        lambda: stack.prometheus.query(WEBHOOK_ACCEPTED),
        lambda samples: bool(samples) and samples[0].value >= 1,
        timeout=WAIT_S,
        what=f"the service never accepted Alertmanager's webhook call: {WEBHOOK_ACCEPTED}",
    )
    eventually(
        alert_channels.slack_texts,
        lambda texts: any(ALERT in text for text in texts),
        timeout=WAIT_S,
        what=f"the service never posted {ALERT} to the (fake) Slack; the messages it got",
    )


def test_the_healthy_environment_does_not_alert(
    stack: Stack, short_rules: Path, traffic: TrafficRecord, recent_outage: ErrorRecord
) -> None:
    # Once the outage alert fires, the same evaluation has seen the healthy instance's routes too.
    eventually(
        lambda: [alert for alert in firing(stack) if alert["state"] == "firing"],
        bool,
        timeout=WAIT_S,
        what=f"{ALERT} never fired",
    )
    healthy = [
        alert for alert in firing(stack) if alert["labels"].get("deployment_environment_name") == MAIN_ENVIRONMENT
    ]
    assert healthy == []
