"""Probes and the Prometheus scrape endpoint; outside ``/api/v1`` and without user authentication."""

import logging
import secrets
from typing import Annotated

from fastapi import APIRouter, Depends, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

import otel
from service.api.deps import SessionDep, SettingsDep
from service.errors import DatabaseUnavailable, Unauthorized
from service.schemas import ErrorResponse, HealthStatus, ReadyStatus

logger = logging.getLogger(__name__)

router = APIRouter(tags=["health"])

_metrics_bearer = HTTPBearer(auto_error=False, description="METRICS_TOKEN, when one is configured.")


@router.get("/health")
async def health() -> HealthStatus:
    """Liveness: the process answers. Touches nothing else, so a database outage never restarts it."""
    return HealthStatus()


@router.get("/ready", responses={503: {"model": ErrorResponse}})
def ready(db: SessionDep) -> ReadyStatus:
    """Readiness: the database answers ``SELECT 1``."""
    try:
        db.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        logger.warning("not ready: the database did not answer: %s", type(exc).__name__)
        raise DatabaseUnavailable("The database is unreachable.") from None
    return ReadyStatus()


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}}, 401: {"model": ErrorResponse}},
)
def metrics(
    settings: SettingsDep, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_metrics_bearer)]
) -> Response:
    """The service's metrics in the Prometheus text format; needs ``METRICS_TOKEN`` when one is set."""
    expected = settings.metrics_token
    if expected is not None:
        presented = credentials.credentials if credentials is not None else ""
        # Constant-time comparison: the token must not be guessable byte by byte from response times.
        if not secrets.compare_digest(presented.encode(), expected.get_secret_value().encode()):
            raise Unauthorized("A valid metrics bearer token is required.")
    body, content_type = otel.prometheus_exposition()
    return Response(content=body, media_type=content_type)
