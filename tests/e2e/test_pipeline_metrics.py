"""Known traffic through the real service, then PromQL through the stack's Prometheus: every figure
is the one the traffic implies, on series labelled with the service's name and environment.

The path is the production one: the SDK pushes OTLP to the Collector, whose prometheus exporter (and
span_metrics and count connectors) Prometheus scrapes. Requests are counted exactly, per route and
status, from the record the traffic helper keeps.
"""

from __future__ import annotations

from collections import Counter

import pytest
from _backends import Sample, eventually
from _collector import BUILD_TIMEOUT_S
from _pipeline import Stack
from _traffic import MAIN_ENVIRONMENT, SESSION, TrafficRecord

from service import __version__

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(BUILD_TIMEOUT_S + 600)]

SERVICE = "mindhit-api"
# The main instance's series. Routes are limited to the API the traffic used: Alertmanager's webhook
# also calls this instance once the outage alert fires, and that call is no part of the known traffic.
MAIN = f'service_name="{SERVICE}", deployment_environment_name="{MAIN_ENVIRONMENT}"'
TRAFFIC_ROUTES = 'http_route=~"/api/v1/sessions.*"'
REQUEST_KEYS = ("http_request_method", "http_route", "http_response_status_code")


def as_floats(counter: Counter[tuple[str, ...]] | Counter[str]) -> dict[tuple[str, ...], float]:
    return {(key if isinstance(key, tuple) else (key,)): float(value) for key, value in counter.items()}


def test_http_duration_histogram_counts_each_request_by_route_and_status(stack: Stack, traffic: TrafficRecord) -> None:
    expected = as_floats(traffic.requests)
    assert ("GET", SESSION, "404") in expected
    assert ("POST", "/api/v1/sessions", "422") in expected
    stack.prometheus.wait_for_values(
        f"sum by ({', '.join(REQUEST_KEYS)}) (http_server_request_duration_seconds_count{{{MAIN}, {TRAFFIC_ROUTES}}})",
        REQUEST_KEYS,
        expected,
    )
    # The +Inf bucket of the same histogram agrees: buckets, not only the count, made it through.
    stack.prometheus.wait_for_values(
        f"sum by ({', '.join(REQUEST_KEYS)}) "
        f'(http_server_request_duration_seconds_bucket{{{MAIN}, {TRAFFIC_ROUTES}, le="+Inf"}})',
        REQUEST_KEYS,
        expected,
    )


def test_span_metrics_count_one_server_span_per_request(stack: Stack, traffic: TrafficRecord) -> None:
    keys = ("span_name", "http_route", "http_response_status_code")
    expected = {
        (f"{method} {route}", route, status): float(count)
        for (method, route, status), count in traffic.requests.items()
    }
    stack.prometheus.wait_for_values(
        f"sum by ({', '.join(keys)}) "
        f'(traces_span_metrics_calls_total{{{MAIN}, {TRAFFIC_ROUTES}, span_kind="SPAN_KIND_SERVER"}})',
        keys,
        expected,
    )


def test_span_metrics_count_database_client_spans(stack: Stack, traffic: TrafficRecord) -> None:
    reads = traffic.requests[("GET", SESSION, "200")] + traffic.requests[("GET", SESSION, "404")]
    expr = f'sum by (span_name) (traces_span_metrics_calls_total{{{MAIN}, span_kind="SPAN_KIND_CLIENT"}})'
    wanted = {"INSERT sessions", "INSERT events", "SELECT sessions", "UPDATE sessions"}
    found = eventually(
        lambda: stack.prometheus.values(expr, "span_name"),
        lambda values: wanted <= {name for (name,) in values} and values[("SELECT sessions",)] >= reads,
        timeout=30,
        what=f"{expr} should have {sorted(wanted)}, with at least {reads} SELECT sessions",
    )
    assert all(value > 0 for value in found.values())


def test_sessions_active_is_started_minus_stopped(stack: Stack, traffic: TrafficRecord) -> None:
    stack.prometheus.wait_for_values(
        f"sum(mindhit_sessions_active{{{MAIN}}})", (), {(): float(traffic.sessions_active)}
    )


def test_events_processed_by_type(stack: Stack, traffic: TrafficRecord) -> None:
    stack.prometheus.wait_for_values(
        f"sum by (event_type) (mindhit_events_processed_total{{{MAIN}}})", ("event_type",), as_floats(traffic.events)
    )


def test_errors_counted_by_code_and_severity(stack: Stack, traffic: TrafficRecord) -> None:
    # Client errors are warnings (service/errors.py); the known traffic has no server error.
    stack.prometheus.wait_for_values(
        f"sum by (error_type, error_severity) (mindhit_errors_total{{{MAIN}}})",
        ("error_type", "error_severity"),
        {(code, "warning"): float(count) for code, count in traffic.errors.items()},
    )


def test_log_records_counted_by_severity(stack: Stack, traffic: TrafficRecord) -> None:
    expr = f"sum by (severity_text) (log_records_total{{{MAIN}}})"
    # One "request completed" record per request: INFO for 2xx, WARNING for 4xx (docs/signals.md),
    # whose severity text the kit writes with OTel's short names (WARN, FATAL: otel/_logging.py).
    successes = sum(count for (_, _, status), count in traffic.requests.items() if status.startswith("2"))
    client_errors = sum(count for (_, _, status), count in traffic.requests.items() if status.startswith("4"))
    eventually(
        lambda: stack.prometheus.values(expr, "severity_text"),
        lambda values: values.get(("INFO",), 0) >= successes and values.get(("WARN",), 0) >= client_errors,
        timeout=30,
        what=f"{expr} should have at least {successes} INFO and {client_errors} WARN records",
    )


@pytest.mark.parametrize(
    "series",
    [
        "http_server_request_duration_seconds_count",
        "http_server_active_requests",
        "db_client_operation_duration_seconds_count",
        "mindhit_sessions_active",
        "mindhit_events_processed_total",
        "mindhit_errors_total",
        "traces_span_metrics_calls_total",
        "log_records_total",
    ],
)
def test_every_series_carries_the_resource_labels(stack: Stack, traffic: TrafficRecord, series: str) -> None:
    samples = stack.prometheus.wait_for_samples(f'{series}{{service_name="{SERVICE}"}}')
    main = [sample for sample in samples if sample.labels.get("deployment_environment_name") == MAIN_ENVIRONMENT]
    assert main, f"no {series} from the {MAIN_ENVIRONMENT} environment: {samples}"
    problems = [sample for sample in main if not has_resource_labels(sample)]
    assert not problems, f"{series} series without the resource labels of docs/signals.md: {problems}"


def has_resource_labels(sample: Sample) -> bool:
    labels = sample.labels
    return (
        labels.get("service_name") == SERVICE
        and labels.get("job") == SERVICE
        and labels.get("service_version") == __version__
        and bool(labels.get("service_instance_id"))
        and labels.get("instance") == labels.get("service_instance_id")
    )
