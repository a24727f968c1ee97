"""The migrations build exactly the schema the models describe, and undo it."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, inspect

from service.config import Settings
from service.migrate import SchemaOutOfDateError, alembic_config, prepare_schema, upgrade_to_head
from service.models import Base


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(_env_file=None, environment="test", database_url=f"sqlite:///{tmp_path / 'm.db'}")


@pytest.fixture
def engine(settings: Settings) -> Iterator[Engine]:
    engine = create_engine(settings.database_url)
    yield engine
    engine.dispose()


def test_upgrade_matches_the_models(engine: Engine, settings: Settings) -> None:
    head = ScriptDirectory.from_config(alembic_config(settings)).get_current_head()
    assert upgrade_to_head(engine=engine, settings=settings) == head
    with engine.connect() as connection:
        drift = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert drift == []
    tables = ("sessions", "events", "alerts", "alert_deliveries")
    indexes = {index["name"] for table in tables for index in inspect(engine).get_indexes(table)}
    assert indexes == {
        "ix_sessions_user_id_started_at",
        "ix_events_session_id_occurred_at_id",
        "ix_alerts_fingerprint_last_seen_at",
        "ix_alerts_first_seen_at",
        "uq_alerts_external_key",
        "ix_alert_deliveries_alert_id",
        "ix_alert_deliveries_status_next_attempt_at",
    }


def test_upgrade_twice_is_harmless_and_downgrade_empties(engine: Engine, settings: Settings) -> None:
    upgrade_to_head(engine=engine, settings=settings)
    upgrade_to_head(engine=engine, settings=settings)
    command.downgrade(alembic_config(settings), "base")
    assert set(inspect(engine).get_table_names()) == {"alembic_version"}


def test_a_server_database_at_head_is_accepted(engine: Engine, settings: Settings) -> None:
    upgrade_to_head(engine=engine, settings=settings)
    prepare_schema(engine=engine, settings=_not_sqlite(settings))


def test_a_server_database_behind_head_is_refused(engine: Engine, settings: Settings) -> None:
    # prepare_schema migrates only SQLite: present this empty file as a server database instead.
    with pytest.raises(SchemaOutOfDateError, match="python -m service migrate"):
        prepare_schema(engine=engine, settings=_not_sqlite(settings))


def _not_sqlite(settings: Settings) -> Settings:
    class ServerSettings(Settings):
        @property
        def is_sqlite(self) -> bool:
            return False

    return ServerSettings(_env_file=None, **settings.model_dump())
