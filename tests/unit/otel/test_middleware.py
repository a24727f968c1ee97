"""The ASGI middleware on a tiny app: span shape, metrics, request id, request log."""

from __future__ import annotations

import json
import logging
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
from fastapi import APIRouter, BackgroundTasks, FastAPI, HTTPException
from fastapi.telemetry import TelemetryConfig
from fastapi.testclient import TestClient
from opentelemetry.trace import SpanKind, StatusCode

import otel
from otel._asgi import _is_last
from otel.testing import TelemetryCapture


def _app() -> FastAPI:
    settings = otel.TelemetrySettings()
    app = FastAPI(telemetry=otel.fastapi_telemetry(settings))

    @app.get("/items/{item_id}")
    def read_item(item_id: int) -> dict[str, int]:
        request = otel.current_request()
        assert request is not None
        request.set_user("user-7")
        logging.getLogger("tests.app").info("reading item", extra={"item": item_id})
        return {"id": item_id}

    @app.get("/missing")
    def missing() -> None:
        raise HTTPException(status_code=404)

    @app.get("/boom")
    def boom() -> None:
        raise HTTPException(status_code=503)

    @app.get("/crash")
    def crash() -> None:
        raise RuntimeError("unexpected")

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    otel.instrument_app(app, settings)
    return app


@pytest.fixture
def client(capotel: TelemetryCapture) -> Iterator[TestClient]:
    with TestClient(_app(), raise_server_exceptions=False) as client:
        yield client


def test_server_span_is_named_by_route_template_and_carries_semantic_attributes(
    client: TestClient, capotel: TelemetryCapture
) -> None:
    response = client.get("/items/42", headers={"user-agent": "pytest-agent"})

    assert response.status_code == 200
    span = capotel.span(kind=SpanKind.SERVER)
    assert span.name == "GET /items/{item_id}"
    attributes = dict(span.attributes or {})
    assert attributes["http.route"] == "/items/{item_id}"
    assert attributes["http.request.method"] == "GET"
    assert attributes["http.response.status_code"] == 200
    assert attributes["url.path"] == "/items/42"
    assert attributes["user_agent.original"] == "pytest-agent"
    assert attributes["client.address"] == "testclient"
    assert attributes["enduser.id"] == "user-7"
    assert span.status.status_code is StatusCode.UNSET


def test_response_headers_carry_request_id_and_the_spans_trace_id(
    client: TestClient, capotel: TelemetryCapture
) -> None:
    response = client.get("/items/1", headers={"x-request-id": "abc.DEF-123_x"})

    span = capotel.span(kind=SpanKind.SERVER)
    assert response.headers["x-request-id"] == "abc.DEF-123_x"
    assert response.headers["x-trace-id"] == format(span.context.trace_id, "032x")
    assert span.attributes is not None
    assert span.attributes["request_id"] == "abc.DEF-123_x"


@pytest.mark.parametrize(
    "unsafe",
    ["has space", "x" * 65, "line\\nbreak", "semi;colon", "ünïcode"],
)
def test_unsafe_client_request_ids_are_replaced_by_a_uuid(client: TestClient, unsafe: str) -> None:
    response = client.get("/items/1", headers={"x-request-id": unsafe.encode()})

    replaced = response.headers["x-request-id"]
    assert replaced != unsafe
    assert len(replaced) == 36
    assert replaced.count("-") == 4


def test_log_records_carry_trace_context_request_id_and_user(client: TestClient, capotel: TelemetryCapture) -> None:
    client.get("/items/5", headers={"x-request-id": "req-5"})

    span = capotel.span(kind=SpanKind.SERVER)
    record = capotel.log("reading item")
    assert record.in_span(span)
    assert record.attributes["request_id"] == "req-5"
    assert record.attributes["user_id"] == "user-7"
    assert record.attributes["item"] == 5


def test_one_request_completed_record_per_request_with_level_by_status(
    client: TestClient, capotel: TelemetryCapture
) -> None:
    client.get("/items/5")
    client.get("/missing")
    client.get("/boom")

    access = capotel.find_logs("request completed", logger="otel.access")
    assert [(r.level, r.attributes["http.response.status_code"]) for r in access] == [
        ("INFO", 200),
        ("WARN", 404),
        ("ERROR", 503),
    ]
    first = access[0].attributes
    assert first["http.route"] == "/items/{item_id}"
    assert first["http.request.method"] == "GET"
    assert first["latency_ms"] > 0
    assert first["client.address"] == "testclient"
    assert "user_agent.original" in first


