"""The capotel fixture: isolation between tests, queries, failure messages, registration."""

from __future__ import annotations

import logging

import pytest
from opentelemetry import metrics, trace
from opentelemetry.trace import SpanKind, StatusCode

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
    assert capotel.metric_points("tests.capture.count", {"run": "other"}) == []
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

    with pytest.raises(AssertionError, match=r"found 2; captured.*:\n  - a \(INTERNAL\)\n  - a \(INTERNAL\)\n  - b"):
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


def test_find_spans_matches_scope_status_and_an_attribute_subset(capotel: TelemetryCapture) -> None:
    db = trace.get_tracer("tests.db")
    with db.start_as_current_span("q", attributes={"db.system.name": "sqlite", "n": 1}):
        pass
    with db.start_as_current_span("q", attributes={"db.system.name": "sqlite", "n": 2}) as failing:
        failing.set_status(StatusCode.ERROR, "boom")
    with trace.get_tracer("tests.other").start_as_current_span("q"):
        pass

    assert len(capotel.find_spans("q", scope="tests.db")) == 2
    assert capotel.span("q", scope="tests.db", status=StatusCode.ERROR).attributes == {
        "db.system.name": "sqlite",
        "n": 2,
    }
    assert capotel.span(attributes={"n": 1}).name == "q"
    assert capotel.find_spans(attributes={"n": 1, "missing": None}) == []


def test_children_come_in_start_order_although_exported_in_end_order(capotel: TelemetryCapture) -> None:
    tracer = trace.get_tracer("t")
    with tracer.start_as_current_span("parent") as parent:
        first = tracer.start_span("first")
        second = tracer.start_span("second")
        second.end()
        first.end()

    assert [s.name for s in capotel.spans] == ["second", "first", "parent"]
    assert [s.name for s in capotel.children(capotel.span("parent"))] == ["first", "second"]
    assert parent.is_recording() is False


def test_a_span_never_ended_is_reported_as_open(capotel: TelemetryCapture) -> None:
    forgotten = trace.get_tracer("t").start_span("forgotten")

    assert [s.name for s in capotel.open_spans] == ["forgotten"]
    with pytest.raises(AssertionError, match=r"(?s)no spans were captured.*still open.*forgotten \(INTERNAL\)"):
        capotel.span("forgotten")
    forgotten.end()
    assert capotel.open_spans == []
    assert capotel.span("forgotten").name == "forgotten"


def test_logs_are_found_by_stdlib_or_otel_level_names_and_by_correlation(capotel: TelemetryCapture) -> None:
    log = logging.getLogger("tests.capture")
    tracer = trace.get_tracer("t")
    with tracer.start_as_current_span("request"):
        with tracer.start_as_current_span("query"):
            log.warning("slow query")
        log.critical("gave up")

    request, query = capotel.span("request"), capotel.span("query")
    assert capotel.log(level="WARNING").body == "slow query"
    assert capotel.log(level="warn").body == "slow query"
    assert capotel.log(level="CRITICAL").level == "FATAL"
    assert capotel.log("slow query", in_span=query, in_trace=request).in_trace(request)
    assert [r.body for r in capotel.find_logs(in_trace=request)] == ["slow query", "gave up"]
    assert capotel.find_logs("slow query", in_span=request) == []


def test_exactly_one_log_lists_every_record_with_the_span_it_was_emitted_in(capotel: TelemetryCapture) -> None:
    log = logging.getLogger("tests.capture")
    with trace.get_tracer("t").start_as_current_span("work"):
        log.info("step", extra={"n": 1})
        log.info("step", extra={"n": 2})
    log.error("outside")

    with pytest.raises(AssertionError) as failure:
        capotel.log("step", level="INFO")
    headline, *listing = str(failure.value).splitlines()
    assert headline == "expected exactly one log record with body='step', level='INFO', found 2; captured:"
    # any thread's records are captured: a background exporter's warning may join the listing
    assert [line for line in listing if "tests.capture" in line] == [
        "  - INFO tests.capture: 'step' n=1 (in span 'work')",
        "  - INFO tests.capture: 'step' n=2 (in span 'work')",
        "  - ERROR tests.capture: 'outside' (no trace context)",
    ]
    with pytest.raises(AssertionError, match="found 0"):
        capotel.log("outside", in_span=capotel.span("work"))


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


def test_a_user_project_sees_what_was_captured_when_an_assertion_fails(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_user="""
        import logging
        from opentelemetry import metrics, trace

        hits = metrics.get_meter("user").create_counter("user.hits")

        def test_wrong_span_name(capotel):
            with trace.get_tracer("user").start_as_current_span("GET /users", attributes={"http.route": "/users"}):
                logging.getLogger("user").warning("cache miss")
                hits.add(2, {"route": "/users"})
            capotel.span("GET /user")

        def test_wrong_metric_attributes(capotel):
            hits.add(1, {"route": "/users"})
            assert capotel.metric_value("user.hits", {"path": "/users"}) == 1

        def test_wrong_log_level(capotel):
            logging.getLogger("user").warning("cache miss")
            capotel.log("cache miss", level="ERROR")
        """
    )
    assert not (pytester.path / "conftest.py").exists()

    result = pytester.runpytest_subprocess("-p", "no:randomly")

    result.assert_outcomes(failed=3)
    result.stdout.fnmatch_lines(
        [
            "*expected exactly one span with name='GET /user', found 0; captured (siblings in start order):",
            "*  - GET /users (INTERNAL) http.route='/users'",
            "*no point of 'user.hits' has attributes {'path': '/users'}",
            "*points of 'user.hits' (counter) recorded in this test:",
            "*  - {'route': '/users'}: 1",
            "*expected exactly one log record with body='cache miss', level='ERROR', found 0; captured:",
            "*  - WARN user: 'cache miss' (no trace context)",
        ]
    )


def test_a_global_provider_set_at_import_is_reported_not_silently_ignored(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        """
        from opentelemetry import trace
        from opentelemetry.sdk.trace import TracerProvider

        trace.set_tracer_provider(TracerProvider())
        """
    )
    pytester.makepyfile(
        """
        def test_one(capotel):
            pass

        def test_two(capotel):
            pass
        """
    )

    result = pytester.runpytest_subprocess("-p", "no:randomly")

    result.assert_outcomes(errors=2)
    result.stdout.fnmatch_lines(
        ["*global OpenTelemetry providers were set before the first capotel fixture*TracerProvider*"]
    )
