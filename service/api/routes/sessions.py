"""Recording sessions: start, list, read and stop."""

import logging
import uuid

from fastapi import APIRouter, Depends

from service import crud
from service.api.deps import AppMetricsDep, CurrentUser, Limit, Offset, SessionDep, require_json
from service.schemas import ErrorResponse, Page, SessionCreate, SessionPublic, SessionStatus

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/sessions", tags=["sessions"])


@router.post(
    "",
    status_code=201,
    dependencies=[Depends(require_json)],
    responses={415: {"model": ErrorResponse}},
)
def start_session(body: SessionCreate, db: SessionDep, user_id: CurrentUser, metrics: AppMetricsDep) -> SessionPublic:
    """Start recording a new session for the caller."""
    recording = crud.create_session(db=db, user_id=user_id, title=body.title)
    metrics.session_started()
    logger.info("session started", extra={"session_id": str(recording.id)})
    return SessionPublic.model_validate(recording)


@router.get("")
def list_sessions(
    db: SessionDep, user_id: CurrentUser, limit: Limit = 20, offset: Offset = 0, status: SessionStatus | None = None
) -> Page[SessionPublic]:
    """The caller's sessions, newest first."""
    page, total = crud.list_sessions(db=db, user_id=user_id, status=status, limit=limit, offset=offset)
    items = [SessionPublic.model_validate(recording) for recording in page]
    return Page[SessionPublic](items=items, total=total, limit=limit, offset=offset)


@router.get("/{session_id}", responses={404: {"model": ErrorResponse}})
def read_session(session_id: uuid.UUID, db: SessionDep, user_id: CurrentUser) -> SessionPublic:
    """One of the caller's sessions, with its event count."""
    return SessionPublic.model_validate(crud.get_session(db=db, user_id=user_id, session_id=session_id))


@router.post("/{session_id}/stop", responses={404: {"model": ErrorResponse}})
def stop_session(session_id: uuid.UUID, db: SessionDep, user_id: CurrentUser, metrics: AppMetricsDep) -> SessionPublic:
    """Stop recording. Idempotent: stopping a stopped session returns it unchanged (200).

    A retry after a lost response must not fail, so a repeat is not a conflict; ``stopped_at``
    keeps the time of the first stop.
    """
    recording, stopped_now = crud.stop_session(db=db, user_id=user_id, session_id=session_id)
    if stopped_now:
        metrics.session_stopped()
        logger.info("session stopped", extra={"session_id": str(recording.id), "event_count": recording.event_count})
    return SessionPublic.model_validate(recording)
