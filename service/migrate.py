"""Running and checking the Alembic migrations from inside the service.

SQLite (the embedded default) is upgraded at start-up: there is no one else to do it. Any other
database is upgraded only by ``python -m service migrate``, a deliberate deploy step, and the app
refuses to serve a schema that is behind.
"""

import fcntl
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from service.config import Settings

logger = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


class SchemaOutOfDateError(RuntimeError):
    """The database schema is not the one this code was written for."""


def alembic_config(settings: Settings) -> Config:
    """An Alembic config that needs no ``alembic.ini`` (which need not be installed with the package)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["settings"] = settings
    return config


def upgrade_to_head(*, engine: Engine, settings: Settings) -> str | None:
    """Apply pending migrations on ``engine`` in one transaction; return the revision reached."""
    config = alembic_config(settings)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
    return ScriptDirectory.from_config(config).get_current_head()


def current_and_head(*, engine: Engine, settings: Settings) -> tuple[set[str], set[str]]:
    """The revisions the database is at, and the ones the code expects."""
    script = ScriptDirectory.from_config(alembic_config(settings))
    with engine.connect() as connection:
        current = set(MigrationContext.configure(connection).get_current_heads())
    return current, set(script.get_heads())


@contextmanager
def _one_migration_at_a_time(database_url: str) -> Iterator[None]:
    """Holds an exclusive lock on the SQLite file while one process migrates it.

    Workers started together (``--workers``, gunicorn) would otherwise all find a new file empty and
    all run CREATE TABLE, and all but one fail. ``flock`` locks are apart from SQLite's own (``fcntl``)
    locks, so this one serialises the upgrades without touching how SQLite locks the data.
    """
    database = make_url(database_url).database
    if not database or database == ":memory:" or database.startswith("file:"):
        yield
        return
    with Path(database).open("ab") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def prepare_schema(*, engine: Engine, settings: Settings) -> None:
    """Migrate SQLite; for any other database, refuse to start on a schema that is behind.

    An unreachable database is not a reason to refuse: the app starts, ``/ready`` reports 503 until
    the database is back, and the schema is checked again at the next start.
    """
    if settings.is_sqlite:
        with _one_migration_at_a_time(settings.database_url):
            revision = upgrade_to_head(engine=engine, settings=settings)
        logger.info("database schema at revision %s", revision)
        return
    try:
        current, head = current_and_head(engine=engine, settings=settings)
    except OperationalError as exc:
        logger.warning("could not check the database schema, the database is unreachable: %s", exc.orig)
        return
    if current != head:
        message = (
            f"database schema is at {sorted(current) or 'no revision'}, this release needs {sorted(head)}; "
            "run `python -m service migrate` first"
        )
        logger.error(message)
        raise SchemaOutOfDateError(message)
    logger.info("database schema at revision %s", ", ".join(sorted(current)))
