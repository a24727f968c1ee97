"""stdlib logging, bridged into OpenTelemetry logs and printed to the console.

Application code keeps using ``logging.getLogger(__name__)``. Two handlers on the root logger do the
rest: one hands each record to the OTel Logs API (so it carries the current trace and span ids and is
exported like any other signal), one prints it as text for a developer or as one JSON object per line
for a log shipper. Both add the request id and user id from the request context.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
import time
from datetime import UTC, datetime
from typing import Any, Final, TextIO

from opentelemetry import trace
from opentelemetry._logs import Logger, LoggerProvider, SeverityNumber

from otel._config import TelemetrySettings
from otel._context import current_request
from otel._redaction import redact_attributes, redact_text
from otel.alerts._hub import AlertHub
from otel.alerts._log_handler import AlertLogHandler

_KIT_HANDLER: Final = "_otel_kit_handler"
# Everything logging itself puts on a record, plus uvicorn's ANSI-coloured duplicate of the message.
_RESERVED: Final = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "color_message",
}
_SEVERITY: Final = {
    logging.DEBUG: SeverityNumber.DEBUG,
    logging.INFO: SeverityNumber.INFO,
    logging.WARNING: SeverityNumber.WARN,
    logging.ERROR: SeverityNumber.ERROR,
    logging.CRITICAL: SeverityNumber.FATAL,
}
_SEVERITY_TEXT: Final = {"WARNING": "WARN", "CRITICAL": "FATAL"}
# The SDK reports its own export failures through logging; feeding those back into the pipeline that is
# failing would turn one outage into an endless stream of records.
_SELF_LOGGERS: Final = ("opentelemetry",)


def record_extras(record: logging.LogRecord) -> dict[str, Any]:
    """What the caller passed in ``extra=``: everything on the record that logging did not put there."""
    return {k: v for k, v in record.__dict__.items() if k not in _RESERVED and not k.startswith("_")}


def _trace_fields() -> dict[str, str]:
    """The current span's ids: hex the SDK made, so nothing in them can need redacting."""
    span_context = trace.get_current_span().get_span_context()
    if not span_context.is_valid:
        return {}
    return {"trace_id": format(span_context.trace_id, "032x"), "span_id": format(span_context.span_id, "016x")}


def _request_fields() -> dict[str, str]:
    fields: dict[str, str] = {}
    if (request := current_request()) is not None:
        fields["request_id"] = request.request_id
        if request.user_id is not None:
            fields["user_id"] = request.user_id
    return fields


class OTelLogHandler(logging.Handler):
    """Bridges stdlib records into the OTel Logs API, the same way for every logger in the process."""

    def __init__(self, logger_provider: LoggerProvider) -> None:
        super().__init__()
        self._provider = logger_provider
        self._loggers: dict[str, Logger] = {}

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.startswith(_SELF_LOGGERS):
            return
        try:
            logger = self._loggers.get(record.name)
            if logger is None:
                logger = self._loggers.setdefault(record.name, self._provider.get_logger(record.name))
            attributes = _otel_attributes(record)
            if (request := current_request()) is not None:
                attributes["request_id"] = request.request_id
                if request.user_id is not None:
                    attributes["user_id"] = request.user_id
            logger.emit(
                timestamp=int(record.created * 1e9),
                severity_number=_SEVERITY.get(record.levelno, SeverityNumber.UNSPECIFIED),
                severity_text=_SEVERITY_TEXT.get(record.levelname, record.levelname),
                body=record.getMessage(),
                attributes=attributes,
                exception=record.exc_info[1] if record.exc_info else None,
            )
        except Exception:  # a broken log record must never break the code that logged it
            self.handleError(record)


_PLAIN: Final = frozenset({str, bool, int, float})


def _otel_attributes(record: logging.LogRecord) -> dict[str, Any]:
    """The record's extras as OTel attribute values, in one pass: this runs for every record."""
    attributes: dict[str, Any] = {}
    for key, value in record.__dict__.items():
        if value is None or key in _RESERVED or key[0] == "_":
            continue
        attributes[key] = value if type(value) in _PLAIN else _attribute_value(value)
    return attributes


def _attribute_value(value: Any) -> Any:
    return value if isinstance(value, str | bool | int | float) else str(value)


