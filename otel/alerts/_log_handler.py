"""The logging handler that turns ERROR and CRITICAL records into alerts."""

from __future__ import annotations

import logging
import traceback
from typing import Final

from opentelemetry import trace

from otel.alerts._hub import AlertHub
from otel.alerts._model import Alert, Severity, fingerprint
from otel.alerts._scrub import scrub
from otel.alerts._span_rules import trace_link

# The SDK, the request log (5xx are alerted from their spans), the alert pipeline itself and the
# channel clients: an alert about delivering alerts would feed the loop it reports on.
IGNORED_LOGGERS: Final = ("opentelemetry", "otel.access", "otel.alerts", "slack_sdk", "sentry_sdk", "urllib3")


def exception_type_name(exc: BaseException) -> str:
    """Spelled as the SDK's ``record_exception`` spells ``exception.type``."""
    module, qualname = type(exc).__module__, type(exc).__qualname__
    return f"{module}.{qualname}" if module and module != "builtins" else qualname


class AlertLogHandler(logging.Handler):
    def __init__(self, hub: AlertHub) -> None:
        super().__init__(level=logging.ERROR)
        self.hub = hub

    def emit(self, record: logging.LogRecord) -> None:
        if not self.hub.active or record.name.startswith(IGNORED_LOGGERS):
            return
        try:
            alert = self._alert(record)
        except Exception:  # a log call must never fail because alerting did
            self.handleError(record)
            return
        if alert is not None:
            self.hub.submit(alert)

    def _alert(self, record: logging.LogRecord) -> Alert | None:
        exc = record.exc_info[1] if record.exc_info else None
        span = trace.get_current_span()
        if exc is not None and _recorded_on(span, exc):
            return None  # the span carries this exception: its processor raises the alert when it ends
        exception_type = exception_type_name(exc) if exc is not None else None
        message = scrub(record.getMessage())
        context = span.get_span_context()
        trace_id = format(context.trace_id, "032x") if context.is_valid else None
        hub = self.hub
        return Alert(
            severity=Severity.CRITICAL if record.levelno >= logging.CRITICAL else Severity.ERROR,
            title=f"{record.name}: {message.splitlines()[0][:200] if message else record.levelname}",
            message=message,
            service=hub.service,
            environment=hub.environment,
            source="log",
            fingerprint=fingerprint(hub.service, hub.environment, "log", record.name, str(record.msg), exception_type),
            route=_route(span),
            exception_type=exception_type,
            stacktrace=scrub("".join(traceback.format_exception(exc))) if exc is not None else None,
            trace_id=trace_id,
            span_id=format(context.span_id, "016x") if context.is_valid else None,
            trace_url=trace_link(hub.settings, trace_id),
        )


def _recorded_on(span: trace.Span, exc: BaseException) -> bool:
    events = getattr(span, "events", ())
    name, text = exception_type_name(exc), str(exc)
    return any(
        event.name == "exception"
        and (event.attributes or {}).get("exception.type") == name
        and (event.attributes or {}).get("exception.message") == text
        for event in events
    )


def _route(span: trace.Span) -> str | None:
    route = (getattr(span, "attributes", None) or {}).get("http.route")
    return str(route) if route is not None else None
