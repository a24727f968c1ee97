"""No one reads what is not theirs: every credential is checked on every route, data stays its owner's,
and no identity becomes a metric label."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta
from typing import Any

import jwt
from api_harness import JWT_SECRET, Api, AppFactory

from service.auth import create_access_token

WEBHOOK_TOKEN = "access-tests-webhook-token"
METRICS_TOKEN = "access-tests-metrics-token"
EVENT = {"type": "click", "url": "https://example.com/", "occurred_at": "2026-11-23T10:00:00Z"}


def _bad_tokens(api: Api) -> dict[str, dict[str, str]]:
    expired = api.token(ttl=timedelta(seconds=-5))
    other_key = create_access_token(
        subject="alice", secret="another-key-that-is-long-enough-for-hs256", algorithm="HS256", ttl=timedelta(hours=1)
    )
    unsigned = jwt.encode({"sub": "alice", "exp": 4102444800}, key="", algorithm="none")
    header, payload, _ = api.token().split(".")
    return {
        "missing": {},
        "expired": {"Authorization": f"Bearer {expired}"},
        "wrongly signed": {"Authorization": f"Bearer {other_key}"},
        "tampered": {"Authorization": f"Bearer {header}.{payload}.{'A' * 43}"},
        "unsigned": {"Authorization": f"Bearer {unsigned}"},
        "not bearer": {"Authorization": f"Basic {api.token()}"},
    }


def _operations(api: Api) -> list[tuple[str, str]]:
    """Every (method, path template) the service documents: new routes are covered without a test change."""
    paths = api.client.get("/openapi.json").json()["paths"]
    return [(method.upper(), path) for path, item in paths.items() for method in item]


def _example_path(template: str) -> str:
    return re.sub(r"\{[^}]+\}", str(uuid.uuid4()), template)


def _body(template: str) -> Any:
    return {"events": [EVENT]} if template.endswith("/events") else {"title": "x"}


def test_every_api_route_refuses_a_missing_expired_or_forged_token(make_api: AppFactory) -> None:
    api = make_api(alertmanager_webhook_token=WEBHOOK_TOKEN, metrics_token=METRICS_TOKEN)
    # The probes are public on purpose: an orchestrator calls them without credentials.
    protected = [(method, path) for method, path in _operations(api) if path not in {"/health", "/ready"}]
    assert len(protected) >= 9, protected
    for method, path in protected:
        for name, headers in _bad_tokens(api).items():
            response = api.client.request(
                method, _example_path(path), json=_body(path) if method == "POST" else None, headers=headers
            )
            where = f"{method} {path} with a {name} token"
            assert response.status_code == 401, f"{where}: {response.status_code} {response.text}"
            assert response.json()["error"]["code"] == "unauthorized", where
            assert response.headers["www-authenticate"] == "Bearer", where


def test_the_webhook_and_metrics_tokens_open_only_their_own_route(make_api: AppFactory) -> None:
    api = make_api(alertmanager_webhook_token=WEBHOOK_TOKEN, metrics_token=METRICS_TOKEN)
    as_metrics = {"Authorization": f"Bearer {METRICS_TOKEN}"}
    as_webhook = {"Authorization": f"Bearer {WEBHOOK_TOKEN}"}

    assert api.client.get("/metrics", headers=as_metrics).status_code == 200
    assert api.client.get("/metrics", headers=as_webhook).status_code == 401
    assert api.client.get("/metrics", headers=api.auth()).status_code == 401
    assert api.client.get("/api/v1/sessions", headers=as_metrics).status_code == 401
    assert api.client.get("/api/v1/sessions", headers=as_webhook).status_code == 401
    assert api.client.post("/api/v1/alerts/alertmanager", json={}, headers=as_metrics).status_code == 401


def test_a_user_can_neither_read_write_nor_stop_another_users_session(api: Api) -> None:
    bobs = api.client.post("/api/v1/sessions", json={"title": "bob's"}, headers=api.auth("bob")).json()
    base = f"/api/v1/sessions/{bobs['id']}"
    as_alice = api.auth("alice")

    attempts = [
        api.client.get(base, headers=as_alice),
        api.client.get(f"{base}/events", headers=as_alice),
        api.client.post(f"{base}/events", json={"events": [EVENT]}, headers=as_alice),
        api.client.post(f"{base}/stop", headers=as_alice),
    ]

    assert [r.status_code for r in attempts] == [404, 404, 404, 404]
    assert all(bobs["id"] in r.json()["error"]["message"] for r in attempts)  # the same answer as a missing id
    unchanged = api.client.get(base, headers=api.auth("bob")).json()
    assert (unchanged["status"], unchanged["event_count"]) == ("active", 0)
    assert api.client.get("/api/v1/sessions", headers=as_alice).json()["total"] == 0


def test_a_token_for_a_user_is_not_an_operator_token(api: Api) -> None:
    assert api.client.get("/api/v1/alerts", headers=api.auth()).status_code == 403


def test_no_user_request_or_session_id_becomes_a_metric_label(api: Api) -> None:
    identities: list[str] = []
    for user in ("label-user-one", "label-user-two"):
        request_id = f"req-{uuid.uuid4().hex[:12]}"
        headers = {**api.auth(user), "X-Request-ID": request_id}
        session = api.client.post("/api/v1/sessions", json={"title": "t"}, headers=headers).json()
        api.client.post(f"/api/v1/sessions/{session['id']}/events", json={"events": [EVENT]}, headers=headers)
        api.client.get(f"/api/v1/sessions/{session['id']}", headers=headers)
        api.client.get(f"/api/v1/sessions/{uuid.uuid4()}", headers=headers)  # 404 with an unknown id
        identities += [user, request_id, session["id"]]

    exposition = api.client.get("/metrics").text

    labels = set(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', exposition))
    assert labels, exposition[:500]
    for name, value in labels:
        assert not any(identity in value for identity in identities), (name, value)
        assert not re.search(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-", value) or name == "service_instance_id", (
            name,
            value,
        )
    names = {name for name, _ in labels}
    assert not names & {"enduser_id", "user_id", "request_id", "session_id", "url_path", "url_query"}
    assert JWT_SECRET not in exposition
