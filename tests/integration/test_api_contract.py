"""The recording API's behaviour, on SQLite and PostgreSQL: the happy path, isolation, and bad input."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from api_harness import Api

EVENT: dict[str, Any] = {
    "type": "page_view",
    "url": "https://example.com/article",
    "title": "An article",
    "occurred_at": "2026-11-23T10:00:00Z",
}


def _session(api: Api, user: str = "alice", title: str = "research") -> dict[str, Any]:
    response = api.client.post("/api/v1/sessions", json={"title": title}, headers=api.auth(user))
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def _error(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    error: dict[str, Any] = response.json()["error"]
    assert error["code"] == code
    assert error["message"]
    return error


def test_session_lifecycle_records_events_in_order(api: Api) -> None:
    session = _session(api)
    assert session["status"] == "active"
    assert session["event_count"] == 0
    uuid.UUID(session["id"])
    later = {**EVENT, "type": "click", "occurred_at": "2026-11-23T10:05:00Z", "payload": {"selector": "#buy"}}
    earlier = {**EVENT, "occurred_at": "2026-11-23T09:00:00+01:00"}

    stored = api.client.post(
        f"/api/v1/sessions/{session['id']}/events", json={"events": [later, earlier]}, headers=api.auth()
    )
    assert stored.status_code == 201
    assert stored.json() == {"stored": 2}

    read = api.client.get(f"/api/v1/sessions/{session['id']}", headers=api.auth()).json()
    assert read["event_count"] == 2
    events = api.client.get(f"/api/v1/sessions/{session['id']}/events", headers=api.auth()).json()
    assert [e["type"] for e in events["items"]] == ["page_view", "click"]
    assert events["items"][1]["payload"] == {"selector": "#buy"}
    assert events["total"] == 2

    stopped = api.client.post(f"/api/v1/sessions/{session['id']}/stop", headers=api.auth())
    assert stopped.status_code == 200
    assert stopped.json()["status"] == "stopped"
    assert stopped.json()["stopped_at"] is not None
    again = api.client.post(f"/api/v1/sessions/{session['id']}/stop", headers=api.auth())
    assert again.json()["stopped_at"] == stopped.json()["stopped_at"]


def test_posting_to_a_stopped_session_is_a_409_and_stores_nothing(api: Api) -> None:
    session = _session(api)
    api.client.post(f"/api/v1/sessions/{session['id']}/stop", headers=api.auth())

    response = api.client.post(f"/api/v1/sessions/{session['id']}/events", json={"events": [EVENT]}, headers=api.auth())

    error = _error(response, 409, "conflict")
    assert "stopped" in error["message"]
    assert api.client.get(f"/api/v1/sessions/{session['id']}", headers=api.auth()).json()["event_count"] == 0


def test_list_is_paginated_filtered_and_scoped_to_the_user(api: Api) -> None:
    for index in range(3):
        _session(api, title=f"mine {index}")
    other = _session(api, user="bob")
    stopped = _session(api)
    api.client.post(f"/api/v1/sessions/{stopped['id']}/stop", headers=api.auth())

    page = api.client.get("/api/v1/sessions?limit=2&offset=0", headers=api.auth()).json()
    assert (len(page["items"]), page["total"], page["limit"]) == (2, 4, 2)
    rest = api.client.get("/api/v1/sessions?limit=2&offset=2", headers=api.auth()).json()
    assert len(rest["items"]) == 2
    active = api.client.get("/api/v1/sessions?status=active", headers=api.auth()).json()
    assert active["total"] == 3
    assert other["id"] not in {s["id"] for s in page["items"] + rest["items"]}


@pytest.mark.parametrize(
    ("method", "suffix", "body"),
    [("get", "", None), ("get", "/events", None), ("post", "/events", {"events": [EVENT]}), ("post", "/stop", None)],
)
def test_another_users_session_is_not_found(api: Api, method: str, suffix: str, body: Any) -> None:
    session = _session(api, user="bob")

    response = api.client.request(
        method, f"/api/v1/sessions/{session['id']}{suffix}", json=body, headers=api.auth("alice")
    )

    _error(response, 404, "not_found")
    assert api.client.get(f"/api/v1/sessions/{session['id']}", headers=api.auth("bob")).json()["status"] == "active"


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Basic YWxpY2U6cHc="},
        {"Authorization": "Bearer not-a-jwt"},
    ],
)
def test_requests_without_a_valid_token_are_401(api: Api, headers: dict[str, str]) -> None:
    response = api.client.get("/api/v1/sessions", headers=headers)

    _error(response, 401, "unauthorized")
    assert response.headers["www-authenticate"] == "Bearer"


def test_expired_and_wrongly_signed_tokens_are_401(api: Api) -> None:
    expired = api.token(ttl=timedelta(seconds=-1))
    assert api.client.get("/api/v1/sessions", headers={"Authorization": f"Bearer {expired}"}).status_code == 401
    forged = api.token()[:-4] + "AAAA"
    assert api.client.get("/api/v1/sessions", headers={"Authorization": f"Bearer {forged}"}).status_code == 401


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"events": []}, "events"),
        ({"events": [EVENT] * 501}, "events"),
        ({"events": [{**EVENT, "type": "teleport"}]}, "events.0.type"),
        ({"events": [{**EVENT, "url": "javascript:alert(1)"}]}, "events.0.url"),
        ({"events": [{**EVENT, "url": "https://e.com/" + "a" * 2100}]}, "events.0.url"),
        ({"events": [{**EVENT, "title": "t" * 501}]}, "events.0.title"),
        ({"events": [{**EVENT, "occurred_at": "yesterday"}]}, "events.0.occurred_at"),
        ({"events": [{**EVENT, "occurred_at": "2026-11-23T10:00:00"}]}, "events.0.occurred_at"),
        ({"events": [{**EVENT, "payload": {"blob": "x" * 5000}}]}, "events.0.payload"),
        ({"events": [{**EVENT, "payload": [1, 2]}]}, "events.0.payload"),
        ({"events": [EVENT, {**EVENT, "surprise": 1}]}, "events.1.surprise"),
        ({"evnts": [EVENT]}, "events"),
    ],
)
def test_each_invalid_event_batch_is_a_422_naming_the_field(api: Api, body: dict[str, Any], field: str) -> None:
    session = _session(api)

    response = api.client.post(f"/api/v1/sessions/{session['id']}/events", json=body, headers=api.auth())

    error = _error(response, 422, "validation_error")
    assert field in [d["field"] for d in error["details"]], error
    assert all(d["problem"] for d in error["details"])
    assert api.client.get(f"/api/v1/sessions/{session['id']}", headers=api.auth()).json()["event_count"] == 0


@pytest.mark.parametrize(("body", "field"), [({"title": ""}, "title"), ({"title": "t" * 501}, "title"), ({}, "title")])
def test_invalid_session_is_a_422_naming_the_field(api: Api, body: dict[str, Any], field: str) -> None:
    error = _error(api.client.post("/api/v1/sessions", json=body, headers=api.auth()), 422, "validation_error")
    assert [d["field"] for d in error["details"]] == [field]


def test_invalid_uuid_and_query_parameters_are_422(api: Api) -> None:
    error = _error(api.client.get("/api/v1/sessions/not-a-uuid", headers=api.auth()), 422, "validation_error")
    assert error["details"][0]["field"] == "path.session_id"
    error = _error(api.client.get("/api/v1/sessions?limit=1000", headers=api.auth()), 422, "validation_error")
    assert error["details"][0]["field"] == "query.limit"
    error = _error(api.client.get("/api/v1/sessions?status=paused", headers=api.auth()), 422, "validation_error")
    assert error["details"][0]["field"] == "query.status"


def test_malformed_json_is_a_400(api: Api) -> None:
    response = api.client.post(
        "/api/v1/sessions", content=b'{"title": ', headers={**api.auth(), "Content-Type": "application/json"}
    )
    _error(response, 400, "invalid_json")


def test_wrong_content_type_is_a_415(api: Api) -> None:
    response = api.client.post(
        "/api/v1/sessions", content=b"title=x", headers={**api.auth(), "Content-Type": "text/plain"}
    )
    _error(response, 415, "unsupported_media_type")


def test_oversized_body_is_a_413(api: Api) -> None:
    session = _session(api)
    huge = {"events": [{**EVENT, "title": "t" * 500, "payload": {"k": "v" * 3000}}] * 400}

    response = api.client.post(f"/api/v1/sessions/{session['id']}/events", json=huge, headers=api.auth())

    _error(response, 413, "payload_too_large")


def test_unknown_route_and_wrong_method_use_the_same_error_shape(api: Api) -> None:
    _error(api.client.get("/api/v1/nothing-here", headers=api.auth()), 404, "not_found")
    _error(api.client.delete("/api/v1/sessions", headers=api.auth()), 405, "method_not_allowed")


def test_health_and_readiness(api: Api) -> None:
    assert api.client.get("/health").json() == {"status": "ok"}
    assert api.client.get("/ready").json() == {"status": "ready"}


def test_every_response_carries_request_and_trace_ids(api: Api) -> None:
    for response in (
        api.client.get("/api/v1/sessions", headers=api.auth()),
        api.client.get("/api/v1/sessions"),
        api.client.post("/api/v1/sessions", json={}, headers=api.auth()),
    ):
        assert response.headers["x-request-id"]
        assert len(response.headers["x-trace-id"]) == 32
