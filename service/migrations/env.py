"""Alembic environment: the URL comes from the service settings, never from ``alembic.ini``.

Called three ways: the ``alembic`` command line from the repository root, ``python -m service
migrate``, and the app's lifespan (SQLite), which hands over its own connection in
``config.attributes["connection"]``.
"""

from logging.config import fileConfig
from typing import Any, Literal

from alembic import context
from sqlalchemy import Connection, create_engine, pool
from sqlalchemy.engine import make_url

from service.config import Settings, get_settings
from service.models import Base, UTCDateTime

config = context.config
target_metadata = Base.metadata

# Only the alembic command line sets up logging from alembic.ini; inside the service the
# telemetry kit owns logging and must not be reconfigured.
if config.config_file_name is not None and config.cmd_opts is not None:
    fileConfig(config.config_file_name, disable_existing_loggers=False)


def _settings() -> Settings:
    injected = config.attributes.get("settings")
    return injected if isinstance(injected, Settings) else get_settings()


def _render_item(type_: str, obj: Any, _autogen_context: Any) -> str | Literal[False]:
    # Migrations must not import application code that may change later: spell the plain type.
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def _configure(**kwargs: Any) -> None:
    context.configure(
        target_metadata=target_metadata,
        render_item=_render_item,
        compare_type=True,
        # SQLite cannot ALTER most things; batch mode rebuilds tables and is a no-op elsewhere.
        render_as_batch=True,
        **kwargs,
    )


def run_migrations_offline() -> None:
    """``alembic upgrade head --sql``: print the SQL instead of running it."""
    _configure(url=make_url(_settings().database_url), literal_binds=True, dialect_opts={"paramstyle": "named"})
    with context.begin_transaction():
        context.run_migrations()


def _run_on(connection: Connection) -> None:
    _configure(connection=connection)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """Run on the connection handed over by the service, or on a short-lived engine."""
    connection = config.attributes.get("connection")
    if isinstance(connection, Connection):
        _run_on(connection)
        return
    engine = create_engine(make_url(_settings().database_url), poolclass=pool.NullPool)
    try:
        with engine.connect() as new_connection:
            _run_on(new_connection)
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
