"""Canary: a secret sent the five ways a client or the code can leak one never leaves the process.

A unique value goes into an Authorization header, a cookie, a ``?token=`` query parameter, a JSON
``password`` field and an exception message (injected into the real service process before it starts,
as ``monkeypatch`` would in-process). The service exports OTLP to a local receiver and delivers alerts
to local Slack and Sentry servers; then every byte of every exported span, metric and log record,
every Slack payload, every Sentry envelope, every stored alert row and the console output is searched
for it. The positive checks prove each path carried the request (so the canary had every chance).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from fake_sentry import FakeSentry
from fake_slack import FakeSlack
from otlp_receiver import Received, http_receiver
from service_process import base_environment, running_service, token, wait_until

CANARY = "canary-0e6a4f1d9b7c"
# The injected failure quotes credentials the way a careless error message would.
FAULT = f"""
import service.crud as crud
_list_sessions = crud.list_sessions
def list_sessions(**kwargs):
    if kwargs.get("offset") == 7:
        raise RuntimeError("upstream refused Authorization: Bearer {CANARY} with password={CANARY}")
    return _list_sessions(**kwargs)
crud.list_sessions = list_sessions
"""


def _attributes(item: Any) -> dict[str, Any]:
    return {kv.key: getattr(kv.value, kv.value.WhichOneof("value")) for kv in item.attributes}


def _spans(received: Received) -> list[Any]:
    return [
        s for r in received.requests["traces"] for rs in r.resource_spans for ss in rs.scope_spans for s in ss.spans
    ]


def _logs(received: Received) -> list[Any]:
    return [
        lr for r in received.requests["logs"] for rl in r.resource_logs for sl in rl.scope_logs for lr in sl.log_records
    ]


def _stored_alerts(database: Path) -> list[tuple[Any, ...]]:
    with sqlite3.connect(database) as connection:
        return (
            connection.execute("SELECT * FROM alerts").fetchall()
            + connection.execute("SELECT * FROM alert_deliveries").fetchall()
        )


def test_a_canary_secret_never_leaves_the_process(
    tmp_path: Path, fake_slack: FakeSlack, fake_sentry: FakeSentry
) -> None:
    user = token("canary-user")
    requests: list[Callable[[httpx.Client], httpx.Response]] = [
        lambda c: c.get("/api/v1/sessions", headers={"Authorization": f"Bearer {CANARY}"}),
        lambda c: c.get("/api/v1/sessions", headers={"Authorization": f"Bearer {user}", "Cookie": f"sid={CANARY}"}),
        lambda c: c.get(f"/api/v1/sessions?limit=5&token={CANARY}", headers={"Authorization": f"Bearer {user}"}),
        lambda c: c.post(
            "/api/v1/sessions", json={"title": "t", "password": CANARY}, headers={"Authorization": f"Bearer {user}"}
        ),
        lambda c: c.get("/api/v1/sessions?offset=7", headers={"Authorization": f"Bearer {user}"}),
    ]
    with http_receiver() as (endpoint, received):
        env = base_environment(
            tmp_path,
            OTEL_EXPORTER_OTLP_ENDPOINT=endpoint,
            SLACK_TOKEN=fake_slack.token,
            SLACK_CHANNEL="#alerts",
            SLACK_API_URL=fake_slack.api_url,
            SENTRY_DSN=fake_sentry.dsn,
            ALERT_POLL_SECONDS="0.1",
        )
        with running_service(tmp_path, env, fault=FAULT) as service:
            with httpx.Client(base_url=service.url, timeout=10) as client:
                statuses = [call(client).status_code for call in requests]
            wait_until(lambda: fake_slack.requests and fake_sentry.events, timeout=20, what="the alert's delivery")
            service.terminate()  # the lifespan flushes every signal to the receiver
            console = service.output()

    assert statuses == [401, 200, 422, 422, 500]
    # Every path reached the telemetry: the canary had every chance to be there.
    spans = _spans(received)
    query = [_attributes(s)["url.query"] for s in spans if "url.query" in _attributes(s)]
    assert any("token=[REDACTED]" in q for q in query), query
    failed = next(s for s in spans if any(e.name == "exception" for e in s.events))
    assert "Bearer [REDACTED]" in _attributes(failed.events[0])["exception.message"]
    assert any("exception.message" in _attributes(record) for record in _logs(received))
    assert received.metric_names()
    assert fake_slack.requests
    assert fake_sentry.events
    stored = _stored_alerts(tmp_path / "mindhit.db")
    assert stored
    assert "RuntimeError" in console

    leaks = {
        "spans": [r.SerializeToString() for r in received.requests["traces"]],
        "metrics": [r.SerializeToString() for r in received.requests["metrics"]],
        "log records": [r.SerializeToString() for r in received.requests["logs"]],
        "Slack payloads": [r.raw for r in fake_slack.requests],
        "Sentry envelopes": [e.body for e in fake_sentry.envelopes],
        "stored alerts": [repr(row).encode() for row in stored],
        "console": [console.encode()],
    }
    found = [where for where, payloads in leaks.items() if any(CANARY.encode() in p for p in payloads)]
    assert found == [], f"the canary leaked into: {', '.join(found)}"
