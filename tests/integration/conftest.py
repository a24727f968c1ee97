"""The service in-process, on a real database, with telemetry captured in memory by our own plugin.

Every test that takes ``api`` runs twice: on a fresh SQLite file, and on PostgreSQL when
TEST_DATABASE_URL is set (``make test`` starts one). With REQUIRE_STACK=1 a missing PostgreSQL fails.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from api_harness import Api, AppFactory, make_settings
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from otel.alerts import AlertSettings
from otel.alerts._channels import AlertChannelSettings
from otel.testing import TelemetryCapture
from service.app import create_app
from service.migrate import upgrade_to_head
from service.models import Base


@pytest.fixture(scope="session")
def postgres_url() -> str | None:
    """Migrated once per session; each test then starts from empty tables."""
    url = os.environ.get("TEST_DATABASE_URL")
    if not url:
        return None
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(text("DROP SCHEMA public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))
    upgrade_to_head(engine=engine, settings=make_settings(url))
    engine.dispose()
    return url


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path, postgres_url: str | None) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'mindhit.db'}"
    if postgres_url is None:
        if os.environ.get("REQUIRE_STACK") == "1":
            pytest.fail("TEST_DATABASE_URL is not set and REQUIRE_STACK=1")
        pytest.skip("TEST_DATABASE_URL is not set")
    engine = create_engine(postgres_url)
    with engine.begin() as connection:
        connection.execute(text(f"TRUNCATE {', '.join(Base.metadata.tables)} CASCADE"))
    engine.dispose()
    return postgres_url


@pytest.fixture
def make_api(database_url: str, capotel: TelemetryCapture) -> Iterator[AppFactory]:
    """Build the app with settings overrides (e.g. ``environment="production"``); closed after the test."""
    apis: list[Api] = []

    def build(
        *,
        alert_settings: AlertSettings | None = None,
        channel_settings: AlertChannelSettings | None = None,
        **overrides: object,
    ) -> Api:
        settings = make_settings(database_url, **overrides)
        app = create_app(
            settings,
            alert_settings=alert_settings or AlertSettings(_env_file=None),
            # No channel unless a test asks for one, whatever the developer's environment holds.
            channel_settings=channel_settings
            or AlertChannelSettings(_env_file=None, slack_token=None, slack_channel=None, sentry_dsn=None),
        )
        client = TestClient(app, raise_server_exceptions=False)
        client.__enter__()
        apis.append(Api(client, settings))
        return apis[-1]

    yield build
    for api in apis:
        api.close()


@pytest.fixture
def api(make_api: AppFactory) -> Api:
    return make_api()
