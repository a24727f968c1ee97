"""With the database unreachable the service still starts, says so on /ready, and answers 503 in JSON."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
from api_harness import Api, make_settings
from fastapi.testclient import TestClient
from opentelemetry.trace import SpanKind

from otel.testing import TelemetryCapture
from service.app import create_app


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port  # nothing listens once the socket is closed


@pytest.fixture
def api_without_database(capotel: TelemetryCapture) -> Iterator[Api]:
    settings = make_settings(f"postgresql+psycopg://mindhit@127.0.0.1:{_closed_port()}/mindhit?connect_timeout=2")
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        yield Api(client, settings)


def test_ready_is_503_while_health_stays_200(api_without_database: Api) -> None:
    assert api_without_database.client.get("/health").status_code == 200
    response = api_without_database.client.get("/ready")

    assert response.status_code == 503
    assert response.json()["error"]["code"] == "database_unavailable"


def test_api_answers_503_json_without_a_stack_trace(api_without_database: Api, capotel: TelemetryCapture) -> None:
    api = api_without_database
    response = api.client.get("/api/v1/sessions", headers=api.auth())

    assert response.status_code == 503
    error = response.json()["error"]
    assert error["code"] == "database_unavailable"
    assert "Traceback" not in response.text
    assert "psycopg" not in response.text
    server = capotel.span(kind=SpanKind.SERVER)
    assert server.attributes is not None
    assert server.attributes["http.response.status_code"] == 503
    assert (
        capotel.metric_value("mindhit.errors", {"error.type": "database_unavailable", "error.severity": "error"}) == 1
    )
