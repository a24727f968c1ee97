"""The ASGI middleware on a tiny app: span shape, metrics, request id, request log."""

from __future__ import annotations

import json
import logging
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any, NoReturn

import pytest
from fastapi import APIRouter, BackgroundTasks, FastAPI, HTTPException
from fastapi.testclient import TestClient
from opentelemetry import propagate
from opentelemetry.context import Context
from opentelemetry.propagators.textmap import Getter, TextMapPropagator, default_getter
from opentelemetry.sdk.trace import Tracer
from opentelemetry.trace import NonRecordingSpan, SpanContext, SpanKind, StatusCode, TraceFlags, set_span_in_context

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


@pytest.mark.parametrize("operation_spans", [True, False], ids=["fastapi-telemetry", "kit-server-span"])
def test_the_request_log_names_the_full_route_template_through_included_routers(
    operation_spans: bool, caplog: pytest.LogCaptureFixture, capotel: TelemetryCapture
) -> None:
    """The template comes from FastAPI's telemetry when it is on (operation spans), else from its routing
    scope; either way with the routers' prefixes, and the span agrees with the log."""
    settings = otel.TelemetrySettings(OTEL_PYTHON_FASTAPI_OPERATION_SPANS=str(operation_spans).lower())
    app = FastAPI(telemetry=otel.fastapi_telemetry(settings))
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
    server = capotel.span(kind=SpanKind.SERVER)
    assert server.instrumentation_scope is not None
    assert server.instrumentation_scope.name == ("fastapi" if operation_spans else "otel.asgi")
    assert dict(server.attributes or {})["http.route"] == "/api/v1/items/{item_id}"


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


def test_excluded_paths_record_no_metrics_either(capotel: TelemetryCapture) -> None:
    """Active requests are read while each request is in flight: 1 for a traced path, 0 for /health."""
    app = FastAPI(telemetry=otel.fastapi_telemetry(otel.TelemetrySettings()))

    def active() -> int:
        return sum(value for _, value in capotel.metric_points("http.server.active_requests", {"url.scheme": "http"}))

    @app.get("/health")
    def health() -> dict[str, int]:
        return {"active": active()}

    @app.get("/traced")
    def traced() -> dict[str, int]:
        return {"active": active()}

    otel.instrument_app(app, otel.TelemetrySettings())
    with TestClient(app) as client:
        assert client.get("/traced").json() == {"active": 1}
        assert client.get("/health").json() == {"active": 0}

    assert [attrs["http.route"] for attrs, _ in capotel.metric_points("http.server.request.duration")] == ["/traced"]


def test_a_route_converter_is_not_part_of_the_template(capotel: TelemetryCapture) -> None:
    app = FastAPI(telemetry=otel.fastapi_telemetry(otel.TelemetrySettings()))

    @app.get("/things/{thing_id:int}/parts/{part}")
    def read_part(thing_id: int, part: str) -> dict[str, str]:
        return {"part": part}

    otel.instrument_app(app, otel.TelemetrySettings())
    with TestClient(app) as client:
        assert client.get("/things/7/parts/wheel").status_code == 200

    server = capotel.span(kind=SpanKind.SERVER)
    assert server.name == "GET /things/{thing_id}/parts/{part}"
    assert dict(server.attributes or {})["http.route"] == "/things/{thing_id}/parts/{part}"


class _UpstreamPropagator(TextMapPropagator):
    """A propagator reading one capitalised header, as AWS X-Ray's or B3's do, through the getter."""

    fields = frozenset({"X-Upstream-Trace"})  # type: ignore[assignment]

    def extract(self, carrier: Any, context: Context | None = None, getter: Getter[Any] = default_getter) -> Context:
        (value,) = getter.get(carrier, "X-Upstream-Trace") or ("",)
        trace_id, _, span_id = value.partition("-")
        parent = SpanContext(int(trace_id, 16), int(span_id, 16), is_remote=True, trace_flags=TraceFlags(1))
        return set_span_in_context(NonRecordingSpan(parent), context)

    def inject(self, carrier: Any, context: Context | None = None, setter: Any = None) -> None:
        raise NotImplementedError


def test_a_configured_non_w3c_propagator_gets_the_headers_it_reads(
    client: TestClient, capotel: TelemetryCapture
) -> None:
    caller_trace = "4bf92f3577b34da6a3ce929d0e0e4736"
    configured = propagate.get_global_textmap()
    propagate.set_global_textmap(_UpstreamPropagator())
    try:
        client.get("/items/1", headers={"x-upstream-trace": f"{caller_trace}-00f067aa0ba902b7"})
    finally:
        propagate.set_global_textmap(configured)

    span = capotel.span(kind=SpanKind.SERVER)
    assert format(span.context.trace_id, "032x") == caller_trace
    assert span.parent is not None
    assert span.parent.span_id == 0x00F067AA0BA902B7


def test_a_failure_to_start_the_telemetry_never_fails_the_request(
    capotel: TelemetryCapture, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken_sampler(*_args: object, **_kwargs: object) -> NoReturn:
        raise RuntimeError("sampler bug")

    app = _app()
    with TestClient(app) as client, caplog.at_level(logging.DEBUG, logger="otel._asgi"):
        monkeypatch.setattr(Tracer, "start_span", broken_sampler)
        responses = [client.get("/items/1") for _ in range(2)]

    assert [r.status_code for r in responses] == [200, 200]
    assert all(r.headers["x-request-id"] for r in responses)
    failures = [r for r in caplog.records if r.name == "otel._asgi"]
    assert [r.levelname for r in failures] == ["ERROR", "DEBUG"]  # the stack once, then quietly
    assert capotel.spans == []
    assert len(capotel.find_logs(logger="otel.access")) == 2  # the request log is still written
    assert capotel.metric_value("http.server.active_requests") == 0


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


_LATE_PROVIDER_APP = """
import json
from fastapi import FastAPI
from fastapi.testclient import TestClient
from opentelemetry import metrics
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
import otel

settings = otel.TelemetrySettings()
app = FastAPI(telemetry=otel.fastapi_telemetry(settings))
reader = InMemoryMetricReader()

def active() -> list:
    data = reader.get_metrics_data()  # None until the reader has a provider
    if data is None:
        return []
    return [p.value for rm in data.resource_metrics for sm in rm.scope_metrics for m in sm.metrics
            if m.name == "http.server.active_requests" for p in m.data.data_points]

@app.get("/active")
def read_active() -> list:
    return active()

otel.instrument_app(app, settings)
with TestClient(app) as client:
    client.get("/active")  # served on the API's stand-in provider
    metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))
    print(json.dumps({"in_flight": client.get("/active").json(), "after": active()}))
"""


def test_a_request_served_before_the_provider_is_set_does_not_break_active_requests() -> None:
    """A process of its own: the global meter provider can be set once."""
    result = subprocess.run(  # noqa: S603  (this interpreter, a fixed script)
        [sys.executable, "-c", _LATE_PROVIDER_APP], capture_output=True, text=True, check=True, timeout=60
    )

    assert json.loads(result.stdout.strip().splitlines()[-1]) == {"in_flight": [1], "after": [0]}


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
