"""Domain errors and the one place that turns any error into the JSON error shape.

Every error response reads ``{"error": {"code", "message", "details": [{"field", "problem"}]}}``;
each is counted once in ``mindhit.errors`` (the 500 path is counted by ``middleware``).
"""

import logging
from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any, ClassVar, cast

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException

from service.observability import AppMetrics, Severity
from service.schemas import ErrorBody, ErrorDetail, ErrorResponse

logger = logging.getLogger(__name__)


class DomainError(Exception):
    """Base of the errors the service raises on purpose; each class fixes its status and code."""

    status_code: ClassVar[int] = 400
    code: ClassVar[str] = "bad_request"
    severity: ClassVar[Severity] = "warning"
    headers: ClassVar[Mapping[str, str] | None] = None

    def __init__(self, message: str, *, details: Sequence[ErrorDetail] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.details = list(details)


class Unauthorized(DomainError):  # noqa: N818 (named for the HTTP outcome, read as such in routes)
    status_code = 401
    code = "unauthorized"
    headers: ClassVar[Mapping[str, str] | None] = {"WWW-Authenticate": "Bearer"}


class Forbidden(DomainError):  # noqa: N818 (named for the HTTP outcome, read as such in routes)
    status_code = 403
    code = "forbidden"


class ServiceNotConfigured(DomainError):  # noqa: N818 (named for the HTTP outcome, read as such in routes)
    status_code = 503
    code = "not_configured"


class NotFound(DomainError):  # noqa: N818 (named for the HTTP outcome, read as such in routes)
    status_code = 404
    code = "not_found"


class Conflict(DomainError):  # noqa: N818 (named for the HTTP outcome, read as such in routes)
    status_code = 409
    code = "conflict"


class PayloadTooLarge(DomainError):  # noqa: N818 (named for the HTTP outcome, read as such in routes)
    status_code = 413
    code = "payload_too_large"


class UnsupportedMediaType(DomainError):  # noqa: N818 (named for the HTTP outcome, read as such in routes)
    status_code = 415
    code = "unsupported_media_type"


class DatabaseUnavailable(DomainError):  # noqa: N818 (named for the HTTP outcome, read as such in routes)
    status_code = 503
    code = "database_unavailable"
    severity = "error"


# Framework-raised HTTP errors (unknown route, wrong method, …) get codes in the same vocabulary.
_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
}


def error_response(
    *,
    status_code: int,
    code: str,
    message: str,
    details: Sequence[ErrorDetail] = (),
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    """The JSON error response; also used by the ASGI middlewares, which have no handlers."""
    body = ErrorResponse(error=ErrorBody(code=code, message=message, details=list(details)))
    return JSONResponse(body.model_dump(mode="json"), status_code=status_code, headers=headers)


def _record(request: Request, *, code: str, severity: Severity) -> None:
    app_metrics = getattr(request.app.state, "metrics", None)
    if isinstance(app_metrics, AppMetrics):
        app_metrics.error(error_type=code, severity=severity)


def _domain_response(request: Request, exc: DomainError) -> JSONResponse:
    _record(request, code=exc.code, severity=exc.severity)
    return error_response(
        status_code=exc.status_code,
        code=exc.code,
        message=exc.message,
        details=exc.details,
        headers=exc.headers,
    )


def _field_name(loc: Sequence[int | str]) -> str:
    parts = list(loc[1:] if loc and loc[0] == "body" else loc)
    return ".".join(str(part) for part in parts) or "body"


def _problem(error: Mapping[str, Any]) -> str:
    message = str(error.get("msg", "is invalid"))
    # Our own validators raise ValueError, which pydantic prefixes; the prefix only adds noise.
    return message.removeprefix("Value error, ")


# Starlette types every handler as taking Exception but calls each only with the class it is
# registered for, hence the casts.


async def _on_domain_error(request: Request, exc: Exception) -> JSONResponse:
    return _domain_response(request, cast(DomainError, exc))


async def _on_validation_error(request: Request, exc: Exception) -> JSONResponse:
    errors = cast(RequestValidationError, exc).errors()
    invalid_json = next((error for error in errors if error.get("type") == "json_invalid"), None)
    if invalid_json is not None:
        reason = invalid_json.get("ctx", {}).get("error", "malformed JSON")
        position = invalid_json["loc"][-1]
        code, status = "invalid_json", 400
        message = "The request body is not valid JSON."
        details = [ErrorDetail(field="body", problem=f"{reason} at position {position}")]
    else:
        code, status = "validation_error", 422
        message = "The request is invalid; see details."
        details = [ErrorDetail(field=_field_name(error["loc"]), problem=_problem(error)) for error in errors]
    _record(request, code=code, severity="warning")
    # Input values are never echoed back: they may be large or personal.
    return error_response(status_code=status, code=code, message=message, details=details)


async def _on_http_error(request: Request, error: Exception) -> JSONResponse:
    exc = cast(StarletteHTTPException, error)
    # FastAPI wraps anything raised while it reads the body (our body-size limit raises from
    # receive()) in a 400; the original domain error is the cause and carries the real answer.
    if isinstance(exc.__cause__, DomainError):
        return _domain_response(request, exc.__cause__)
    status = exc.status_code
    code = _HTTP_CODES.get(status, f"http_{status}")
    if status == 404:
        message = f"No route matches {request.method} {request.url.path}."
    elif status == 405:
        message = f"Method {request.method} is not allowed on {request.url.path}."
    else:
        message = exc.detail if isinstance(exc.detail, str) and exc.detail else _phrase(status)
    _record(request, code=code, severity="warning" if status < 500 else "error")
    return error_response(status_code=status, code=code, message=message, headers=exc.headers)


def _phrase(status: int) -> str:
    try:
        return f"{HTTPStatus(status).phrase}."
    except ValueError:
        return f"HTTP error {status}."


async def _on_database_error(request: Request, exc: Exception) -> JSONResponse:
    # A driver message names the server and the failure, never the password; no traceback:
    # an outage would otherwise print one per request.
    reason = (str(getattr(exc, "orig", None) or exc).splitlines() or [""])[0][:300]
    logger.error("Database unavailable: %s: %s", type(exc).__name__, reason)
    return _domain_response(request, DatabaseUnavailable("The database is unavailable; try again later."))


def register_exception_handlers(app: FastAPI) -> None:
    """Map every error the app can raise (except the unexpected ones, see ``middleware``) to JSON."""
    app.add_exception_handler(DomainError, _on_domain_error)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_error)
    for database_error in (OperationalError, InterfaceError, PoolTimeoutError):
        app.add_exception_handler(database_error, _on_database_error)
