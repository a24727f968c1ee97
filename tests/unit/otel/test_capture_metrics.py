"""Metric reads: what the test measured, read on demand, whatever ran before; failures list the points."""

from __future__ import annotations

import math
from collections.abc import Iterable

import pytest
from opentelemetry import metrics
from opentelemetry.metrics import CallbackOptions, Observation

from otel.testing import HistogramValue, TelemetryCapture

meter = metrics.get_meter("tests.capture_metrics")
requests = meter.create_counter("tests.metrics.requests")
in_flight = meter.create_up_down_counter("tests.metrics.in_flight")
sizes = meter.create_histogram("tests.metrics.size", unit="By", explicit_bucket_boundaries_advisory=[10, 100])
temperature = meter.create_gauge("tests.metrics.temperature")
_queue = {"length": 0}


def _observe_queue(_: CallbackOptions) -> Iterable[Observation]:
    yield Observation(_queue["length"], {"queue": "jobs"})


meter.create_observable_counter("tests.metrics.jobs_seen", [_observe_queue])


@pytest.mark.parametrize("run", range(3))
def test_every_test_starts_from_zero(capotel: TelemetryCapture, run: int) -> None:
    requests.add(1, {"route": "/a"})
    sizes.record(50)

    assert capotel.metric_value("tests.metrics.requests") == 1
    assert capotel.histogram("tests.metrics.size").count == 1


def test_reads_are_on_demand_and_add_up_within_a_test(capotel: TelemetryCapture) -> None:
    requests.add(2, {"route": "/a"})
    assert capotel.metric_value("tests.metrics.requests", {"route": "/a"}) == 2
    requests.add(3, {"route": "/a"})
    requests.add(1, {"route": "/b"})

    assert capotel.metric_value("tests.metrics.requests", {"route": "/a"}) == 5
    assert capotel.metric_value("tests.metrics.requests") == 6
    assert capotel.metric_points("tests.metrics.requests") == [({"route": "/a"}, 5.0), ({"route": "/b"}, 1.0)]


def test_an_up_down_counter_that_went_up_and_down_was_still_recorded(capotel: TelemetryCapture) -> None:
    in_flight.add(1, {"route": "/a"})
    in_flight.add(-1, {"route": "/a"})

    assert capotel.metric_value("tests.metrics.in_flight") == 0
    assert capotel.metric_points("tests.metrics.in_flight") == [({"route": "/a"}, 0.0)]


def test_histogram_count_sum_min_max_and_buckets(capotel: TelemetryCapture) -> None:
    for value in (5, 50, 60):
        sizes.record(value, {"kind": "upload"})
    capotel.metric_value  # noqa: B018  (reading in between must not lose or double anything)
    assert capotel.histogram("tests.metrics.size").count == 3
    sizes.record(500, {"kind": "download"})

    upload = capotel.histogram("tests.metrics.size", {"kind": "upload"})
    assert upload == HistogramValue(3, 115, {10: 1, 100: 2, math.inf: 0}, min=5, max=60)
    both = capotel.histogram("tests.metrics.size")
    assert (both.count, both.sum, both.min, both.max) == (4, 615, 5, 500)
    assert both.buckets == {10: 1, 100: 2, math.inf: 1}
    assert both.bounds == [10, 100, math.inf]


def test_gauges_report_their_last_value_and_observable_counters_their_change(capotel: TelemetryCapture) -> None:
    _queue["length"] += 7
    temperature.set(20.5, {"room": "lab"})
    temperature.set(21.0, {"room": "lab"})

    assert capotel.metric_value("tests.metrics.temperature", {"room": "lab"}) == 21.0
    assert capotel.metric_value("tests.metrics.jobs_seen") == 7
    _queue["length"] += 1
    assert capotel.metric_value("tests.metrics.jobs_seen") == 8


def test_metrics_as_dicts_lists_what_the_test_recorded(capotel: TelemetryCapture) -> None:
    requests.add(1, {"route": "/a"})
    sizes.record(5)

    assert capotel.metrics_as_dicts(["tests.metrics.requests", "tests.metrics.size"]) == [
        {
            "name": "tests.metrics.requests",
            "kind": "counter",
            "unit": "",
            "points": [{"attributes": {"route": "/a"}, "value": 1.0}],
        },
        {
            "name": "tests.metrics.size",
            "kind": "histogram",
            "unit": "By",
            "points": [
                {"attributes": {}, "count": 1, "sum": 5, "min": 5, "max": 5, "buckets": {10: 1, 100: 0, math.inf: 0}}
            ],
        },
    ]
    assert "tests.metrics.in_flight" not in [m["name"] for m in capotel.metrics_as_dicts()]


def test_clear_restarts_the_metrics_too(capotel: TelemetryCapture) -> None:
    requests.add(5)
    capotel.clear()
    requests.add(1)

    assert capotel.metric_value("tests.metrics.requests") == 1


def test_a_metric_not_recorded_in_this_test_fails_with_the_names_that_were(capotel: TelemetryCapture) -> None:
    requests.add(1)

    with pytest.raises(AssertionError) as failure:
        capotel.metric_value("tests.metrics.request")
    message = str(failure.value)
    assert message.startswith(
        "no metric named 'tests.metrics.request' was recorded in this test; recorded: tests.metrics.requests; "
    )
    # an observable instrument is read at every collection: listed apart when it did not move
    assert "unchanged: " in message
    assert "tests.metrics.jobs_seen" in message
    assert capotel.metric_points("tests.metrics.in_flight") == []


def test_wrong_attributes_fail_listing_the_attribute_sets_that_exist(capotel: TelemetryCapture) -> None:
    requests.add(2, {"route": "/a", "method": "GET"})
    requests.add(1, {"route": "/b", "method": "GET"})

    with pytest.raises(AssertionError) as failure:
        capotel.metric_value("tests.metrics.requests", {"http.route": "/a"})
    assert str(failure.value) == (
        "no point of 'tests.metrics.requests' has attributes {'http.route': '/a'}\n"
        "points of 'tests.metrics.requests' (counter) recorded in this test:\n"
        "  - {'method': 'GET', 'route': '/a'}: 2\n"
        "  - {'method': 'GET', 'route': '/b'}: 1\n"
        "(to assert that nothing was recorded, use `capotel.metric_points('tests.metrics.requests', {...}) == []`)"
    )
    assert capotel.metric_points("tests.metrics.requests", {"route": "/c"}) == []


def test_histogram_failures_list_count_sum_min_and_max(capotel: TelemetryCapture) -> None:
    sizes.record(5, {"kind": "upload"})
    sizes.record(7, {"kind": "upload"})

    with pytest.raises(AssertionError, match=r"\{'kind': 'upload'\}: count=2 sum=12 min=5 max=7"):
        capotel.histogram("tests.metrics.size", {"kind": "download"})


def test_asking_for_the_wrong_kind_says_which_query_to_use(capotel: TelemetryCapture) -> None:
    requests.add(1)
    sizes.record(1)

    with pytest.raises(AssertionError, match=r"'tests\.metrics\.size' is a histogram; use histogram\(\)"):
        capotel.metric_value("tests.metrics.size")
    with pytest.raises(AssertionError, match=r"'tests\.metrics\.requests' is a counter; use metric_value\(\)"):
        capotel.histogram("tests.metrics.requests")
