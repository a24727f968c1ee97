"""Test helpers for code instrumented with the kit; the pytest fixture is ``capotel``."""

from otel.testing._capture import CapturedLog, TelemetryCapture
from otel.testing._metrics import HistogramValue

__all__ = ["CapturedLog", "HistogramValue", "TelemetryCapture"]
