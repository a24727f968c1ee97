"""Test helpers for code instrumented with the kit; the pytest fixture is ``capotel``."""

from otel.testing._capture import TelemetryCapture
from otel.testing._logs import CapturedLog
from otel.testing._metrics import HistogramValue
from otel.testing._snapshot import MASKED, VOLATILE_ATTRIBUTES

__all__ = ["MASKED", "VOLATILE_ATTRIBUTES", "CapturedLog", "HistogramValue", "TelemetryCapture"]
