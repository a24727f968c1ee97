"""Application metrics: the ``mindhit.*`` instruments named in ``docs/signals.md``.

Attributes stay a small closed set (event types, error codes, severities): never a user id, a
session id or a path, which would explode series cardinality and leak identifiers.
"""

from collections import Counter
from collections.abc import Iterable
from typing import Literal

from opentelemetry import metrics

METER_NAME = "mindhit.api"

Severity = Literal["warning", "error", "critical"]


class AppMetrics:
    """The service's own instruments, created once per app in ``create_app``.

    Instruments come from the global meter provider unless a meter is injected. Created before the
    kit configures the provider in the lifespan, they are API proxies that start recording once it is.
    """

    def __init__(self, *, version: str, meter: metrics.Meter | None = None) -> None:
        meter = meter if meter is not None else metrics.get_meter(METER_NAME, version)
        self._sessions_active = meter.create_up_down_counter(
            "mindhit.sessions.active", unit="{session}", description="Recording sessions started and not stopped."
        )
        self._events_processed = meter.create_counter(
            "mindhit.events.processed", unit="{event}", description="Browsing events stored, by event type."
        )
        self._errors = meter.create_counter(
            "mindhit.errors", unit="{error}", description="Requests that ended in an error, by code and severity."
        )

    def announce(self) -> None:
        """Export the gauge at 0 from the start, so a new instance is visibly alive before any traffic.

        Called once telemetry is configured: before that the instruments are proxies that drop values.
        """
        self._sessions_active.add(0)

    def session_started(self) -> None:
        """A session was created (and is active until stopped)."""
        self._sessions_active.add(1)

    def session_stopped(self) -> None:
        """An active session was stopped; repeated stops of the same session are not counted."""
        self._sessions_active.add(-1)

    def events_stored(self, event_types: Iterable[str]) -> None:
        """One batch was stored: add its events, one measurement per event type."""
        for event_type, count in Counter(event_types).items():
            self._events_processed.add(count, {"event.type": event_type})

    def error(self, *, error_type: str, severity: Severity) -> None:
        """An error response was produced; ``error_type`` is the public error code."""
        self._errors.add(1, {"error.type": error_type, "error.severity": severity})