@pytest.mark.parametrize("native_telemetry", [True, False], ids=["fastapi-telemetry", "no-fastapi-telemetry"])
def test_the_request_log_names_the_full_route_template_through_included_routers(
    native_telemetry: bool, caplog: pytest.LogCaptureFixture, request: pytest.FixtureRequest
) -> None:
    """Without FastAPI's telemetry (OTEL_SDK_DISABLED) the request log still has the routers' prefixes."""
    # Configured providers are what turn FastAPI's telemetry on.
    capotel: TelemetryCapture | None = request.getfixturevalue("capotel") if native_telemetry else None
    settings = otel.TelemetrySettings()
    off: TelemetryConfig = {"tracing": False, "metrics": False, "logs": False}
    app = FastAPI(telemetry=otel.fastapi_telemetry(settings) if native_telemetry else off)
    items = APIRouter(prefix="/items")

    @items.get("/{item_id}")
    def read_item(item_id: int) -> dict[str, int]:
        return {"id": item_id}

    api = APIRouter(prefix="/api/v1")
    api.include_router(items)
    app.include_router(api)
    otel.instrument_app(app, settings)

    with caplog.at_level(logging.INFO, logger="otel.access"), TestClient(app) as client:
        assert client.get("/api/v1/items/3").status_code == 200

    (record,) = [record for record in caplog.records if record.name == "otel.access"]
    assert getattr(record, "http.route") == "/api/v1/items/{item_id}"
    if capotel is not None:  # and the log agrees with the server span
        assert dict(capotel.span(kind=SpanKind.SERVER).attributes or {})["http.route"] == "/api/v1/items/{item_id}"


def test_5xx_marks_the_server_span_as_error(client: TestClient, capotel: TelemetryCapture) -> None:
    client.get("/boom")

    span = capotel.span(kind=SpanKind.SERVER)
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes is not None
    assert span.attributes["error.type"] == "503"


def test_unhandled_exception_is_recorded_on_the_span(client: TestClient, capotel: TelemetryCapture) -> None:
    response = client.get("/crash")

    assert response.status_code == 500
    span = capotel.span(kind=SpanKind.SERVER)
    assert span.status.status_code is StatusCode.ERROR
    assert [e.name for e in span.events] == ["exception"]
    assert span.attributes is not None
    assert span.attributes["error.type"] == "RuntimeError"


def test_excluded_paths_are_not_traced_but_still_get_a_request_id(
    client: TestClient, capotel: TelemetryCapture
) -> None:
    response = client.get("/health")

    assert response.headers["x-request-id"]
    assert capotel.spans == []
    assert capotel.find_logs("request completed") == []


def test_duration_histogram_and_active_requests_follow_the_stable_conventions(
    client: TestClient, capotel: TelemetryCapture
) -> None:
    for _ in range(3):
        client.get("/items/1")
    client.get("/missing")

    ok = capotel.histogram(
        "http.server.request.duration", {"http.route": "/items/{item_id}", "http.response.status_code": 200}
    )
    assert ok.count == 3
    assert ok.sum > 0
    assert ok.bounds[:3] == [0.005, 0.01, 0.025]
    assert sum(ok.buckets.values()) == 3
    unmatched = capotel.histogram("http.server.request.duration", {"http.response.status_code": 404})
    assert unmatched.count == 1
    assert capotel.metric_value("http.server.active_requests") == 0


def test_incoming_traceparent_continues_the_callers_trace(client: TestClient, capotel: TelemetryCapture) -> None:
    caller_trace = "4bf92f3577b34da6a3ce929d0e0e4736"
    client.get("/items/1", headers={"traceparent": f"00-{caller_trace}-00f067aa0ba902b7-01"})

    span = capotel.span(kind=SpanKind.SERVER)
    assert format(span.context.trace_id, "032x") == caller_trace
    assert span.parent is not None
    assert span.parent.span_id == 0x00F067AA0BA902B7


def test_sqlite_module_is_untouched(capotel: TelemetryCapture) -> None:
    """The kit instruments SQLAlchemy engines it is given, never the DB-API modules globally."""
    sqlite3.connect(":memory:").execute("select 1").close()
    assert capotel.spans == []


def test_an_unknown_method_is_recorded_as_other_with_the_original_kept(
    client: TestClient, capotel: TelemetryCapture
) -> None:
    client.request("PURGE", "/items/1")

    span = capotel.span(kind=SpanKind.SERVER)
    attributes = dict(span.attributes or {})
    assert span.name.startswith("HTTP")
    assert attributes["http.request.method"] == "_OTHER"
    assert attributes["http.request.method_original"] == "PURGE"
    assert capotel.histogram("http.server.request.duration", {"http.request.method": "_OTHER"}).count == 1


def test_server_attributes_come_from_the_host_header_and_the_query_is_kept(
    client: TestClient, capotel: TelemetryCapture
) -> None:
    client.get("/items/1?verbose=1", headers={"host": "api.example.org:8443"})

    attributes = dict(capotel.span(kind=SpanKind.SERVER).attributes or {})
    assert attributes["server.address"] == "api.example.org"
    assert attributes["server.port"] == 8443
    assert attributes["url.query"] == "verbose=1"
    assert attributes["url.scheme"] == "http"
    assert attributes["network.protocol.version"] == "1.1"


