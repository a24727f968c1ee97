"""The pytest plugin (registered through the ``pytest11`` entry point): the ``capotel`` fixture.

On first use it configures the kit once for the whole session, with in-memory processors in place of
the OTLP exporters; application code that calls ``otel.configure()`` later receives those same
providers, so nothing needs patching and no global is ever reset.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from otel._config import TelemetrySettings
from otel._logging import install_logging
from otel._providers import Pipeline, prometheus_reader
from otel._setup import Telemetry, active_telemetry, configure
from otel.testing._capture import TelemetryCapture
from otel.testing._metrics import MetricsView
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
        self.reader = InMemoryMetricReader()
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

    def start(self) -> TelemetryCapture:
        # A previous test may have reconfigured logging (an app's lifespan does); start from the same state.
        providers = self.telemetry.providers
        install_logging(self.settings, providers.logger_provider if providers else None)
        spans: list = []  # type: ignore[type-arg]
        logs: list = []  # type: ignore[type-arg]
        self.ids.reset(incremental=True)
        self.spans.target = spans
        self.logs.target = logs
        return TelemetryCapture(spans, logs, MetricsView(self.reader))

    def stop(self) -> None:
        self.spans.target = None
        self.logs.target = None
        self.ids.reset(incremental=False)


_session: list[_CaptureSession] = []


def _capture_session() -> _CaptureSession:
    if not _session:
        _session.append(_CaptureSession())
    return _session[0]


@pytest.fixture
def capotel() -> Iterator[TelemetryCapture]:
    """Spans, log records and metric changes emitted during this test, and nothing from any other."""
    session = _capture_session()
    capture = session.start()
    try:
        yield capture
    finally:
        session.stop()
