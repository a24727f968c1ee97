"""Alerts raised from span and error events inside the SDK pipeline, stored first, then delivered."""

from otel.alerts._dispatcher import AlertDispatcher
from otel.alerts._hub import AlertHub
from otel.alerts._model import Alert, Channel, DeliveryError, Severity, fingerprint
from otel.alerts._outbox import AlertOutbox, Delivery, MemoryOutbox, Recorded
from otel.alerts._settings import AlertSettings

__all__ = [
    "Alert",
    "AlertDispatcher",
    "AlertHub",
    "AlertOutbox",
    "AlertSettings",
    "Channel",
    "Delivery",
    "DeliveryError",
    "MemoryOutbox",
    "Recorded",
    "Severity",
    "fingerprint",
]
