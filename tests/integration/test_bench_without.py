"""``BENCH_WITHOUT``: each part the cost tools can leave out goes, and nothing else with it."""

from __future__ import annotations

import pytest
from api_harness import Api, AppFactory
from opentelemetry.trace import SpanKind

from benchmarks._procs import BenchError
from benchmarks._without import PARTS, SPAN_REPEATS, leave_out
from otel.alerts import AlertSettings
from otel.testing import TelemetryCapture

HTTP = "http.server.request.duration"
DATABASE = "db.client.operation.duration"
PART_OF = {HTTP: "http-histogram", DATABASE: "db-histogram"}


def _read(api: Api, capotel: TelemetryCapture) -> None:
    """One read request, the route the cost tools price parts on, and nothing but it captured."""
    created = api.client.post("/api/v1/sessions", json={"title": "t"}, headers=api.auth())
    assert created.status_code == 201, created.text
    capotel.clear()
    assert api.client.get(f"/api/v1/sessions/{created.json()['id']}", headers=api.auth()).status_code == 200


@pytest.mark.parametrize(("gone", "kept"), [(HTTP, DATABASE), (DATABASE, HTTP)])
def test_a_histogram_left_out_records_nothing_and_the_other_still_records(
    api: Api, capotel: TelemetryCapture, monkeypatch: pytest.MonkeyPatch, gone: str, kept: str
) -> None:
    leave_out(PART_OF[gone], monkeypatch.setattr)

    _read(api, capotel)

    assert capotel.metric_points(gone) == []
    assert capotel.metric_points(kept)
    assert capotel.find_spans(kind=SpanKind.CLIENT)


def test_without_the_log_bridge_no_record_reaches_otel_and_spans_stay(
    api: Api, capotel: TelemetryCapture, monkeypatch: pytest.MonkeyPatch
) -> None:
    leave_out("log-bridge", monkeypatch.setattr)

    _read(api, capotel)

    assert capotel.find_logs() == []
    assert capotel.span(kind=SpanKind.SERVER, name="GET /api/v1/sessions/{session_id}")


def test_without_span_repeats_the_request_log_keeps_only_what_the_span_lacks(
    api: Api, capotel: TelemetryCapture, monkeypatch: pytest.MonkeyPatch
) -> None:
    leave_out("log-span-repeats", monkeypatch.setattr)

    _read(api, capotel)

    record = capotel.log("request completed")
    assert not SPAN_REPEATS & set(record.attributes)
    assert record.attributes["latency_ms"] > 0
    assert record.attributes["request_id"]


def test_without_alert_rules_a_slow_request_raises_no_alert(
    make_api: AppFactory, capotel: TelemetryCapture, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Every request is "slow" at this threshold: with the rules on, the same request alerts (checked first).
    api = make_api(alert_settings=AlertSettings(_env_file=None, slow_request_seconds=1e-9))
    _read(api, capotel)
    assert capotel.alerts

    leave_out("alerts", monkeypatch.setattr)
    _read(api, capotel)

    assert capotel.alerts == []


def test_an_unknown_part_is_refused_with_the_names_of_the_known_ones() -> None:
    with pytest.raises(BenchError, match="no part named histograms; the parts are http-histogram") as refused:
        leave_out("db-histogram, histograms")

    assert all(name in str(refused.value) for name in PARTS)
