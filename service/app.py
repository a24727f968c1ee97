"""The FastAPI application: ``create_app`` wires it, the lifespan starts and stops what it needs."""

import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI

import otel
from otel.alerts import AlertSettings
from otel.alerts._channels import AlertChannelSettings
from service import __version__
from service.alerting.wiring import start_alerting, stop_alerting
from service.api.deps import forbid_unknown_query_parameters
from service.api.router import api_router
from service.api.routes import alerts, health
from service.config import Settings, get_settings
from service.db import create_db_engine, create_session_factory
from service.errors import register_exception_handlers
from service.middleware import BodySizeLimitMiddleware, UnhandledErrorMiddleware
from service.migrate import prepare_schema
from service.observability import AppMetrics
from service.security import add_security_middleware

logger = logging.getLogger(__name__)

API_PREFIX = "/api/v1"
# The code default for service.name (docs/signals.md); OTEL_SERVICE_NAME still overrides it.
SERVICE_NAME = "mindhit-api"


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Telemetry first and last; in between the database engine and its schema."""
    settings: Settings = app.state.settings
    telemetry = otel.configure(
        app.state.telemetry_settings,
        service_version=__version__,
        service_name=SERVICE_NAME,
        alert_settings=app.state.alert_settings,
    )
    app.state.metrics.announce()
    try:
        engine = create_db_engine(settings, instrument=telemetry.enabled)
        try:
            # Blocking, and meant to be: nothing is served until the schema is right.
            prepare_schema(engine=engine, settings=settings)
            app.state.engine = engine
            app.state.session_factory = create_session_factory(engine)
            dispatcher = start_alerting(
                telemetry=telemetry, session_factory=app.state.session_factory, settings=app.state.channel_settings
            )
            app.state.alert_dispatcher = dispatcher
            logger.info(
                "MindHit API started",
                extra={"environment": settings.environment, "db.system.name": engine.dialect.name},
            )
            _tune_garbage_collection(settings)
            try:
                yield
            finally:
                stop_alerting(telemetry=telemetry, dispatcher=dispatcher)
        finally:
            engine.dispose()
    finally:
        telemetry.shutdown()


def _tune_garbage_collection(settings: Settings) -> None:
    """Freeze what startup built, and let the young generation grow before it is collected.

    Modules, the app and its routes, schemas, the engine and the telemetry providers live as long as the
    process, yet every full collection walks them again; frozen, they are skipped. The spans and log
    records waiting in the batch processors' queues (hundreds, each a dozen objects) outlive a default
    young generation of 700 objects, so the collector walked and promoted them every few requests,
    though they are freed by reference counting once exported. Measured on the instrumented read route:
    97 us of collection per request with neither, 37 with the freeze, 5 with both
    (docs/benchmarks.md).
    """
    if settings.gc_freeze:
        gc.collect()
        gc.freeze()
    if settings.gc_gen0_threshold:
        _, older, oldest = gc.get_threshold()
        gc.set_threshold(settings.gc_gen0_threshold, older, oldest)


def create_app(
    settings: Settings | None = None,
    *,
    alert_settings: AlertSettings | None = None,
    channel_settings: AlertChannelSettings | None = None,
) -> FastAPI:
    """Build the app; every settings object is read from the environment unless a test injects it."""
    settings = settings if settings is not None else get_settings()
    # Read once and shared by FastAPI's native telemetry, the kit's middleware and the lifespan;
    # the environment is the service's, so an injected Settings is honoured there too.
    telemetry_settings = otel.TelemetrySettings(environment=settings.environment)
    app = FastAPI(
        title="MindHit Recording API",
        version=__version__,
        summary="Records browsing sessions posted by the MindHit browser extension.",
        lifespan=lifespan,
        dependencies=[Depends(forbid_unknown_query_parameters)],
        # Off unless OTEL_PYTHON_FASTAPI_OPERATION_SPANS=true: the kit's middleware makes the server span.
        telemetry=otel.fastapi_telemetry(telemetry_settings),
    )
    app_metrics = AppMetrics(version=__version__)
    app.state.settings = settings
    app.state.telemetry_settings = telemetry_settings
    app.state.alert_settings = alert_settings if alert_settings is not None else AlertSettings()
    app.state.channel_settings = (
        channel_settings
        if channel_settings is not None
        else AlertChannelSettings(environment=settings.environment, release=__version__)
    )
    app.state.metrics = app_metrics

    register_exception_handlers(app)
    app.include_router(health.router)
    app.include_router(api_router, prefix=API_PREFIX)
    # Alertmanager authenticates with its own token, not a user's: outside the user-authenticated router.
    app.include_router(alerts.webhook_router, prefix=API_PREFIX)

    # Each add_middleware wraps the previous ones, so the order here is innermost first: the body
    # limit, the 500 net, CORS and the security headers (so every answer, a preflight's or a 500's,
    # carries them), then (outermost of ours) the kit's request telemetry middleware.
    app.add_middleware(BodySizeLimitMiddleware, max_body_bytes=settings.max_body_bytes)
    app.add_middleware(UnhandledErrorMiddleware, metrics=app_metrics)
    add_security_middleware(app, cors_allow_origins=settings.cors_origins)
    otel.instrument_app(app, telemetry_settings)
    return app
