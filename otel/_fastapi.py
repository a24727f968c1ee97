"""Wiring the kit into a FastAPI application.

The kit's middleware makes the server span and the HTTP metrics (``otel._asgi``), so FastAPI's native
telemetry (0.165+) is switched off, unless FastAPI's operation spans are wanted: those exist only inside
FastAPI's own server span, and then FastAPI makes it and the kit adds to it.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

from fastapi import FastAPI
from fastapi.telemetry import TelemetryConfig

from otel._asgi import RequestTelemetryMiddleware
from otel._config import TelemetrySettings


def fastapi_telemetry(settings: TelemetrySettings) -> TelemetryConfig:
    """The ``FastAPI(telemetry=...)`` configuration: off, or (operation spans) tuned.

    When on, FastAPI's own log records stay off because they bypass stdlib logging (and so the console
    and the request context) and can carry raw request input; unhandled errors are logged by the app.
    """
    if not settings.fastapi_operation_spans:
        return {"tracing": False, "metrics": False, "logs": False, "auto_configure": False}
    excluded = settings.excluded_paths

    def exclude(scope: MutableMapping[str, Any]) -> bool:
        return scope.get("path") in excluded

    return {"operation_spans": True, "logs": False, "exclude": exclude, "auto_configure": False}


def instrument_app(app: FastAPI, settings: TelemetrySettings) -> None:
    """Add the kit's request middleware; call after the app's other ``add_middleware`` calls.

    Being the outermost of the app's own middleware means errors they turn into responses are logged
    with their final status code, and the response headers are added to every response they send.
    """
    app.add_middleware(
        RequestTelemetryMiddleware,
        excluded_paths=settings.excluded_paths,
        server_span=not settings.fastapi_operation_spans,
        http_known_methods=settings.http_known_methods,
    )
