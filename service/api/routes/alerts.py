"""Alerts: the stored list (for operators), and the endpoint Alertmanager's webhook calls."""

import hmac
from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import func, select

from otel.alerts import AlertDispatcher
from service.alerting.alertmanager import AlertmanagerWebhook, IngestResult, ingest
from service.api.deps import Limit, Offset, SessionDep, SettingsDep, require_json
from service.auth import token_scopes
from service.errors import Forbidden, ServiceNotConfigured, Unauthorized
from service.models import StoredAlert
from service.schemas import AlertPublic, ErrorResponse, Page

READ_SCOPE = "alerts:read"
_bearer = HTTPBearer(auto_error=False)
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]

router = APIRouter(prefix="/alerts", tags=["alerts"])
webhook_router = APIRouter(prefix="/alerts", tags=["alerts"])


async def require_alerts_reader(settings: SettingsDep, credentials: Credentials) -> None:
    """Alerts carry stack traces and internals: only tokens granted ``alerts:read`` may list them."""
    if credentials is None:  # the router's authentication has already refused this; kept for clarity
        raise Unauthorized("Send an `Authorization: Bearer <token>` header.")
    scopes = token_scopes(
        token=credentials.credentials, secret=settings.jwt_secret.get_secret_value(), algorithm=settings.jwt_algorithm
    )
    if READ_SCOPE not in scopes:
        raise Forbidden(f"Listing alerts needs a token with the `{READ_SCOPE}` scope.")


@router.get("", dependencies=[Depends(require_alerts_reader)], responses={403: {"model": ErrorResponse}})
def list_alerts(  # noqa: PLR0917 - FastAPI reads query parameters from the signature
    db: SessionDep,
    limit: Limit = 20,
    offset: Offset = 0,
    severity: Literal["info", "warning", "error", "critical"] | None = None,
    status: Literal["open", "resolved"] | None = None,
    since: Annotated[datetime | None, Query(description="Only alerts last seen at or after this time.")] = None,
) -> Page[AlertPublic]:
    """Stored alerts, most recently seen first, with their per-channel delivery state."""
    query = select(StoredAlert)
    if severity is not None:
        query = query.where(StoredAlert.severity == severity)
    if status is not None:
        query = query.where(StoredAlert.status == status)
    if since is not None:
        query = query.where(StoredAlert.last_seen_at >= (since if since.tzinfo else since.replace(tzinfo=UTC)))
    total = db.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = db.scalars(query.order_by(StoredAlert.last_seen_at.desc()).limit(limit).offset(offset)).all()
    items = [AlertPublic.from_row(row) for row in rows]
    return Page[AlertPublic](items=items, total=total, limit=limit, offset=offset)


async def require_webhook_token(settings: SettingsDep, credentials: Credentials) -> None:
    expected = settings.webhook_token
    if expected is None:
        raise ServiceNotConfigured("The Alertmanager webhook is disabled: set ALERTMANAGER_WEBHOOK_TOKEN.")
    if credentials is None or not hmac.compare_digest(credentials.credentials.encode(), expected.encode()):
        raise Unauthorized("The webhook token is missing or wrong.")


@webhook_router.post(
    "/alertmanager",
    dependencies=[Depends(require_webhook_token), Depends(require_json)],
    responses={
        400: {"model": ErrorResponse},
        401: {"model": ErrorResponse},
        413: {"model": ErrorResponse},
        415: {"model": ErrorResponse},
        422: {"model": ErrorResponse},
        503: {"model": ErrorResponse},
    },
)
def alertmanager_webhook(payload: AlertmanagerWebhook, db: SessionDep, request: Request) -> IngestResult:
    """Store Alertmanager's notification once (replays are recognised) and resolve on its resolved notice."""
    dispatcher: AlertDispatcher | None = getattr(request.app.state, "alert_dispatcher", None)
    channels = list(dispatcher.channels) if dispatcher is not None else []
    result = ingest(db, payload, channels=channels, now=datetime.now(UTC))
    if dispatcher is not None:
        for alert in result.stored_alerts:
            dispatcher.stored_elsewhere(alert)
    return result
