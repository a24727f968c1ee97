"""Two pure-ASGI middlewares: the request body limit and the last-resort 500.

Pure ASGI rather than ``BaseHTTPMiddleware``: they see the raw ``receive``/``send``, add no task
or buffering, and keep the request's context (and so its span) intact.
"""

import logging

from opentelemetry import trace
from opentelemetry.trace import Status, StatusCode
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.errors import PayloadTooLarge, error_response
from service.observability import AppMetrics

logger = logging.getLogger(__name__)


def _declared_length(scope: Scope) -> int | None:
    value = Headers(scope=scope).get("content-length")
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


class BodySizeLimitMiddleware:
    """Refuse request bodies over ``max_body_bytes`` with 413.

    Both a declared ``Content-Length`` and the bytes actually streamed are checked, so a lying or
    absent header (chunked upload) cannot get past. The error is raised from ``receive()``, the
    moment the app asks for the body, so the app's error handlers produce (and count) the 413; it is
    answered here only if it escapes them.
    """

    def __init__(self, app: ASGIApp, *, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.max_body_bytes
        declared = _declared_length(scope)
        received = 0
        response_started = False

        def too_large() -> PayloadTooLarge:
            return PayloadTooLarge(f"The request body is larger than the limit of {limit} bytes.")

        async def limited_receive() -> Message:
            nonlocal received
            if declared is not None and declared > limit:
                raise too_large()  # before reading a single byte
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise too_large()
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal response_started
            response_started = response_started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except PayloadTooLarge as exc:
            if response_started:
                raise
            response = error_response(status_code=exc.status_code, code=exc.code, message=exc.message)
            await response(scope, receive, send)


class UnhandledErrorMiddleware:
    """Turn an exception nothing else handled into a JSON 500 without a stack trace.

    Added before ``otel.instrument_app`` so it runs inside the telemetry middleware: the server span
    is still current to record the exception on, and the access log sees the final 500.
    """

    def __init__(self, app: ASGIApp, *, metrics: AppMetrics | None = None) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        response_started = False

        async def tracking_send(message: Message) -> None:
            nonlocal response_started
            response_started = response_started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:
            span = trace.get_current_span()
            span.record_exception(exc)
            span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
            logger.exception("unhandled %s while serving %s", type(exc).__name__, scope.get("method", "request"))
            if self.metrics is not None:
                self.metrics.error(error_type="internal_error", severity="critical")
            if response_started:
                # Half a response is already on the wire; only the server can end the connection.
                raise
            response = error_response(
                status_code=500, code="internal_error", message="An unexpected error occurred; it has been logged."
            )
            await response(scope, receive, send)
