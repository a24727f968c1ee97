"""The routes the benchmark drives, and the data each needs in a fresh service before the load starts."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx

from benchmarks._load import Request
from service.auth import create_access_token

API = "/api/v1"
EVENT_TYPES = ("page_view", "click", "scroll", "highlight", "tab_switch")
BATCH_EVENTS = 50
USER = "bench-user"


def token(secret: str, *, scopes: tuple[str, ...] = ()) -> str:
    return create_access_token(subject=USER, secret=secret, algorithm="HS256", ttl=timedelta(days=1), scopes=scopes)


def _start_session(base_url: str, bearer: str) -> str:
    response = httpx.post(
        f"{base_url}{API}/sessions",
        json={"title": "benchmark"},
        headers={"Authorization": f"Bearer {bearer}"},
        timeout=10,
    )
    response.raise_for_status()
    session_id: str = response.json()["id"]
    return session_id


def event_batch(count: int = BATCH_EVENTS) -> bytes:
    now = datetime.now(UTC).isoformat()
    events = [
        {
            "type": EVENT_TYPES[index % len(EVENT_TYPES)],
            "url": f"https://example.org/articles/{index}?ref=bench",
            "title": f"Article {index}",
            "occurred_at": now,
        }
        for index in range(count)
    ]
    return json.dumps({"events": events}).encode()


@dataclass(frozen=True)
class Route:
    """A route under load. ``prepare`` seeds a fresh service and returns the request to repeat."""

    key: str
    template: str  # the http.route of its server span
    method: str
    about: str
    prepare: Callable[[str, str], Request]  # (service base URL, JWT secret) -> request
    # Issue targets: throughput ratio at least this; p99 ratio at most P99_TARGET.
    throughput_target: float


def _read(base_url: str, secret: str) -> Request:
    bearer = token(secret)
    session_id = _start_session(base_url, bearer)
    return Request("GET", f"{base_url}{API}/sessions/{session_id}", bearer)


def _ingest(base_url: str, secret: str) -> Request:
    bearer = token(secret)
    session_id = _start_session(base_url, bearer)
    return Request("POST", f"{base_url}{API}/sessions/{session_id}/events", bearer, event_batch())


def _alerts(base_url: str, secret: str) -> Request:
    return Request("GET", f"{base_url}{API}/alerts?limit=1", token(secret, scopes=("alerts:read",)))


def _list(base_url: str, secret: str) -> Request:
    bearer = token(secret)
    _start_session(base_url, bearer)
    return Request("GET", f"{base_url}{API}/sessions?limit=1", bearer)


P99_TARGET = 1.25
ROUTES: dict[str, Route] = {
    route.key: route
    for route in (
        Route(
            "read",
            f"{API}/sessions/{{session_id}}",
            "GET",
            "one session, one indexed query; also the cheapest authenticated route (every other one queries more)",
            _read,
            0.85,
        ),
        Route(
            "ingest",
            f"{API}/sessions/{{session_id}}/events",
            "POST",
            f"a batch of {BATCH_EVENTS} events: an UPDATE and a multi-row INSERT in one transaction",
            _ingest,
            0.85,
        ),
        Route("list", f"{API}/sessions", "GET", "a page of one session: a COUNT and a SELECT", _list, 0.85),
        Route("alerts", f"{API}/alerts", "GET", "the empty alert list (scope check, COUNT, SELECT)", _alerts, 0.75),
    )
}
DEFAULT_ROUTES = ("read", "ingest", "list")
