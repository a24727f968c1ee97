"""Every PromQL expression the pipeline ships returns data once real traffic went through it.

The expressions are those of every dashboard panel, dashboard variable, Tempo trace-to-metrics query
and recording rule (tests/unit/pipeline/promql_inventory.py), rendered as Grafana would with
service=mindhit-api and every other variable on "All". A metric renamed in the service, the Collector
or a rule leaves some expression empty, and this test names it. Alert rules are left out: an alert
that should not fire is rightly empty.

The traffic includes what the expressions need beyond the happy path: 4xx (errors, WARN logs),
database statements, 5xx from an instance without a database (error ratios, error spans), and the
alert they raise, delivered by Alertmanager to the service's webhook and by the service to a fake
Slack (delivered) and an unreachable Sentry (failed).
The few expressions that cannot have data in a healthy run are listed in MAY_BE_EMPTY with the reason.
"""

from __future__ import annotations

import importlib.util
import sys
from types import ModuleType
from typing import Any

import pytest
from _backends import eventually
from _collector import BUILD_TIMEOUT_S
from _pipeline import Stack
from _stack import REPO_ROOT
from _traffic import ErrorRecord, TrafficRecord

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(BUILD_TIMEOUT_S + 600)]

INVENTORY_PATH = REPO_ROOT / "tests" / "unit" / "pipeline" / "promql_inventory.py"
VARIABLES = {"service": "mindhit-api"}
# With a 1 s scrape interval, 15 s holds enough samples for rate() (Grafana's $__rate_interval).
RATE_INTERVAL = "15s"
WAIT_S = 45.0


def load_inventory() -> ModuleType:
    """promql_inventory by path (tests folders are not packages); the unit tests' copy if loaded."""
    if "promql_inventory" in sys.modules:
        return sys.modules["promql_inventory"]
    spec = importlib.util.spec_from_file_location("promql_inventory", INVENTORY_PATH)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["promql_inventory"] = module  # dataclasses resolve annotations through sys.modules
    spec.loader.exec_module(module)
    return module


inventory = load_inventory()
CHECKED_KINDS = ("recording_rule", "dashboard_panel", "dashboard_variable", "datasource_query")


def _send_failed(signal: str) -> str:
    return (
        f"otelcol_exporter_send_failed_{signal} exists only once an exporter has given up on data "
        "(after retries, or on a permanent error); the Collector does not create it at 0 (checked on "
        "v0.161.0), and a healthy run loses nothing. The panel's other query (sent) has data, and the "
        "'Failed exports items/s' stat reads the same counter with `or vector(0)`."
    )


# source -> why it may be empty after the run. Each entry is checked to still name a shipped expression.
MAY_BE_EMPTY: dict[str, str] = {
    "grafana/dashboards/collector-health.json#panel=11/B": _send_failed("spans"),
    "grafana/dashboards/collector-health.json#panel=12/B": _send_failed("metric_points"),
    "grafana/dashboards/collector-health.json#panel=13/B": _send_failed("log_records"),
}


def expressions() -> list[Any]:
    """The inventory's PromQLExpression items of the checked kinds."""
    found: list[Any] = inventory.promql_expressions(CHECKED_KINDS)
    return found


def test_the_exemptions_name_shipped_expressions() -> None:
    sources = {item.source for item in expressions()}
    assert set(MAY_BE_EMPTY) <= sources, f"stale entries: {sorted(set(MAY_BE_EMPTY) - sources)}"


def test_every_dashboard_and_recording_rule_expression_returns_data(
    stack: Stack, traffic: TrafficRecord, outage: ErrorRecord, alert_notified: None
) -> None:
    items = expressions()
    assert len(items) > 40, "the inventory found suspiciously few expressions"
    checked = {item.source: item.render(VARIABLES, rate_interval=RATE_INTERVAL) for item in items}

    def empty_and_not_exempt() -> dict[str, str]:
        return {
            source: expr
            for source, expr in checked.items()
            if source not in MAY_BE_EMPTY and not stack.prometheus.query(expr)
        }

    eventually(
        empty_and_not_exempt,
        lambda empty: not empty,
        timeout=WAIT_S,
        what="these expressions returned no data after the traffic run (source: rendered query)",
    )


def test_every_recording_rule_records_series(stack: Stack, traffic: TrafficRecord, outage: ErrorRecord) -> None:
    names = sorted(inventory.recording_rule_names())
    assert names

    def unrecorded() -> list[str]:
        return [name for name in names if not stack.prometheus.query(f'{{__name__="{name}"}}')]

    eventually(unrecorded, lambda missing: not missing, timeout=WAIT_S, what="recording rules without series")


def test_a_renamed_metric_would_be_caught(stack: Stack, traffic: TrafficRecord) -> None:
    """The check can fail: the sessions panel with its metric renamed returns nothing."""
    (panel,) = [item for item in expressions() if item.source.endswith("service-overview.json#panel=6/A")]
    rendered = panel.render(VARIABLES, rate_interval=RATE_INTERVAL)
    assert "mindhit_sessions_active{" in rendered
    stack.prometheus.wait_for_samples(rendered)
    assert stack.prometheus.query(rendered.replace("mindhit_sessions_active{", "mindhit_active_sessions{")) == []
