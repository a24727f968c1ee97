"""Wiring the kit into a FastAPI application.

FastAPI (0.165+) creates the server span and the stable-convention HTTP metrics itself whenever the
global providers are configured; the kit tunes that native support rather than adding a second
instrumentation on top of it, then adds the request context middleware inside it.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

from fastapi import FastAPI
from fastapi.telemetry import TelemetryConfig

from otel._asgi import RequestContextMiddleware
from otel._config import TelemetrySettings


def fastapi_telemetry(settings: TelemetrySettings) -> TelemetryConfig:
    """The ``FastAPI(telemetry=...)`` configuration: excluded paths, operation spans, no direct logs.

    FastAPI's own log records are off because they bypass stdlib logging (and so the console and the
    request context) and can carry raw request input; unhandled errors are logged by the app instead.
    """
    excluded = settings.excluded_paths

    def exclude(scope: MutableMapping[str, Any]) -> bool:
        return scope.get("path") in excluded

    return {"operation_spans": settings.fastapi_operation_spans, "logs": False, "exclude": exclude}


def instrument_app(app: FastAPI, settings: TelemetrySettings) -> None:
    """Add the request context middleware; call after the app's other ``add_middleware`` calls.

    Being the outermost of the app's own middleware means errors they turn into responses are logged
    with their final status code, and the response headers are added to every response they send.
    """
    app.add_middleware(RequestContextMiddleware, excluded_paths=settings.excluded_paths)
