"""The one JSON error shape, for domain errors, validation, routing and the database."""

from collections.abc import Callable, Iterator
from typing import Annotated, Any

import pytest
from fastapi import FastAPI, Query
from fastapi.testclient import TestClient
from pydantic import BaseModel, Field
from sqlalchemy.exc import OperationalError

from service.errors import Conflict, NotFound, Unauthorized, register_exception_handlers
from service.middleware import BodySizeLimitMiddleware
from service.observability import AppMetrics


class Item(BaseModel):
    name: str = Field(max_length=5)
    tags: list[str] = Field(default_factory=list, max_length=2)


@pytest.fixture
def client(app_metrics: AppMetrics) -> Iterator[TestClient]:
    app = FastAPI()
    app.state.metrics = app_metrics
    register_exception_handlers(app)

    @app.get("/missing")
    def missing() -> None:
        raise NotFound("Session 42 was not found.")

    @app.post("/stopped")
    def stopped() -> None:
        raise Conflict("Session 42 is stopped.")

    @app.get("/private")
    def private() -> None:
        raise Unauthorized("Send a token.")

    @app.post("/items")
    def create(item: Item, limit: Annotated[int, Query(ge=1)] = 1) -> Item:
        return item

    @app.get("/database")
    def database() -> None:
        raise OperationalError("SELECT 1", {}, ConnectionRefusedError("connection refused\nline two"))

    app.add_middleware(BodySizeLimitMiddleware, max_body_bytes=64)
    with TestClient(app) as client:
        yield client


Points = Callable[[str], dict[tuple[tuple[str, Any], ...], float]]


def errors(metric_points: Points) -> dict[tuple[str, str], float]:
    return {
        (dict(key)["error.type"], dict(key)["error.severity"]): value
        for key, value in metric_points("mindhit.errors").items()
    }


def test_not_found(client: TestClient, metric_points: Points) -> None:
    response = client.get("/missing")
    assert response.status_code == 404
    assert response.json() == {"error": {"code": "not_found", "message": "Session 42 was not found.", "details": []}}
    assert errors(metric_points) == {("not_found", "warning"): 1}


def test_conflict(client: TestClient) -> None:
    response = client.post("/stopped")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "conflict"


def test_unauthorized_carries_www_authenticate(client: TestClient) -> None:
    response = client.get("/private")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json()["error"]["code"] == "unauthorized"


def test_validation_errors_name_each_field(client: TestClient, metric_points: Points) -> None:
    response = client.post("/items?limit=0", json={"name": "too long", "tags": ["a", "b", "c"], "extra": 1})
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    fields = {detail["field"]: detail["problem"] for detail in error["details"]}
    assert set(fields) == {"name", "tags", "query.limit"}
    assert "at most 5 characters" in fields["name"]
    assert "input" not in str(error)
    assert errors(metric_points) == {("validation_error", "warning"): 1}


def test_missing_body_is_named(client: TestClient) -> None:
    response = client.post("/items", headers={"content-type": "application/json"})
    assert response.status_code == 422
    assert response.json()["error"]["details"] == [{"field": "body", "problem": "Field required"}]


def test_malformed_json_is_a_400(client: TestClient) -> None:
    response = client.post("/items", content=b'{"name": ', headers={"content-type": "application/json"})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_json"
    assert error["details"][0]["field"] == "body"


def test_unknown_route_is_a_json_404(client: TestClient) -> None:
    response = client.get("/nowhere")
    assert response.status_code == 404
    assert response.json()["error"] == {"code": "not_found", "message": "No route matches GET /nowhere.", "details": []}


def test_wrong_method_is_a_json_405(client: TestClient) -> None:
    response = client.delete("/missing")
    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"
    assert response.headers["allow"] == "GET"


def test_database_outage_is_a_503_without_internals(
    client: TestClient, metric_points: Points, caplog: pytest.LogCaptureFixture
) -> None:
    response = client.get("/database")
    assert response.status_code == 503
    assert response.json()["error"] == {
        "code": "database_unavailable",
        "message": "The database is unavailable; try again later.",
        "details": [],
    }
    assert "SELECT" not in response.text
    assert errors(metric_points) == {("database_unavailable", "error"): 1}
    (record,) = [r for r in caplog.records if r.name == "service.errors"]
    assert record.exc_info is None
    assert "connection refused" in record.getMessage()


def test_streamed_body_over_the_limit_is_a_413_from_the_handlers(client: TestClient, metric_points: Points) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"name": "'
        yield b"x" * 100
        yield b'"}'

    response = client.post("/items", content=chunks(), headers={"content-type": "application/json"})
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"
    # Counted once, by the handlers: FastAPI's 400 wrapper was unwrapped, not counted as well.
    assert errors(metric_points) == {("payload_too_large", "warning"): 1}
