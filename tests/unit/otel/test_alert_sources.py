"""Which spans and log records become alerts, and what the alerts carry."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

import pytest
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode

import otel
from otel.alerts import Alert, AlertSettings, Severity
from otel.testing import TelemetryCapture

tracer = trace.get_tracer("tests.alerts")


@pytest.fixture
def raised(capotel: TelemetryCapture) -> Iterator[list[Alert]]:
    """Alerts the hub hands to its subscribers during the test."""
    telemetry = otel.configure(alert_settings=AlertSettings(_env_file=None, slow_routes={"/slow": 0.01}))
    alerts: list[Alert] = []
    telemetry.alerts.subscribe(alerts.append)
    yield alerts
    telemetry.alerts.unsubscribe(alerts.append)
    telemetry.alerts.settings = AlertSettings(_env_file=None)


def _server_span(route: str, status: int, *, exception: Exception | None = None, sleep: float = 0) -> None:
    with tracer.start_as_current_span(
        f"GET {route}", kind=SpanKind.SERVER, attributes={"http.route": route}, record_exception=False
    ) as span:
        time.sleep(sleep)
        span.set_attribute("http.response.status_code", status)
        if exception is not None:
            span.record_exception(exception)
        if status >= 500:
            span.set_status(Status(StatusCode.ERROR))


def test_an_unhandled_exception_on_a_server_span_is_critical_with_scrubbed_stack(raised: list[Alert]) -> None:
    try:
        raise RuntimeError("token=s3cr3t-canary failed")
    except RuntimeError as exc:
        _server_span("/api/things", 500, exception=exc)

    (alert,) = raised
    assert alert.severity is Severity.CRITICAL
    assert alert.exception_type == "RuntimeError"
    assert alert.route == "/api/things"
    assert alert.source == "span"
    assert alert.stacktrace is not None
    assert "RuntimeError" in alert.stacktrace
    assert "s3cr3t-canary" not in alert.message + alert.stacktrace
    assert alert.trace_id is not None
    assert len(alert.trace_id) == 32
    assert alert.span_id is not None
    assert len(alert.span_id) == 16


def test_a_5xx_is_an_error_and_a_4xx_is_no_alert(raised: list[Alert]) -> None:
    _server_span("/api/things", 503)
    _server_span("/api/things", 404)

    (alert,) = raised
    assert alert.severity is Severity.ERROR
    assert alert.title == "GET /api/things answered 503"


def test_a_slow_request_over_its_route_threshold_is_a_warning(raised: list[Alert]) -> None:
    _server_span("/slow", 200, sleep=0.02)
    _server_span("/fast-enough", 200, sleep=0.02)  # default threshold: 2 s

    (alert,) = raised
    assert alert.severity is Severity.WARNING
    assert alert.route == "/slow"


def test_a_failed_database_span_is_an_error(raised: list[Alert]) -> None:
    with tracer.start_as_current_span(
        "SELECT sessions", kind=SpanKind.CLIENT, attributes={"db.system.name": "sqlite"}
    ) as span:
        span.set_attribute("error.type", "OperationalError")
        span.set_status(Status(StatusCode.ERROR, "OperationalError"))

    (alert,) = raised
    assert alert.severity is Severity.ERROR
    assert alert.title == "Database SELECT sessions failed: OperationalError"


def test_error_and_critical_records_are_alerts_with_trace_context(raised: list[Alert]) -> None:
    log = logging.getLogger("tests.alerts.app")
    with tracer.start_as_current_span("work") as span:
        log.error("payment provider said password=hunter2 is wrong")
    log.critical("disk full")
    log.warning("only a warning")

    error, critical = raised
    assert (error.severity, critical.severity) == (Severity.ERROR, Severity.CRITICAL)
    assert error.trace_id == format(span.get_span_context().trace_id, "032x")
    assert "hunter2" not in error.message + error.title
    assert error.source == "log"


def test_an_exception_already_on_the_current_span_is_alerted_once(raised: list[Alert]) -> None:
    log = logging.getLogger("tests.alerts.app")
    with tracer.start_as_current_span("GET /x", kind=SpanKind.SERVER, attributes={"http.route": "/x"}) as span:
        try:
            raise ValueError("bad")
        except ValueError as exc:
            span.record_exception(exc)
            span.set_status(Status(StatusCode.ERROR))
            log.exception("unhandled")

    assert [a.source for a in raised] == ["span"]


@pytest.mark.parametrize("name", ["opentelemetry.exporter.otlp", "otel.access", "otel.alerts.dispatcher", "slack_sdk"])
def test_records_from_the_pipeline_itself_never_become_alerts(raised: list[Alert], name: str) -> None:
    logging.getLogger(name).error("export failed")
    assert raised == []


def test_same_problem_same_fingerprint_different_route_different_fingerprint(raised: list[Alert]) -> None:
    _server_span("/a", 500)
    _server_span("/a", 500)
    _server_span("/b", 500)

    first, second, other = raised
    assert first.fingerprint == second.fingerprint
    assert other.fingerprint != first.fingerprint


def test_trace_link_points_at_grafana_when_configured(raised: list[Alert]) -> None:
    otel.configure(alert_settings=AlertSettings(_env_file=None, grafana_url="https://grafana.example.com/"))
    _server_span("/a", 500)

    (alert,) = raised
    assert alert.trace_url is not None
    assert alert.trace_url.startswith("https://grafana.example.com/explore?")
    assert alert.trace_id is not None
    assert alert.trace_id in alert.trace_url