class JsonFormatter(logging.Formatter):
    """One JSON object per line; ``ensure_ascii`` escapes CR, LF and U+2028, so no value can forge a line.

    The console is shipped like any other signal: credentials are redacted here as they are on export.
    """

    def format(self, record: logging.LogRecord) -> str:
        # Only what came from outside the kit is scrubbed: the message, the request's ids (a client may
        # choose its request id) and the extras. The time, level, logger name and trace ids cannot hold a
        # credential, and scrubbing a string that never repeats is the costly case (no memo can help).
        fields = {**_request_fields(), **record_extras(record)}
        entry: dict[str, Any] = {
            "timestamp": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": redact_text(record.getMessage()),
            **_trace_fields(),
            **(redact_attributes(fields) or fields),
        }
        if record.exc_info:
            entry["exception"] = redact_text(self.formatException(record.exc_info))
        return json.dumps(entry, default=str, ensure_ascii=True)


class TextFormatter(logging.Formatter):
    """Readable in a terminal; control characters are escaped so a request cannot forge log lines."""

    def format(self, record: logging.LogRecord) -> str:
        stamp = datetime.fromtimestamp(record.created).strftime("%H:%M:%S.%f")[:-3]
        fields = {**record_extras(record), **_trace_fields(), **_request_fields()}
        fields = redact_attributes(fields) or fields
        tail = " ".join(f"{k}={_escape(str(v))}" for k, v in fields.items())
        line = f"{stamp} {record.levelname:<7} {record.name}: {_escape(redact_text(record.getMessage()))}"
        if tail:
            line = f"{line}  {tail}"
        if record.exc_info:
            line = f"{line}\n{redact_text(self.formatException(record.exc_info))}"
        return line


def _escape(text: str) -> str:
    if text.isprintable():
        return text
    return text.encode("unicode_escape").decode("ascii")


class SdkLogThrottle(logging.Filter):
    """Lets one SDK record per logger and message template through per interval.

    While the Collector is down the exporters log every failed batch and every retry; a throttled
    console keeps the first of each kind, so the outage is visible without drowning the service's logs.
    """

    def __init__(self, interval_s: float = 60.0) -> None:
        super().__init__()
        self.interval_s = interval_s
        self.suppressed = 0
        self._last: dict[tuple[str, str], float] = {}
        self._lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.name.startswith(_SELF_LOGGERS):
            return True
        key = (record.name, str(record.msg))
        now = time.monotonic()
        with self._lock:
            last = self._last.get(key)
            if last is not None and now - last < self.interval_s:
                self.suppressed += 1
                return False
            self._last[key] = now
        return True


class _ConsoleHandler(logging.StreamHandler[TextIO]):
    """Writes to whatever ``sys.stdout`` is at the time, so test capture and redirection just work."""

    @property
    def stream(self) -> TextIO:
        return sys.stdout

    @stream.setter
    def stream(self, _value: TextIO) -> None:
        pass


def install_logging(
    settings: TelemetrySettings, logger_provider: LoggerProvider | None, alert_hub: AlertHub | None = None
) -> None:
    """(Re)install the kit's handlers on the root logger; calling it again replaces, never duplicates."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, _KIT_HANDLER, False):
            root.removeHandler(handler)
    console = _ConsoleHandler()
    console.addFilter(SdkLogThrottle())
    console.setFormatter(JsonFormatter() if settings.json_logs else TextFormatter())
    handlers: list[logging.Handler] = [console]
    if logger_provider is not None:
        handlers.append(OTelLogHandler(logger_provider))
    if alert_hub is not None:
        handlers.append(AlertLogHandler(alert_hub))
    for handler in handlers:
        setattr(handler, _KIT_HANDLER, True)
        root.addHandler(handler)
    root.setLevel(_level(settings.log_level))
    # uvicorn installs handlers of its own; routing its records through root keeps one format and one
    # pipeline. Its access log is silenced: the kit's "request completed" record is the one per request.
    for name in ("uvicorn", "uvicorn.error"):
        uvicorn_logger = logging.getLogger(name)
        uvicorn_logger.handlers.clear()
        uvicorn_logger.propagate = True
    uvicorn_access = logging.getLogger("uvicorn.access")
    uvicorn_access.handlers.clear()
    uvicorn_access.propagate = False


def detach_bridge() -> None:
    """Stop handing records to OTel (its provider is shutting down); the console keeps printing."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if isinstance(handler, OTelLogHandler):
            root.removeHandler(handler)
            handler.close()


def _level(name: str) -> int:
    level = logging.getLevelName(name.upper())
    if isinstance(level, int):
        return level
    logging.getLogger(__name__).warning("unknown LOG_LEVEL %r; using INFO", name)
    return logging.INFO
