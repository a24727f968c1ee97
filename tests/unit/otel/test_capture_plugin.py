"""The capotel fixture: isolation between tests, queries, failure messages, registration."""

from __future__ import annotations

import logging

import pytest
from opentelemetry import metrics, trace
from opentelemetry.trace import SpanKind

from otel.testing import TelemetryCapture

meter = metrics.get_meter("tests.capture")
counter = meter.create_counter("tests.capture.count")
gauge_like = meter.create_up_down_counter("tests.capture.level")


@pytest.mark.parametrize("run", ["first", "second"])
def test_metric_values_are_isolated_between_tests(capotel: TelemetryCapture, run: str) -> None:
    counter.add(1, {"run": "any"})
    gauge_like.add(2)

    assert capotel.metric_value("tests.capture.count") == 1
    assert capotel.metric_value("tests.capture.count", {"run": "any"}) == 1
    assert capotel.metric_value("tests.capture.count", {"run": "other"}) == 0
    assert capotel.metric_value("tests.capture.level") == 2


def test_unknown_metric_fails_with_the_list_of_recorded_names(capotel: TelemetryCapture) -> None:
    counter.add(1)
    with pytest.raises(AssertionError, match=r"no metric named 'tests\.capture\.typo'.*tests\.capture\.count"):
        capotel.metric_value("tests.capture.typo")


def test_spans_from_earlier_tests_are_not_seen(capotel: TelemetryCapture) -> None:
    assert capotel.spans == []
    with trace.get_tracer("t").start_as_current_span("only-here"):
        pass
    assert [s.name for s in capotel.spans] == ["only-here"]


def test_ids_are_incremental_within_a_test_for_stable_snapshots(capotel: TelemetryCapture) -> None:
    tracer = trace.get_tracer("t")
    with tracer.start_as_current_span("root"), tracer.start_as_current_span("child"):
        pass

    root = capotel.span("root")
    assert root.context.trace_id == 1
    assert root.context.span_id == 1
    assert capotel.span("child").context.span_id == 2


def test_span_tree_orders_siblings_by_start_and_nests_children(capotel: TelemetryCapture) -> None:
    tracer = trace.get_tracer("t")
    with tracer.start_as_current_span("GET /a", kind=SpanKind.SERVER, attributes={"http.route": "/a"}):
        with tracer.start_as_current_span("SELECT a", kind=SpanKind.CLIENT):
            pass
        with tracer.start_as_current_span("INSERT b", kind=SpanKind.CLIENT):
            pass

    assert capotel.span_tree(attributes=("http.route",)) == (
        "GET /a (SERVER) http.route='/a'\n    SELECT a (CLIENT)\n    INSERT b (CLIENT)"
    )
    assert [c.name for c in capotel.children(capotel.span("GET /a"))] == ["SELECT a", "INSERT b"]


def test_exactly_one_span_lists_what_was_captured(capotel: TelemetryCapture) -> None:
    tracer = trace.get_tracer("t")
    for name in ("a", "a", "b"):
        with tracer.start_as_current_span(name):
            pass

    with pytest.raises(AssertionError, match=r"found 2; captured:\n  - a \(INTERNAL\)\n  - a \(INTERNAL\)\n  - b"):
        capotel.span("a")
    with pytest.raises(AssertionError, match="found 0"):
        capotel.span("zzz")


def test_logs_are_captured_with_level_and_trace_context(capotel: TelemetryCapture) -> None:
    log = logging.getLogger("tests.capture")
    with trace.get_tracer("t").start_as_current_span("work"):
        log.warning("disk %s", "almost full", extra={"disk": "/var"})
    log.info("outside any span")

    record = capotel.log("disk almost full", level="WARN")
    assert record.logger == "tests.capture"
    assert record.attributes["disk"] == "/var"
    assert record.in_span(capotel.span("work"))
    assert not capotel.log("outside any span").in_trace(capotel.span("work"))


def test_histogram_buckets_are_reported_per_bound(capotel: TelemetryCapture) -> None:
    histogram = meter.create_histogram("tests.capture.size", explicit_bucket_boundaries_advisory=[1, 10])
    for value in (0.5, 5, 5, 50):
        histogram.record(value)

    recorded = capotel.histogram("tests.capture.size")
    assert recorded.count == 4
    assert recorded.sum == 60.5
    assert recorded.buckets == {1: 1, 10: 2, float("inf"): 1}


def test_clear_forgets_what_came_before(capotel: TelemetryCapture) -> None:
    counter.add(5)
    with trace.get_tracer("t").start_as_current_span("before"):
        pass
    capotel.clear()
    counter.add(1)

    assert capotel.spans == []
    assert capotel.metric_value("tests.capture.count") == 1


def test_plugin_is_registered_by_entry_point_without_conftest(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        from opentelemetry import trace

        def test_uses_fixture(capotel):
            with trace.get_tracer("x").start_as_current_span("hello"):
                pass
            assert capotel.span("hello").name == "hello"
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:randomly")
    result.assert_outcomes(passed=1)
