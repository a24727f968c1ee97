"""Request context for every HTTP request: request id, trace id header, user, and the request log.

The server span and the HTTP metrics come from FastAPI's native OpenTelemetry support (see
``_fastapi.py``), which wraps the whole app; this middleware runs inside it, so the server span is
already current here and only what FastAPI does not do is added: the request id, the
``X-Request-ID``/``X-Trace-Id`` response headers, ``enduser.id``, and one "request completed" record.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from typing import Final

from opentelemetry import trace
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from otel._context import REQUEST_ID, RequestContext, _current, accept_request_id

access_logger = logging.getLogger("otel.access")

_REQUEST_ID_HEADER: Final = b"x-request-id"
_USER_AGENT_HEADER: Final = b"user-agent"


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp, *, excluded_paths: Iterable[str] = ()) -> None:
        self.app = app
        self.excluded_paths = frozenset(excluded_paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        client_request_id = user_agent = None
        for name, value in scope["headers"]:
            if name == _REQUEST_ID_HEADER:
                client_request_id = value.decode("latin-1")
            elif name == _USER_AGENT_HEADER:
                user_agent = value.decode("latin-1")
        span = trace.get_current_span()
        request = RequestContext(accept_request_id(client_request_id), span=span)
        if span.is_recording():
            # FastAPI's span leaves out these two recommended attributes; the request log has them too.
            client = scope.get("client")
            span.set_attributes(
                {
                    REQUEST_ID: request.request_id,
                    "client.address": client[0] if client else "",
                    "user_agent.original": user_agent or "",
                }
            )
        span_context = span.get_span_context()
        extra_headers = [(_REQUEST_ID_HEADER, request.request_id.encode("latin-1"))]
        if span_context.is_valid:
            extra_headers.append((b"x-trace-id", format(span_context.trace_id, "032x").encode("latin-1")))
        status_code = 500

        async def send_with_headers(message: Message) -> None:
            nonlocal status_code
            if message["type"] == "http.response.start":
                status_code = message["status"]
                message = {**message, "headers": [*message.get("headers", ()), *extra_headers]}
            await send(message)

        token = _current.set(request)
        started = time.perf_counter()
        try:
            await self.app(scope, receive, send_with_headers)
        except Exception as exc:
            # FastAPI marks the span failed but leaves the exception event (the stack) to us.
            span.record_exception(exc)
            raise
        finally:
            if scope["path"] not in self.excluded_paths:
                _log_request(scope, status_code, time.perf_counter() - started, user_agent)
            _current.reset(token)


def route_template(scope: Scope) -> str | None:
    """The matched route's full template, router prefixes included, as on the server span.

    FastAPI's request telemetry (in the scope while the request runs) has it. Without that telemetry
    (SDK disabled) ``scope["route"]`` is the route as declared, without the prefixes of the routers it
    was included through; FastAPI's routing (0.165) keeps the effective route, prefixes included, in its
    own part of the scope, which a unit test pins for upgrades.
    """
    native = getattr(scope.get("fastapi.telemetry"), "route", None)
    if native:
        return str(native)
    routing = scope.get("fastapi")
    effective = routing.get("effective_route_context") if isinstance(routing, dict) else None
    full = getattr(effective, "path", None)
    if isinstance(full, str) and full:
        return full
    return getattr(scope.get("route"), "path", None)


def _log_request(scope: Scope, status_code: int, elapsed: float, user_agent: str | None) -> None:
    level = logging.ERROR if status_code >= 500 else logging.WARNING if status_code >= 400 else logging.INFO
    if not access_logger.isEnabledFor(level):
        return
    client = scope.get("client")
    access_logger.log(
        level,
        "request completed",
        extra={
            "http.request.method": scope["method"],
            "http.route": route_template(scope),
            "url.path": scope["path"],
            "http.response.status_code": status_code,
            "latency_ms": round(elapsed * 1000, 3),
            "client.address": client[0] if client else None,
            "user_agent.original": user_agent,
        },
    )
