"""Sessions and events against an in-memory SQLite database: ownership, stop and ordering."""

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, create_engine
from sqlalchemy.orm import Session
from sqlalchemy.pool import StaticPool

from service import crud
from service.errors import Conflict, NotFound
from service.models import Base
from service.schemas import EventIn, SessionStatus

T0 = datetime(2030, 1, 1, 12, tzinfo=UTC)


@pytest.fixture
def engine() -> Iterator[Engine]:
    engine = create_engine("sqlite://", poolclass=StaticPool)
    Base.metadata.create_all(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def db(engine: Engine) -> Iterator[Session]:
    with Session(engine, expire_on_commit=False) as db:
        yield db


def event(kind: str = "click", seconds: int = 0) -> EventIn:
    return EventIn.model_validate(
        {"type": kind, "url": "https://example.org/", "occurred_at": T0 + timedelta(seconds=seconds)}
    )


def test_another_users_session_is_not_found(db: Session) -> None:
    mine = crud.create_session(db=db, user_id="alice", title="mine")
    with pytest.raises(NotFound):
        crud.get_session(db=db, user_id="bob", session_id=mine.id)
    with pytest.raises(NotFound):
        crud.add_events(db=db, user_id="bob", session_id=mine.id, events=[event()])
    with pytest.raises(NotFound):
        crud.stop_session(db=db, user_id="bob", session_id=mine.id)
    assert crud.get_session(db=db, user_id="alice", session_id=mine.id).stopped_at is None


def test_stop_is_idempotent_and_keeps_the_first_time(db: Session) -> None:
    recording = crud.create_session(db=db, user_id="alice", title="t")
    first, stopped_now = crud.stop_session(db=db, user_id="alice", session_id=recording.id)
    again, stopped_again = crud.stop_session(db=db, user_id="alice", session_id=recording.id)
    assert (stopped_now, stopped_again) == (True, False)
    assert first.status == again.status == "stopped"
    assert again.stopped_at == first.stopped_at
    assert again.stopped_at is not None
    assert again.stopped_at.tzinfo is UTC


def test_events_after_stop_conflict_and_store_nothing(db: Session) -> None:
    recording = crud.create_session(db=db, user_id="alice", title="t")
    crud.stop_session(db=db, user_id="alice", session_id=recording.id)
    with pytest.raises(Conflict, match="is stopped"):
        crud.add_events(db=db, user_id="alice", session_id=recording.id, events=[event()])
    events, total = crud.list_events(db=db, user_id="alice", session_id=recording.id, limit=10, offset=0)
    assert (list(events), total) == ([], 0)


def test_events_come_back_in_time_order_then_arrival(db: Session) -> None:
    recording = crud.create_session(db=db, user_id="alice", title="t")
    crud.add_events(db=db, user_id="alice", session_id=recording.id, events=[event("scroll", 5), event("click", 1)])
    crud.add_events(db=db, user_id="alice", session_id=recording.id, events=[event("highlight", 1)])
    events, total = crud.list_events(db=db, user_id="alice", session_id=recording.id, limit=10, offset=0)
    assert [e.type for e in events] == ["click", "highlight", "scroll"]
    assert total == 3
    assert all(e.occurred_at.tzinfo is UTC for e in events)
    page, _ = crud.list_events(db=db, user_id="alice", session_id=recording.id, limit=1, offset=1)
    assert [e.type for e in page] == ["highlight"]
    assert crud.get_session(db=db, user_id="alice", session_id=recording.id).event_count == 3


def test_sessions_are_listed_newest_first_and_filtered(db: Session) -> None:
    first = crud.create_session(db=db, user_id="alice", title="first")
    second = crud.create_session(db=db, user_id="alice", title="second")
    crud.create_session(db=db, user_id="bob", title="not mine")
    crud.stop_session(db=db, user_id="alice", session_id=first.id)

    page, total = crud.list_sessions(db=db, user_id="alice", status=None, limit=10, offset=0)
    assert ([s.id for s in page], total) == ([second.id, first.id], 2)
    active, total_active = crud.list_sessions(db=db, user_id="alice", status=SessionStatus.ACTIVE, limit=10, offset=0)
    assert ([s.id for s in active], total_active) == ([second.id], 1)
    stopped, _ = crud.list_sessions(db=db, user_id="alice", status=SessionStatus.STOPPED, limit=10, offset=0)
    assert [s.id for s in stopped] == [first.id]
    one, total = crud.list_sessions(db=db, user_id="alice", status=None, limit=1, offset=1)
    assert ([s.id for s in one], total) == ([first.id], 2)


def test_unknown_session_is_not_found(db: Session) -> None:
    with pytest.raises(NotFound):
        crud.list_events(db=db, user_id="alice", session_id=uuid.uuid4(), limit=10, offset=0)