def test_the_span_and_the_duration_end_with_the_response_not_with_background_tasks(
    capotel: TelemetryCapture,
) -> None:
    settings = otel.TelemetrySettings()
    app = FastAPI(telemetry=otel.fastapi_telemetry(settings))
    finished: list[int] = []

    def slow_cleanup() -> None:
        time.sleep(0.3)
        finished.append(time.time_ns())

    @app.get("/later")
    def later(background: BackgroundTasks) -> dict[str, str]:
        background.add_task(slow_cleanup)
        return {"ok": "yes"}

    otel.instrument_app(app, settings)
    with TestClient(app) as client:
        assert client.get("/later").status_code == 200

    span = capotel.span(kind=SpanKind.SERVER)
    assert span.end_time is not None
    assert span.end_time < finished[0]
    assert capotel.histogram("http.server.request.duration", {"http.route": "/later"}).max < 0.3  # type: ignore[operator]


def test_excluded_paths_record_no_metrics_either(client: TestClient, capotel: TelemetryCapture) -> None:
    client.get("/health")

    assert capotel.metric_points("http.server.request.duration") == []
    assert all(value == 0 for _, value in capotel.metric_points("http.server.active_requests"))


_UNCONFIGURED_APP = """
import json, logging
from fastapi import FastAPI
from fastapi.testclient import TestClient
from opentelemetry import metrics, trace
import otel

settings = otel.TelemetrySettings()
app = FastAPI(telemetry=otel.fastapi_telemetry(settings))

@app.get("/items/{item_id}")
def read_item(item_id: int) -> dict:
    return {"id": item_id}

otel.instrument_app(app, settings)
records = []
handler = logging.Handler()
handler.emit = records.append
logging.getLogger("otel.access").addHandler(handler)
logging.getLogger("otel.access").setLevel(logging.INFO)
with TestClient(app) as client:
    response = client.get("/items/3")
middleware = app.middleware_stack
while type(middleware).__name__ != "RequestTelemetryMiddleware":
    middleware = middleware.app
print(json.dumps({
    "headers": sorted(response.headers),
    "routes": [getattr(r, "http.route") for r in records],
    "tracer": middleware._tracer is not None,
    "instruments": middleware._current_instruments() is not None,
    "provider": type(trace.get_tracer_provider()).__name__,
}))
"""


def test_without_configured_providers_requests_get_an_id_and_a_log_line_and_nothing_else() -> None:
    """What OTEL_SDK_DISABLED=true leaves: the API's stand-in providers. A process of its own, since the
    test session has configured the global providers for capotel."""
    result = subprocess.run(  # noqa: S603  (this interpreter, a fixed script)
        [sys.executable, "-c", _UNCONFIGURED_APP], capture_output=True, text=True, check=True, timeout=60
    )
    found = json.loads(result.stdout.strip().splitlines()[-1])

    assert found == {
        "headers": ["content-length", "content-type", "x-request-id"],
        "routes": ["/items/{item_id}"],
        "tracer": False,
        "instruments": False,
        "provider": "ProxyTracerProvider",
    }


def test_with_fastapi_operation_spans_fastapi_makes_the_server_span_and_the_kit_adds_to_it(
    capotel: TelemetryCapture,
) -> None:
    settings = otel.TelemetrySettings(OTEL_PYTHON_FASTAPI_OPERATION_SPANS="true")
    app = FastAPI(telemetry=otel.fastapi_telemetry(settings))

    @app.get("/items/{item_id}")
    def read_item(item_id: int) -> dict[str, int]:
        return {"id": item_id}

    otel.instrument_app(app, settings)
    with TestClient(app) as client:
        response = client.get("/items/3", headers={"x-request-id": "op-spans-1"})

    server = capotel.span(kind=SpanKind.SERVER)
    assert server.name == "GET /items/{item_id}"
    assert server.instrumentation_scope is not None
    assert server.instrumentation_scope.name == "fastapi"
    assert dict(server.attributes or {})["request_id"] == "op-spans-1"
    assert response.headers["x-trace-id"] == format(server.context.trace_id, "032x")
    assert [span.name for span in capotel.children(server)] != []
    assert capotel.histogram("http.server.request.duration", {"http.route": "/items/{item_id}"}).count == 1


@pytest.mark.parametrize(
    ("message", "trailers", "last"),
    [
        ({"type": "http.response.body", "body": b"x"}, False, True),
        ({"type": "http.response.body", "body": b"x", "more_body": True}, False, False),
        ({"type": "http.response.body", "body": b"x"}, True, False),  # trailers still to come
        ({"type": "http.response.trailers", "headers": []}, True, True),
        ({"type": "http.response.trailers", "headers": [], "more_trailers": True}, True, False),
        ({"type": "http.response.pathsend", "path": "/srv/report.pdf"}, False, True),
        ({"type": "http.response.start", "status": 200}, False, False),
    ],
)
def test_the_response_ends_at_its_last_message(message: dict[str, object], trailers: bool, last: bool) -> None:
    assert _is_last(message, trailers=trailers) is last
