"""The ``/api/v1`` router: every route under it requires an authenticated user."""

from fastapi import APIRouter, Depends

from service.api.deps import get_current_user
from service.api.routes import alerts, events, sessions
from service.schemas import ErrorResponse

# Authentication on the router, not only in each route: a new route cannot forget it. Routes that
# also take ``CurrentUser`` reuse the same (cached) result.
api_router = APIRouter(
    dependencies=[Depends(get_current_user)],
    # Errors any operation can answer, documented once: a body that is not JSON (400), a missing or bad
    # token (401), a body over MAX_BODY_BYTES (413), invalid parameters or fields (422).
    responses={
        400: {"model": ErrorResponse},
        401: {"model": ErrorResponse},
        413: {"model": ErrorResponse},
        422: {"model": ErrorResponse},
    },
)
api_router.include_router(sessions.router)
api_router.include_router(events.router)
api_router.include_router(alerts.router)
