"""PostgreSQL goes away and comes back: 503s in JSON meanwhile, an alert, and recovery without a restart.

The service reaches PostgreSQL through a ``tcp_switch``: closing it drops every pooled connection and
refuses new ones, as a database restart or a network cut would; opening it again is the database's
return. (The service that starts with no database at all is tests/integration/test_database_unavailable.py.)
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator

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

pytestmark = pytest.mark.postgres


@pytest.fixture
def database(postgres_url: str | None) -> Iterator[tuple[TcpSwitch, str]]:
    if postgres_url is None:
        if os.environ.get("REQUIRE_STACK") == "1":
            pytest.fail("TEST_DATABASE_URL is not set and REQUIRE_STACK=1")
        pytest.skip("TEST_DATABASE_URL is not set")
    url = make_url(postgres_url)
    with running_switch((url.host or "127.0.0.1", url.port or 5432)) as switch:
        through = url.set(host="127.0.0.1", port=switch.port).update_query_dict({"connect_timeout": "2"})
        yield switch, through.render_as_string(hide_password=False)


@pytest.fixture
def api(database: tuple[TcpSwitch, str], capotel: TelemetryCapture, fake_slack: FakeSlack) -> Iterator[Api]:
    _, url = database
    settings = make_settings(url)
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


def _until(condition: object, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return True
        time.sleep(0.2)
    return False


def test_the_database_goes_away_and_the_service_recovers_by_itself(
    api: Api, database: tuple[TcpSwitch, str], fake_slack: FakeSlack
) -> None:
    switch, _ = database
    user = f"db-fault-{uuid.uuid4().hex[:8]}"  # the PostgreSQL database is shared with other tests
    auth = api.auth(user)
    assert api.client.get("/ready").status_code == 200
    assert api.client.post("/api/v1/sessions", json={"title": "before"}, headers=auth).status_code == 201

    switch.set_mode("closed")

    assert api.client.get("/health").status_code == 200
    ready = api.client.get("/ready")
    assert ready.status_code == 503
    assert ready.json()["error"]["code"] == "database_unavailable"
    for response in (
        api.client.get("/api/v1/sessions", headers=auth),
        api.client.post("/api/v1/sessions", json={"title": "during"}, headers=auth),
    ):
        assert response.status_code == 503, response.text
        assert response.headers["content-type"].startswith("application/json")
        assert response.json()["error"]["code"] == "database_unavailable"
        assert "Traceback" not in response.text
        assert "psycopg" not in response.text
    # The outage is alerted, from memory (the alert outbox is the unreachable database).
    assert _until(lambda: any("Database unavailable" in r.raw.decode() for r in fake_slack.requests), 15), [
        r.body for r in fake_slack.requests
    ]

    switch.set_mode("forward")

    assert _until(lambda: api.client.get("/ready").status_code == 200, 15), "not ready again"
    assert api.client.post("/api/v1/sessions", json={"title": "after"}, headers=auth).status_code == 201
    titles = {s["title"] for s in api.client.get("/api/v1/sessions", headers=auth).json()["items"]}
    assert titles == {"before", "after"}
