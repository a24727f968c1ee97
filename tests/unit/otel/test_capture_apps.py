"""capotel on a real FastAPI app with an instrumented SQLAlchemy engine: TestClient, and httpx in async tests."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from opentelemetry.trace import SpanKind
from sqlalchemy import Engine, create_engine, text

import otel
from otel.testing import TelemetryCapture


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # trio is not a dependency; the kit's context handling is asyncio's


def _select_one(engine: Engine) -> None:
    with engine.connect() as connection:
        connection.execute(text("SELECT 1")).scalar_one()


@pytest.fixture
def engine(tmp_path: Path, capotel: TelemetryCapture) -> Iterator[Engine]:
    engine = create_engine(f"sqlite:///{tmp_path / 'notes.db'}")
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)"))
    otel.instrument_engine(engine)
    capotel.assert_instrumented(lambda: _select_one(engine), scope="otel.sqlalchemy", kind=SpanKind.CLIENT)
    yield engine
    otel.uninstrument_engine(engine)
    capotel.assert_not_instrumented(lambda: _select_one(engine), scope="otel.sqlalchemy")
    engine.dispose()


@pytest.fixture
def app(engine: Engine) -> FastAPI:
    settings = otel.TelemetrySettings()
    app = FastAPI(telemetry=otel.fastapi_telemetry(settings))

    @app.post("/notes", status_code=201)
    def add_note(body: str) -> dict[str, int]:
        with engine.begin() as connection:
            connection.execute(text("INSERT INTO notes (body) VALUES (:body)"), {"body": body})
            count = connection.execute(text("SELECT count(*) FROM notes")).scalar_one()
        logging.getLogger("tests.notes").info("note added", extra={"notes": count})
        return {"notes": count}

    @app.get("/ping")
    async def ping() -> dict[str, str]:
        return {"ping": "pong"}

    otel.instrument_app(app, settings)
    return app


TREE = (
    "[trace=1 span=1 t=1..8] POST /notes (SERVER) http.response.status_code=201 http.route='/notes'\n"
    "    [span=2 t=2..3] INSERT notes (CLIENT) db.query.text='INSERT INTO notes (body) VALUES (?)'\n"
    "    [span=3 t=4..5] SELECT notes (CLIENT) db.query.text='SELECT count(*) FROM notes'\n"
    "    [t=6] log INFO tests.notes: 'note added'\n"
    "    [t=7] log INFO otel.access: 'request completed'\n"
    "[trace=2 span=4 t=9..11] GET /ping (SERVER) http.response.status_code=200 http.route='/ping'\n"
    "    [t=10] log INFO otel.access: 'request completed'"
)
SHOWN = ("http.route", "http.response.status_code", "db.query.text")


def test_test_client_in_a_sync_test(app: FastAPI, capotel: TelemetryCapture, caplog: pytest.LogCaptureFixture) -> None:
    # The client's own "HTTP Request" record is logged on the test's thread while the app finishes on
    # the TestClient's: its place among the app's instants would differ from run to run.
    caplog.set_level(logging.WARNING, logger="httpx2")
    with TestClient(app) as client:
        assert client.post("/notes", params={"body": "hello"}).json() == {"notes": 1}
        assert client.get("/ping").status_code == 200

    assert capotel.span_tree(SHOWN, ids=True, times=True, logs=True) == TREE
    server = capotel.span("POST /notes", kind=SpanKind.SERVER)
    assert [s.name for s in capotel.children(server)] == ["INSERT notes", "SELECT notes"]
    assert capotel.log("note added").in_span(server)
    assert capotel.metric_value("http.server.active_requests") == 0
    assert capotel.histogram("db.client.operation.duration", {"db.operation.name": "INSERT"}).count == 1


@pytest.mark.anyio
async def test_httpx_async_client_in_an_async_test(
    app: FastAPI, capotel: TelemetryCapture, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="httpx")
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        assert (await client.post("/notes", params={"body": "hello"})).json() == {"notes": 1}
        assert (await client.get("/ping")).status_code == 200

    assert capotel.span_tree(SHOWN, ids=True, times=True, logs=True) == TREE
    server = capotel.span("POST /notes", kind=SpanKind.SERVER)
    select = capotel.span("SELECT notes", parent=server)
    assert select.attributes is not None
    assert select.attributes["db.collection.name"] == "notes"
    assert capotel.log("request completed", in_span=server).attributes["http.response.status_code"] == 201
    assert capotel.histogram("http.server.request.duration", {"http.route": "/notes"}).count == 1
