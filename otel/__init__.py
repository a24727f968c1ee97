"""MindHit's OpenTelemetry kit: one ``configure()`` for traces, metrics and logs, plus instrumentation.

Everything goes through the OpenTelemetry API; exporters push OTLP to a Collector.
"""

from otel._asgi import RequestTelemetryMiddleware
from otel._config import TelemetrySettings
from otel._context import RequestContext, current_request
from otel._fastapi import fastapi_telemetry, instrument_app
from otel._setup import Telemetry, configure, prometheus_exposition
from otel._sqlalchemy import instrument_engine, uninstrument_engine

__all__ = [
    "RequestContext",
    "RequestTelemetryMiddleware",
    "Telemetry",
    "TelemetrySettings",
    "configure",
    "current_request",
    "fastapi_telemetry",
    "instrument_app",
    "instrument_engine",
    "prometheus_exposition",
    "uninstrument_engine",
]
