"""What the service emits for real requests: spans, logs and metrics, captured in memory."""

from __future__ import annotations

import json

import pytest
from api_harness import Api, AppFactory
from opentelemetry.trace import SpanKind, StatusCode

from otel.testing import TelemetryCapture

EVENT = {"type": "page_view", "url": "https://example.com/a", "title": "A", "occurred_at": "2026-11-23T10:00:00Z"}


def _start_session(api: Api, user: str = "alice") -> str:
    response = api.client.post("/api/v1/sessions", json={"title": "research"}, headers=api.auth(user))
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def test_server_span_is_named_by_route_with_status_user_and_database_children(
    api: Api, capotel: TelemetryCapture
) -> None:
    session_id = _start_session(api)
    capotel.clear()

    response = api.client.get(f"/api/v1/sessions/{session_id}", headers=api.auth())

    assert response.status_code == 200
    server = capotel.span("GET /api/v1/sessions/{session_id}", kind=SpanKind.SERVER)
    assert server.attributes is not None
    assert server.attributes["http.route"] == "/api/v1/sessions/{session_id}"
    assert server.attributes["http.response.status_code"] == 200
    assert server.attributes["enduser.id"] == "alice"
    database_spans = capotel.find_spans(kind=SpanKind.CLIENT, parent=server)
    assert database_spans, capotel.span_tree()
    assert {s.attributes["db.operation.name"] for s in database_spans if s.attributes} == {"SELECT"}
    assert all(s.attributes and s.attributes["db.collection.name"] in {"sessions", "events"} for s in database_spans)
    assert response.headers["x-trace-id"] == format(server.context.trace_id, "032x")


def test_request_id_is_on_the_span_in_every_log_record_and_echoed(api: Api, capotel: TelemetryCapture) -> None:
    response = api.client.post(
        "/api/v1/sessions", json={"title": "t"}, headers={**api.auth(), "X-Request-ID": "client-req-42"}
    )

    assert response.headers["x-request-id"] == "client-req-42"
    server = capotel.span(kind=SpanKind.SERVER)
    assert server.attributes is not None
    assert server.attributes["request_id"] == "client-req-42"
    records = [r for r in capotel.logs if r.in_trace(server)]
    assert [r.body for r in records] == ["session started", "request completed"]
    for record in records:
        assert record.attributes["request_id"] == "client-req-42"
        assert record.attributes["user_id"] == "alice"


def test_request_completed_record_has_the_access_fields(api: Api, capotel: TelemetryCapture) -> None:
    api.client.get("/api/v1/sessions", headers={**api.auth(), "User-Agent": "mindhit-extension/1.0"})

    record = capotel.log("request completed", level="INFO")
    assert record.attributes["http.request.method"] == "GET"
    assert record.attributes["http.route"] == "/api/v1/sessions"
    assert record.attributes["http.response.status_code"] == 200
    assert record.attributes["latency_ms"] > 0
    assert record.attributes["client.address"] == "testclient"
    assert record.attributes["user_agent.original"] == "mindhit-extension/1.0"
    assert record.in_span(capotel.span(kind=SpanKind.SERVER))


@pytest.mark.parametrize(("path", "status", "level"), [("/api/v1/sessions/not-a-uuid", 422, "WARN")])
def test_request_log_level_follows_the_status(
    api: Api, capotel: TelemetryCapture, path: str, status: int, level: str
) -> None:
    response = api.client.get(path, headers=api.auth())

    assert response.status_code == status
    assert capotel.log("request completed").level == level


def test_application_metrics_count_sessions_events_and_errors(api: Api, capotel: TelemetryCapture) -> None:
    first = _start_session(api)
    _start_session(api)
    batch = {"events": [EVENT, {**EVENT, "type": "click"}, {**EVENT, "type": "click"}]}
    assert api.client.post(f"/api/v1/sessions/{first}/events", json=batch, headers=api.auth()).status_code == 201
    assert api.client.post(f"/api/v1/sessions/{first}/stop", headers=api.auth()).status_code == 200
    conflict = api.client.post(f"/api/v1/sessions/{first}/events", json=batch, headers=api.auth())
    assert conflict.status_code == 409

    assert capotel.metric_value("mindhit.sessions.active") == 1
    assert capotel.metric_value("mindhit.events.processed", {"event.type": "click"}) == 2
    assert capotel.metric_value("mindhit.events.processed", {"event.type": "page_view"}) == 1
    assert capotel.metric_value("mindhit.events.processed") == 3
    assert capotel.metric_value("mindhit.errors", {"error.severity": "warning"}) == 1
    database = capotel.histogram("db.client.operation.duration", {"db.operation.name": "INSERT"})
    assert database.count >= 3, capotel.metric_points("db.client.operation.duration")


