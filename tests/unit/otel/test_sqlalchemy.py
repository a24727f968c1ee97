"""Database spans and the operation duration histogram from the engine hooks."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from opentelemetry import trace
from opentelemetry.trace import SpanKind, StatusCode
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.exc import OperationalError

import otel
from otel._sqlalchemy import describe_statement
from otel.testing import TelemetryCapture


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = create_engine(f"sqlite:///{tmp_path / 'test.db'}")
    otel.instrument_engine(engine)
    otel.instrument_engine(engine)  # twice on purpose: must not double the spans
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)"))
    yield engine
    otel.uninstrument_engine(engine)
    engine.dispose()


def test_each_statement_is_a_client_span_under_the_current_span(engine: Engine, capotel: TelemetryCapture) -> None:
    tracer = trace.get_tracer("test")
    with tracer.start_as_current_span("request"), engine.begin() as connection:
        connection.execute(text("INSERT INTO notes (body) VALUES (:body)"), {"body": "secret value"})
        connection.execute(text("SELECT body FROM notes WHERE id = :id"), {"id": 1}).all()

    parent = capotel.span("request")
    insert = capotel.span("INSERT notes", kind=SpanKind.CLIENT, parent=parent)
    select = capotel.span("SELECT notes", kind=SpanKind.CLIENT, parent=parent)
    assert insert.attributes is not None
    assert select.attributes is not None
    assert insert.attributes["db.system.name"] == "sqlite"
    assert insert.attributes["db.operation.name"] == "INSERT"
    assert insert.attributes["db.collection.name"] == "notes"
    assert select.attributes["db.query.text"] == "SELECT body FROM notes WHERE id = ?"
    assert "secret value" not in str(insert.attributes)


def test_operation_duration_histogram_by_operation_and_table(engine: Engine, capotel: TelemetryCapture) -> None:
    with engine.connect() as connection:
        for _ in range(3):
            connection.execute(text("SELECT count(*) FROM notes")).scalar_one()

    duration = capotel.histogram(
        "db.client.operation.duration",
        {"db.system.name": "sqlite", "db.operation.name": "SELECT", "db.collection.name": "notes"},
    )
    assert duration.count == 3
    assert duration.sum > 0
    assert duration.bounds[0] == 0.001


def test_failed_statement_marks_the_span_and_the_histogram_as_error(engine: Engine, capotel: TelemetryCapture) -> None:
    with engine.connect() as connection, pytest.raises(OperationalError):
        connection.execute(text("SELECT * FROM missing_table"))

    span = capotel.span("SELECT missing_table")
    assert span.status.status_code is StatusCode.ERROR
    assert [e.name for e in span.events] == ["exception"]
    failed = capotel.histogram("db.client.operation.duration", {"error.type": "OperationalError"})
    assert failed.count == 1


def test_many_rows_in_one_call_are_one_span(engine: Engine, capotel: TelemetryCapture) -> None:
    with engine.begin() as connection:
        connection.execute(text("INSERT INTO notes (body) VALUES (:body)"), [{"body": "a"}, {"body": "b"}])

    (insert,) = capotel.find_spans(name="INSERT notes")
    assert insert.attributes is not None
    assert insert.attributes["db.operation.name"] == "INSERT"


def test_the_hooks_leave_the_engine_off_sqlalchemys_evented_path(engine: Engine) -> None:
    # An engine-level listener makes every begin, execute and commit of the engine dispatch events,
    # which cost more than the span itself (docs/benchmarks.md); the hooks are the dialect's.
    assert not engine._has_events


def test_uninstrumented_engine_emits_nothing(tmp_path: Path, capotel: TelemetryCapture) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'plain.db'}")
    otel.instrument_engine(engine)
    otel.uninstrument_engine(engine)
    with engine.connect() as connection:
        connection.execute(text("SELECT 1")).scalar_one()
    engine.dispose()

    assert capotel.spans == []


@pytest.mark.parametrize(
    ("statement", "expected"),
    [
        ("SELECT a FROM sessions WHERE id = ?", ("SELECT", "sessions")),
        ('INSERT INTO "events" (a) VALUES (?)', ("INSERT", "events")),
        ("UPDATE sessions SET a = ?", ("UPDATE", "sessions")),
        ("DELETE FROM events WHERE id = ?", ("DELETE", "events")),
        ("  select 1", ("SELECT", None)),
        ("", ("UNKNOWN", None)),
    ],
)
def test_statement_description_names_operation_and_table(statement: str, expected: tuple[str, str | None]) -> None:
    assert describe_statement(statement) == expected
