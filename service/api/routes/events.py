"""A session's events: batches posted by the extension, and the recorded list."""

import logging
import uuid

from fastapi import APIRouter, Depends

from service import crud
from service.api.deps import AppMetricsDep, CurrentUser, Limit, Offset, SessionDep, require_json
from service.schemas import ErrorResponse, EventBatch, EventPublic, EventsStored, Page

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/sessions/{session_id}/events", tags=["events"])


@router.post(
    "",
    status_code=201,
    dependencies=[Depends(require_json)],
    responses={404: {"model": ErrorResponse}, 409: {"model": ErrorResponse}, 415: {"model": ErrorResponse}},
)
def store_events(
    session_id: uuid.UUID, body: EventBatch, db: SessionDep, user_id: CurrentUser, metrics: AppMetricsDep
) -> EventsStored:
    """Store a batch of 1 to 500 events, all or none; a stopped session answers 409."""
    stored = crud.add_events(db=db, user_id=user_id, session_id=session_id, events=body.events)
    metrics.events_stored(event.type for event in body.events)
    logger.info("events stored", extra={"session_id": str(session_id), "event_count": stored})
    return EventsStored(stored=stored)


@router.get("", responses={404: {"model": ErrorResponse}})
def list_events(
    session_id: uuid.UUID, db: SessionDep, user_id: CurrentUser, limit: Limit = 20, offset: Offset = 0
) -> Page[EventPublic]:
    """The session's events in the order they happened (``occurred_at``, then arrival)."""
    page, total = crud.list_events(db=db, user_id=user_id, session_id=session_id, limit=limit, offset=offset)
    items = [EventPublic.model_validate(event) for event in page]
    return Page[EventPublic](items=items, total=total, limit=limit, offset=offset)
