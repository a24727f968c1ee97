"""Reads and writes of sessions and events; every function takes keyword arguments only.

Every query is scoped to the caller's ``user_id``, so another user's session is simply not found.
"""

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import CursorResult, func, insert, select, update
from sqlalchemy.orm import Session

from service.errors import Conflict, NotFound
from service.models import Event, RecordingSession
from service.schemas import EventIn, SessionStatus


def _now() -> datetime:
    return datetime.now(UTC)


def _rowcount(result: Any) -> int:
    # DML through Session.execute returns a CursorResult; the ORM's signature only promises Result.
    return cast(CursorResult[Any], result).rowcount


def create_session(*, db: Session, user_id: str, title: str) -> RecordingSession:
    recording = RecordingSession(id=uuid.uuid4(), user_id=user_id, title=title, started_at=_now(), event_count=0)
    db.add(recording)
    db.commit()
    return recording


def get_session(*, db: Session, user_id: str, session_id: uuid.UUID) -> RecordingSession:
    """The caller's session; a missing one and someone else's look the same (404, never 403)."""
    recording = db.scalar(
        select(RecordingSession)
        .where(RecordingSession.id == session_id, RecordingSession.user_id == user_id)
        # Read through the identity map: the conditional UPDATEs below change rows behind the ORM's back.
        .execution_options(populate_existing=True)
    )
    if recording is None:
        raise NotFound(f"Session {session_id} was not found.")
    return recording


def list_sessions(
    *, db: Session, user_id: str, status: SessionStatus | None, limit: int, offset: int
) -> tuple[Sequence[RecordingSession], int]:
    """One page of the caller's sessions, newest first, and how many match in all."""
    filters = [RecordingSession.user_id == user_id]
    if status is SessionStatus.ACTIVE:
        filters.append(RecordingSession.stopped_at.is_(None))
    elif status is SessionStatus.STOPPED:
        filters.append(RecordingSession.stopped_at.is_not(None))
    total = db.scalar(select(func.count()).select_from(RecordingSession).where(*filters)) or 0
    page = db.scalars(
        select(RecordingSession)
        .where(*filters)
        .order_by(RecordingSession.started_at.desc(), RecordingSession.id.desc())
        .limit(limit)
        .offset(offset)
    ).all()
    return page, total


def stop_session(*, db: Session, user_id: str, session_id: uuid.UUID) -> tuple[RecordingSession, bool]:
    """Stop the session; idempotent. Returns it and whether this call is the one that stopped it.

    A conditional UPDATE decides, so two concurrent stops cannot both count as "the" stop. It also
    takes the write lock; only then is the clock read for ``stopped_at``, so every batch that got in
    before the stop has ``received_at <= stopped_at``.
    """
    active = (
        RecordingSession.id == session_id,
        RecordingSession.user_id == user_id,
        RecordingSession.stopped_at.is_(None),
    )
    claimed = db.execute(update(RecordingSession).where(*active).values(stopped_at=_now()))
    stopped_now = _rowcount(claimed) == 1
    if stopped_now:
        db.execute(update(RecordingSession).where(RecordingSession.id == session_id).values(stopped_at=_now()))
    db.commit()
    return get_session(db=db, user_id=user_id, session_id=session_id), stopped_now


def add_events(*, db: Session, user_id: str, session_id: uuid.UUID, events: Sequence[EventIn]) -> int:
    """Store one batch in one transaction; a stopped session takes no more events (409).

    The count is bumped by a conditional UPDATE first: it locks the session row (PostgreSQL) or
    the database (SQLite), so a concurrent stop lands either before the batch (409) or after it.
    """
    result = db.execute(
        update(RecordingSession)
        .where(
            RecordingSession.id == session_id,
            RecordingSession.user_id == user_id,
            RecordingSession.stopped_at.is_(None),
        )
        .values(event_count=RecordingSession.event_count + len(events))
    )
    if _rowcount(result) != 1:
        db.rollback()
        recording = get_session(db=db, user_id=user_id, session_id=session_id)  # 404 if not the caller's
        raise Conflict(f"Session {recording.id} is stopped; start a new session to record more events.")
    received_at = _now()
    db.execute(
        insert(Event),
        [
            {
                "session_id": session_id,
                "type": event.type,
                "url": event.url,
                "title": event.title,
                "occurred_at": event.occurred_at,
                "received_at": received_at,
                "payload": event.payload,
            }
            for event in events
        ],
    )
    db.commit()
    return len(events)


def list_events(
    *, db: Session, user_id: str, session_id: uuid.UUID, limit: int, offset: int
) -> tuple[Sequence[Event], int]:
    """One page of a session's events in the order they happened, and the session's event count."""
    recording = get_session(db=db, user_id=user_id, session_id=session_id)
    page = db.scalars(
        select(Event)
        .where(Event.session_id == session_id)
        .order_by(Event.occurred_at, Event.id)
        .limit(limit)
        .offset(offset)
    ).all()
    return page, recording.event_count
