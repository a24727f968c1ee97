"""Where alert sources meet alert sinks.

The span processor and the log handler are installed once with the providers; what happens to the
alerts they raise (the dispatcher of a running app, a test's capture) subscribes and unsubscribes
here. Submitting never blocks and never raises: it runs inside ``SpanProcessor.on_end``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from otel.alerts._model import Alert
from otel.alerts._settings import AlertSettings

logger = logging.getLogger(__name__)

AlertSink = Callable[[Alert], None]


class AlertHub:
    def __init__(self, settings: AlertSettings | None = None) -> None:
        self.settings = settings or AlertSettings(_env_file=None)
        self.service = "unknown_service"
        self.environment = "unknown"
        self._sinks: tuple[AlertSink, ...] = ()
        self._lock = threading.Lock()

    @property
    def active(self) -> bool:
        """Cheap check for the hot path: with nobody listening, sources skip building alerts."""
        return bool(self._sinks) and self.settings.enabled

    def subscribe(self, sink: AlertSink) -> None:
        with self._lock:
            self._sinks = (*self._sinks, sink)

    def unsubscribe(self, sink: AlertSink) -> None:
        with self._lock:
            self._sinks = tuple(s for s in self._sinks if s is not sink)

    def submit(self, alert: Alert) -> None:
        for sink in self._sinks:
            try:
                sink(alert)
            except Exception:  # a broken sink must not break the request that ended the span
                logger.warning("alert sink %r failed", sink, exc_info=True)
