"""The database goes away and comes back: 503s in JSON meanwhile, an alert, and recovery without a restart.

PostgreSQL is reached through a ``tcp_switch``: closing it drops every pooled connection and refuses new
ones, as a database restart or a network cut would; opening it again is the database's return.

The embedded SQLite has no network to cut (and the tests run as root, so file permissions stop nothing).
Its real outage is another process holding the write lock, a backup or a migration in ``BEGIN EXCLUSIVE``:
a write then waits out the busy timeout and SQLite answers "database is locked". In WAL mode (service/db.py)
readers are not blocked by a writer, so reads, and ``/ready``, go on being served.

(The service that starts with no database at all is tests/integration/test_database_unavailable.py.)
"""

from __future__ import annotations

import os
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any, Protocol

import pytest
from api_harness import Api, make_settings
from fake_slack import FakeSlack
from fastapi.testclient import TestClient
from sqlalchemy.engine import make_url
from tcp_switch import TcpSwitch, running_switch

from otel.alerts import AlertSettings
from otel.alerts._channels import AlertChannelSettings
from otel.testing import TelemetryCapture
from service.app import create_app

# SQLite's busy timeout, set through the URL (pysqlite's ``timeout``; its default, which the service
# keeps, is 5 s): how long a write waits for the lock before the outage shows. Short, to bound the test.
SQLITE_BUSY_TIMEOUT_S = 1.0
ALERT_TIMEOUT_S = 15.0


@contextmanager
def _api_alerting_to(database_url: str, fake_slack: FakeSlack) -> Iterator[Api]:
    """The app on ``database_url``, alerting to the fake Slack with fast polling and retries."""
    settings = make_settings(database_url)
    channels = AlertChannelSettings(
        _env_file=None,
        slack_token=fake_slack.token,
        slack_channel="#alerts",
        slack_api_url=fake_slack.api_url,
        sentry_dsn=None,
        timeout_s=2,
    )
    alerts = AlertSettings(_env_file=None, poll_seconds=0.05, retry_base_seconds=0.1)
    app = create_app(settings, alert_settings=alerts, channel_settings=channels)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield Api(client, settings)


def _until(condition: Callable[[], object], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return False


class _Response(Protocol):
    """What the test client answers (httpx's or httpx2's ``Response``, whichever Starlette picked)."""

    @property
    def status_code(self) -> int: ...
    @property
    def headers(self) -> Mapping[str, str]: ...
    @property
    def text(self) -> str: ...
    def json(self) -> Any: ...


def _assert_unavailable(response: _Response, *, driver: str) -> None:
    """The one answer to a database outage: 503 with the JSON error body, no trace of the driver."""
    assert response.status_code == 503, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["error"]["code"] == "database_unavailable"
    assert "Traceback" not in response.text
    assert driver not in response.text


def _assert_alerted(fake_slack: FakeSlack) -> None:
    # From memory when need be: the alert outbox lives in the database that is out.
    def alerted() -> bool:
        return any("Database unavailable" in r.raw.decode() for r in fake_slack.requests)

    assert _until(alerted, ALERT_TIMEOUT_S), [r.body for r in fake_slack.requests]


def _titles(api: Api, auth: dict[str, str]) -> set[str]:
    return {s["title"] for s in api.client.get("/api/v1/sessions", headers=auth).json()["items"]}


# --- PostgreSQL: the network to the database is cut -------------------------------------------------


@pytest.fixture
def postgres_switch(postgres_url: str | None) -> Iterator[tuple[TcpSwitch, str]]:
    if postgres_url is None:
        if os.environ.get("REQUIRE_STACK") == "1":
            pytest.fail("TEST_DATABASE_URL is not set and REQUIRE_STACK=1")
        pytest.skip("TEST_DATABASE_URL is not set")
    url = make_url(postgres_url)
    with running_switch((url.host or "127.0.0.1", url.port or 5432)) as switch:
        through = url.set(host="127.0.0.1", port=switch.port).update_query_dict({"connect_timeout": "2"})
        yield switch, through.render_as_string(hide_password=False)


@pytest.mark.postgres
def test_the_database_goes_away_and_the_service_recovers_by_itself(
    postgres_switch: tuple[TcpSwitch, str], capotel: TelemetryCapture, fake_slack: FakeSlack
) -> None:
    switch, url = postgres_switch
    user = f"db-fault-{uuid.uuid4().hex[:8]}"  # the PostgreSQL database is shared with other tests
    with _api_alerting_to(url, fake_slack) as api:
        auth = api.auth(user)
        assert api.client.get("/ready").status_code == 200
        assert api.client.post("/api/v1/sessions", json={"title": "before"}, headers=auth).status_code == 201

        switch.set_mode("closed")

        assert api.client.get("/health").status_code == 200
        ready = api.client.get("/ready")
        assert ready.status_code == 503
        assert ready.json()["error"]["code"] == "database_unavailable"
        _assert_unavailable(api.client.get("/api/v1/sessions", headers=auth), driver="psycopg")
        _assert_unavailable(
            api.client.post("/api/v1/sessions", json={"title": "during"}, headers=auth), driver="psycopg"
        )
        _assert_alerted(fake_slack)

        switch.set_mode("forward")

        assert _until(lambda: api.client.get("/ready").status_code == 200, 15), "not ready again"
        assert api.client.post("/api/v1/sessions", json={"title": "after"}, headers=auth).status_code == 201
        assert _titles(api, auth) == {"before", "after"}


# --- SQLite: another process holds the write lock ---------------------------------------------------


def test_a_locked_sqlite_database_answers_503_and_the_service_recovers_by_itself(
    tmp_path: Path, capotel: TelemetryCapture, fake_slack: FakeSlack
) -> None:
    path = tmp_path / "mindhit.db"
    with _api_alerting_to(f"sqlite:///{path}?timeout={SQLITE_BUSY_TIMEOUT_S}", fake_slack) as api:
        auth = api.auth()
        assert api.client.get("/ready").status_code == 200
        assert api.client.post("/api/v1/sessions", json={"title": "before"}, headers=auth).status_code == 201

        with closing(sqlite3.connect(path, isolation_level=None)) as holder:
            holder.execute("BEGIN EXCLUSIVE")

            assert api.client.get("/health").status_code == 200
            started = time.monotonic()
            _assert_unavailable(
                api.client.post("/api/v1/sessions", json={"title": "during"}, headers=auth), driver="sqlite"
            )
            waited = time.monotonic() - started
            # The write waited for the lock as long as it was told to, and no longer.
            assert SQLITE_BUSY_TIMEOUT_S <= waited <= SQLITE_BUSY_TIMEOUT_S + 2, waited
            # WAL: a writer does not block readers, so what was committed stays readable, and the
            # readiness probe (SELECT 1, which touches no table) still answers.
            assert _titles(api, auth) == {"before"}
            assert api.client.get("/ready").status_code == 200
            _assert_alerted(fake_slack)

            holder.execute("ROLLBACK")

        # Recovered at once, with no restart: the next write is served.
        assert api.client.post("/api/v1/sessions", json={"title": "after"}, headers=auth).status_code == 201
        assert _titles(api, auth) == {"before", "after"}
