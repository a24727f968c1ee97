"""Dependencies shared by the routes, as ``Annotated`` aliases (``SessionDep``, ``CurrentUser``, …)."""

from collections.abc import Iterator
from email.message import Message
from typing import Annotated

from fastapi import Depends, Query, Request
from fastapi.dependencies.models import Dependant
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session, sessionmaker

import otel
from service.auth import decode_access_token
from service.config import Settings
from service.errors import Unauthorized, UnsupportedMediaType
from service.observability import AppMetrics

# auto_error=False: a missing header must get our JSON 401 with WWW-Authenticate, not FastAPI's.
_bearer = HTTPBearer(auto_error=False, description="A JWT from `python -m service token --user ID`.")


def get_db(request: Request) -> Iterator[Session]:
    """One database session per request, closed (and rolled back if uncommitted) when it ends."""
    factory: sessionmaker[Session] = request.app.state.session_factory
    with factory() as db:
        yield db


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_app_metrics(request: Request) -> AppMetrics:
    app_metrics: AppMetrics = request.app.state.metrics
    return app_metrics


SessionDep = Annotated[Session, Depends(get_db)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
AppMetricsDep = Annotated[AppMetrics, Depends(get_app_metrics)]


async def get_current_user(
    settings: SettingsDep, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> str:
    """The authenticated user id; also names the user on the request's span and log records.

    Async on purpose: it does no I/O, and running on the event loop spares a thread-pool hop.
    """
    if credentials is None:
        raise Unauthorized("Send an `Authorization: Bearer <token>` header.")
    user_id = decode_access_token(
        token=credentials.credentials,
        secret=settings.jwt_secret.get_secret_value(),
        algorithm=settings.jwt_algorithm,
    )
    request_context = otel.current_request()
    if request_context is not None:
        request_context.set_user(user_id)
    return user_id


CurrentUser = Annotated[str, Depends(get_current_user)]


async def require_json(request: Request) -> None:
    """415 unless the body is declared JSON (``application/json`` or ``application/*+json``)."""
    content_type = request.headers.get("content-type")
    if content_type:
        parsed = Message()
        parsed["content-type"] = content_type
        subtype = parsed.get_content_subtype()
        if parsed.get_content_maintype() == "application" and (subtype == "json" or subtype.endswith("+json")):
            return
    received = f"got {content_type}" if content_type else "no Content-Type was given"
    raise UnsupportedMediaType(f"Send the body as application/json ({received}).")


def _query_names(dependant: Dependant) -> set[str]:
    names = {param.alias for param in dependant.query_params}
    for dependency in dependant.dependencies:
        names |= _query_names(dependency)
    return names


async def forbid_unknown_query_parameters(request: Request) -> None:
    """422 for a query parameter the operation does not take, as bodies refuse unknown fields.

    ``?limt=5`` would otherwise be ignored and quietly give the default page.
    """
    route = request.scope.get("route")
    if not isinstance(route, APIRoute) or not request.query_params:
        return
    known = _query_names(route.dependant)
    unknown = [name for name in request.query_params if name not in known]
    if unknown:
        raise RequestValidationError(
            [
                {"type": "extra_forbidden", "loc": ("query", name), "msg": "Extra inputs are not permitted"}
                for name in dict.fromkeys(unknown)
            ]
        )


Limit = Annotated[int, Query(ge=1, le=100, description="Page size.")]
# Bounded: a larger OFFSET overflows the databases' 64-bit integers (a 500 that schemathesis found).
MAX_OFFSET = 2**31 - 1
Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET, description="Items to skip.")]
