"""capotel sees the alerts raised during the test, from spans and from log records."""

from __future__ import annotations

import logging

import pytest
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from otel.testing import TelemetryCapture


def test_alerts_raised_in_the_test_are_captured_in_order(capotel: TelemetryCapture) -> None:
    with trace.get_tracer("t").start_as_current_span(
        "GET /a", kind=SpanKind.SERVER, attributes={"http.route": "/a", "http.response.status_code": 503}
    ) as span:
        span.set_status(Status(StatusCode.ERROR))
    logging.getLogger("tests.capture.alerts").critical("disk full")

    assert [(a.severity, a.source) for a in capotel.alerts] == [("error", "span"), ("critical", "log")]
    assert capotel.alert(source="log").title == "tests.capture.alerts: disk full"
    assert capotel.alert(severity="error").route == "/a"


def test_alerts_do_not_leak_between_tests(capotel: TelemetryCapture) -> None:
    assert capotel.alerts == []


def test_exactly_one_alert_lists_what_was_raised(capotel: TelemetryCapture) -> None:
    logging.getLogger("tests.capture.alerts").error("first")
    logging.getLogger("tests.capture.alerts").error("second")

    with pytest.raises(AssertionError, match=r"found 2; raised:\n  - \[error\] log: tests.capture.alerts: first"):
        capotel.alert(severity="error")
