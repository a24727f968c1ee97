"""The pytest plugin (registered through the ``pytest11`` entry point): the ``capotel`` fixture.

On first use it configures the kit once for the whole session, with in-memory processors in place of
the OTLP exporters; application code that calls ``otel.configure()`` later receives those same
providers, so nothing needs patching and no global is ever reset. Each test then points the
processors at a recording of its own.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry import _logs, metrics, trace

from otel._config import TelemetrySettings
from otel._providers import Pipeline, Providers, prometheus_reader
from otel._setup import Telemetry, active_telemetry, configure
from otel.alerts import Alert
from otel.testing._capture import TelemetryCapture
from otel.testing._metrics import MetricsView, delta_reader
from otel.testing._recording import Recording
from otel.testing._switch import SwitchIdGenerator, SwitchLogProcessor, SwitchSpanProcessor


class _CaptureSession:
    def __init__(self) -> None:
        if active_telemetry() is not None:
            raise pytest.UsageError(
                "otel.configure() ran before the first capotel fixture; the capture cannot take over the "
                "global providers. Request capotel (or an autouse fixture using it) before building the app."
            )
        self.spans = SwitchSpanProcessor()
        self.logs = SwitchLogProcessor()
        self.ids = SwitchIdGenerator()
        self.reader = delta_reader()
        pipeline = Pipeline(
            span_processors=[self.spans],
            metric_readers=[self.reader],
            log_processors=[self.logs],
            id_generator=self.ids,
        )
        prometheus_reader(pipeline)
        # Every span is kept whatever sampler the environment asks for: a test must see what code emits.
        self.settings = TelemetrySettings(_env_file=None).model_copy(
            update={"traces_sampler": "always_on", "sdk_disabled": False}
        )
        self.telemetry: Telemetry = configure(self.settings, service_name="pytest", pipeline=pipeline)
        if self.telemetry.providers is not None:
            _require_globals(self.telemetry.providers)
        # Alerts are raised synchronously by the span processor and log handler; the test sees each one.
        self.alert_target: Recording | None = None
        self.telemetry.alerts.subscribe(self._on_alert)

    def _on_alert(self, alert: Alert) -> None:
        target = self.alert_target
        if target is not None:
            target.raised(alert)

    def start(self) -> TelemetryCapture:
        # A previous test may have reconfigured logging (an app's lifespan does); configuring again on the
        # active providers reinstalls it exactly as the app's own call does, and changes nothing else.
        configure(self.settings)
        recording = Recording()
        self.ids.reset(incremental=True)
        self.spans.target = recording
        self.logs.target = recording
        self.alert_target = recording
        return TelemetryCapture(recording, MetricsView(self.reader))

    def stop(self) -> None:
        self.spans.target = None
        self.logs.target = None
        self.alert_target = None
        self.ids.reset(incremental=False)


def _require_globals(providers: Providers) -> None:
    """The API keeps the first provider set; if someone else's came first, nothing would be captured."""
    taken = [
        f"{signal}: {type(found).__module__}.{type(found).__qualname__}"
        for signal, found, ours in (
            ("TracerProvider", trace.get_tracer_provider(), providers.tracer_provider),
            ("MeterProvider", metrics.get_meter_provider(), providers.meter_provider),
            ("LoggerProvider", _logs.get_logger_provider(), providers.logger_provider),
        )
        if found is not ours
    ]
    if taken:
        raise pytest.UsageError(
            "global OpenTelemetry providers were set before the first capotel fixture, so the capture would see "
            f"nothing ({'; '.join(taken)}). Set providers in the app's lifespan through otel.configure(), "
            "never at import time."
        )


_session: list[_CaptureSession | pytest.UsageError] = []


def _capture_session() -> _CaptureSession:
    if not _session:
        try:
            _session.append(_CaptureSession())
        except pytest.UsageError as error:
            _session.append(error)  # every later test gets the same explanation, not a misleading second one
    found = _session[0]
    if isinstance(found, pytest.UsageError):
        raise found
    return found


@pytest.fixture
def capotel() -> Iterator[TelemetryCapture]:
    """Spans, log records and metrics emitted during this test, and nothing from any other."""
    session = _capture_session()
    capture = session.start()
    try:
        yield capture
    finally:
        session.stop()
