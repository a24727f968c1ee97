"""Per-request context shared by the middleware, the log handlers and application code.

The middleware stores one mutable object in a ContextVar. Application code mutates the object rather
than setting a new variable, so a value learned in a threadpool dependency (which runs on a copy of the
context) is still seen by the middleware and the request log when the request ends.
"""

from __future__ import annotations

import re
import uuid
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Final

from opentelemetry import trace

ENDUSER_ID: Final = "enduser.id"
REQUEST_ID: Final = "request_id"

_REQUEST_ID_PATTERN = re.compile(r"[A-Za-z0-9._-]{1,64}")


def accept_request_id(candidate: str | None) -> str:
    """Keep a client's request id only if it is safe to log and to echo; otherwise mint one."""
    if candidate is not None and _REQUEST_ID_PATTERN.fullmatch(candidate):
        return candidate
    return str(uuid.uuid4())


@dataclass(slots=True)
class RequestContext:
    request_id: str
    user_id: str | None = None
    span: trace.Span = field(default=trace.INVALID_SPAN, repr=False)

    def set_user(self, user_id: str) -> None:
        """Name the authenticated user on the server span and in every later log record."""
        self.user_id = user_id
        self.span.set_attribute(ENDUSER_ID, user_id)


_current: ContextVar[RequestContext | None] = ContextVar("otel_request_context", default=None)


def current_request() -> RequestContext | None:
    return _current.get()