def test_http_duration_histogram_per_route_and_status(api: Api, capotel: TelemetryCapture) -> None:
    for _ in range(3):
        api.client.get("/api/v1/sessions", headers=api.auth())
    api.client.get("/api/v1/sessions")

    ok = capotel.histogram(
        "http.server.request.duration", {"http.route": "/api/v1/sessions", "http.response.status_code": 200}
    )
    unauthorized = capotel.histogram(
        "http.server.request.duration", {"http.route": "/api/v1/sessions", "http.response.status_code": 401}
    )
    assert (ok.count, unauthorized.count) == (3, 1)
    for attributes, _ in capotel.metric_points("http.server.request.duration"):
        assert "enduser.id" not in attributes
        assert "request_id" not in attributes


def test_health_ready_and_metrics_are_not_traced(api: Api, capotel: TelemetryCapture) -> None:
    for path in ("/health", "/ready", "/metrics"):
        assert api.client.get(path).status_code == 200

    assert capotel.find_spans(kind=SpanKind.SERVER) == []


def test_metrics_endpoint_serves_the_otel_instruments_in_prometheus_format(api: Api) -> None:
    _start_session(api)

    body = api.client.get("/metrics").text

    assert "http_server_request_duration_seconds_bucket" in body
    assert "mindhit_sessions_active" in body
    assert "db_client_operation_duration_seconds_bucket" in body


def test_metrics_endpoint_shows_each_series_once_after_other_apps_stopped(make_api: AppFactory) -> None:
    """Apps of one test session share the plugin's providers, and each flushes them when it stops."""
    for _ in range(3):
        earlier = make_api()
        _start_session(earlier)
        earlier.close()
    api = make_api()
    _start_session(api)

    samples = [line for line in api.client.get("/metrics").text.splitlines() if line and not line.startswith("#")]

    assert any(line.startswith("mindhit_sessions_active") for line in samples)
    repeated = {line for line in samples if samples.count(line) > 1}
    assert not repeated, sorted(repeated)[:5]


def test_metrics_endpoint_requires_its_token_when_configured(make_api: AppFactory) -> None:
    api = make_api(metrics_token="scrape-token-123")

    assert api.client.get("/metrics").status_code == 401
    assert api.client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert api.client.get("/metrics", headers={"Authorization": "Bearer scrape-token-123"}).status_code == 200


def test_unhandled_exception_becomes_a_json_500_with_an_exception_event(
    api: Api, capotel: TelemetryCapture, monkeypatch: pytest.MonkeyPatch
) -> None:
    def explode(**_: object) -> None:
        raise RuntimeError("kaboom")

    monkeypatch.setattr("service.api.routes.sessions.crud.list_sessions", explode)

    response = api.client.get("/api/v1/sessions", headers=api.auth())

    assert response.status_code == 500
    assert response.json()["error"]["code"] == "internal_error"
    assert "kaboom" not in response.text
    assert response.headers["x-request-id"]
    server = capotel.span(kind=SpanKind.SERVER)
    assert server.status.status_code is StatusCode.ERROR
    assert "exception" in [e.name for e in server.events]
    assert capotel.metric_value("mindhit.errors", {"error.severity": "critical"}) == 1
    assert capotel.log("request completed").level == "ERROR"
    alert = capotel.alert(severity="critical")
    assert (alert.route, alert.exception_type) == ("/api/v1/sessions", "RuntimeError")
    assert alert.trace_id == format(server.context.trace_id, "032x")


def test_production_mode_prints_one_json_object_per_line(
    make_api: AppFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    api = make_api(environment="production", jwt_secret="a-production-secret-of-sufficient-length-123")
    capsys.readouterr()

    api.client.get("/api/v1/sessions", headers=api.auth())

    lines = [line for line in capsys.readouterr().out.splitlines() if line.strip()]
    entries = [json.loads(line) for line in lines]
    access = [e for e in entries if e["message"] == "request completed"]
    assert len(access) == 1
    assert access[0]["level"] == "INFO"
    assert access[0]["http.route"] == "/api/v1/sessions"
    assert len(access[0]["trace_id"]) == 32
    assert access[0]["user_id"] == "alice"
