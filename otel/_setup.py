"""``configure()``: the one call that turns telemetry on, and the handle that turns it off.

The OTel API lets a process set its global providers once. ``configure`` therefore installs them on
the first call and hands back the same providers on every later call (a second app in the same
process, or the pytest plugin having installed in-memory ones first): configuring twice is harmless.
"""

from __future__ import annotations

import logging
from typing import Final

from opentelemetry import _logs, metrics, trace
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from otel._config import TelemetrySettings
from otel._logging import detach_bridge, install_logging
from otel._providers import Pipeline, Providers, build_providers, otlp_pipeline, shutdown_providers
from otel._resource import build_resource
from otel.alerts._hub import AlertHub
from otel.alerts._settings import AlertSettings

logger = logging.getLogger(__name__)

DEFAULT_SERVICE_NAME: Final = "unknown_service:python"


class Telemetry:
    """A handle on the configured providers; only the handle that installed them may shut them down.

    ``alerts`` is where alert sinks subscribe: the span processor and log handler that raise alerts
    are installed with the providers and feed it.
    """

    def __init__(self, providers: Providers | None, *, owner: bool, alerts: AlertHub | None = None) -> None:
        self.providers = providers
        self.owner = owner
        self.alerts = alerts if alerts is not None else AlertHub()
        self._shut_down = False

    @property
    def enabled(self) -> bool:
        return self.providers is not None

    def force_flush(self, timeout_millis: int = 10_000) -> None:
        if self.providers is None:
            return
        self.providers.tracer_provider.force_flush(timeout_millis)
        self.providers.logger_provider.force_flush(timeout_millis)
        self.providers.meter_provider.force_flush(timeout_millis)

    def shutdown(self) -> None:
        """Flush and stop exporting; a borrowed handle only flushes, leaving the owner's providers running."""
        if self._shut_down:
            return
        self._shut_down = True
        if self.providers is None:
            return
        if not self.owner:
            self.force_flush()
            return
        logger.debug("shutting down telemetry")
        detach_bridge()
        shutdown_providers(self.providers)

    def prometheus_exposition(self) -> tuple[bytes, str]:
        registry = self.providers.prometheus_registry if self.providers else None
        body = generate_latest(registry) if registry is not None else b""
        return body, CONTENT_TYPE_LATEST


class _State:
    active: Telemetry | None = None


def configure(
    settings: TelemetrySettings | None = None,
    *,
    service_version: str = "0.0.0",
    service_name: str = DEFAULT_SERVICE_NAME,
    pipeline: Pipeline | None = None,
    alert_settings: AlertSettings | None = None,
) -> Telemetry:
    """Install providers, exporters and logging; call from the app's lifespan, after any fork.

    ``service_name`` is the code default that OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES override.
    ``pipeline`` replaces the OTLP exporters (the pytest plugin passes in-memory ones).
    """
    settings = settings or TelemetrySettings()
    active = _State.active
    if active is not None:
        if active._shut_down:
            raise RuntimeError("telemetry was shut down; a process configures its global providers once")
        if alert_settings is not None:
            active.alerts.settings = alert_settings
        install_logging(settings, active.providers.logger_provider if active.providers else None, active.alerts)
        return Telemetry(active.providers, owner=False, alerts=active.alerts)
    if settings.sdk_disabled:
        install_logging(settings, None)
        return Telemetry(None, owner=True)
    resource = build_resource(settings, service_version=service_version, default_service_name=service_name)
    hub = AlertHub(alert_settings or AlertSettings())
    hub.service = str(resource.attributes["service.name"])
    hub.environment = str(resource.attributes["deployment.environment.name"])
    providers = build_providers(settings, resource, pipeline if pipeline is not None else otlp_pipeline(settings), hub)
    _set_globals(providers)
    install_logging(settings, providers.logger_provider, hub)
    _State.active = Telemetry(providers, owner=True, alerts=hub)
    logger.debug("telemetry configured for %s", resource.attributes.get("service.name"))
    return _State.active


def _set_globals(providers: Providers) -> None:
    trace.set_tracer_provider(providers.tracer_provider)
    metrics.set_meter_provider(providers.meter_provider)
    _logs.set_logger_provider(providers.logger_provider)
    if trace.get_tracer_provider() is not providers.tracer_provider:
        logger.warning("another TracerProvider was already global; spans go to it, not to this configuration")


def active_telemetry() -> Telemetry | None:
    return _State.active


def prometheus_exposition() -> tuple[bytes, str]:
    """The body and content type for ``GET /metrics``: the same OTel instruments, in Prometheus text."""
    active = _State.active
    if active is None:
        return b"", CONTENT_TYPE_LATEST
    return active.prometheus_exposition()
