"""Engine and session factory, created in the lifespan (never at import)."""

import sqlite3
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import ConnectionPoolEntry, StaticPool

import otel
from service.config import Settings

# A readiness probe or a request must fail fast when PostgreSQL is unreachable, not hang in connect().
POSTGRES_CONNECT_TIMEOUT_SECONDS = 5


def _sqlite_pragmas(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
    if not isinstance(dbapi_connection, sqlite3.Connection):
        return
    cursor = dbapi_connection.cursor()
    try:
        # WAL lets readers proceed while a batch is written; SQLite leaves foreign keys off by default.
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
    finally:
        cursor.close()


def create_db_engine(settings: Settings, *, instrument: bool = True) -> Engine:
    """The engine for ``DATABASE_URL``, tuned per backend and instrumented by the telemetry kit.

    ``instrument=False`` (telemetry disabled) leaves the engine without the kit's hooks, so a service
    running with ``OTEL_SDK_DISABLED=true`` does no per-statement telemetry work at all.
    """
    url = make_url(settings.database_url)
    kwargs: dict[str, Any] = {}
    if url.get_backend_name() == "sqlite":
        # Sync routes run in a thread pool, so connections cross threads.
        kwargs["connect_args"] = {"check_same_thread": False}
        if url.database in (None, "", ":memory:"):
            # Each in-memory connection is its own empty database: share one.
            kwargs["poolclass"] = StaticPool
    else:
        kwargs["pool_pre_ping"] = True
        if url.get_backend_name() == "postgresql" and "connect_timeout" not in url.query:
            kwargs["connect_args"] = {"connect_timeout": POSTGRES_CONNECT_TIMEOUT_SECONDS}
    engine = create_engine(url, **kwargs)
    if url.get_backend_name() == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    if instrument:
        otel.instrument_engine(engine)
    return engine


def create_session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions for one request each; objects stay readable after commit for the response."""
    return sessionmaker(bind=engine, expire_on_commit=False)
