"""The ``mindhit.*`` instruments: names, units and the attributes each carries."""

from collections.abc import Callable
from typing import Any

from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from service.observability import AppMetrics

Points = Callable[[str], dict[tuple[tuple[str, Any], ...], float]]


def test_sessions_active_goes_up_and_down(app_metrics: AppMetrics, metric_points: Points) -> None:
    app_metrics.session_started()
    app_metrics.session_started()
    app_metrics.session_stopped()
    assert metric_points("mindhit.sessions.active") == {(): 1}


def test_events_are_counted_per_type(app_metrics: AppMetrics, metric_points: Points) -> None:
    app_metrics.events_stored(["click", "page_view", "click"])
    app_metrics.events_stored(iter(["scroll"]))
    assert metric_points("mindhit.events.processed") == {
        (("event.type", "click"),): 2,
        (("event.type", "page_view"),): 1,
        (("event.type", "scroll"),): 1,
    }


def test_errors_carry_type_and_severity(app_metrics: AppMetrics, metric_points: Points) -> None:
    app_metrics.error(error_type="not_found", severity="warning")
    app_metrics.error(error_type="database_unavailable", severity="error")
    assert metric_points("mindhit.errors") == {
        (("error.severity", "warning"), ("error.type", "not_found")): 1,
        (("error.severity", "error"), ("error.type", "database_unavailable")): 1,
    }


def test_names_and_units_match_the_signals_contract(
    app_metrics: AppMetrics, metric_reader: InMemoryMetricReader
) -> None:
    app_metrics.session_started()
    app_metrics.events_stored(["click"])
    app_metrics.error(error_type="conflict", severity="warning")
    data = metric_reader.get_metrics_data()
    assert data is not None
    units = {m.name: m.unit for r in data.resource_metrics for s in r.scope_metrics for m in s.metrics}
    assert units == {
        "mindhit.sessions.active": "{session}",
        "mindhit.events.processed": "{event}",
        "mindhit.errors": "{error}",
    }
