"""Alerts as Sentry issues, through a dedicated ``sentry_sdk.Client``.

The client is private to this channel: ``sentry_sdk.init`` would install a global hub, integrations
that hook logging, threads and ``sys.excepthook``, and a second tracing system next to OpenTelemetry.
Here nothing is global, no integration runs and tracing stays off; the event carries the OTel trace
and span ids in ``contexts.trace``, so Sentry's trace id is the one the trace backend knows.

The SDK's own HTTP transport queues envelopes for a background thread and reports failures only to
its debug log. The dispatcher must know whether an alert arrived, so ``_SyncTransport`` (the SDK's
documented ``Transport`` extension point) posts each envelope on the calling thread and records the
server's answer, which ``send`` turns into success or a ``DeliveryError``.
"""

from __future__ import annotations

import gzip
import http.client
import re
import threading
import urllib.error
import urllib.request
import uuid
from datetime import UTC, datetime
from email.message import Message
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any, Final, cast

import sentry_sdk
from sentry_sdk.consts import VERSION as SENTRY_VERSION
from sentry_sdk.consts import EndpointType
from sentry_sdk.envelope import Envelope
from sentry_sdk.transport import Transport

from otel.alerts._model import Alert, DeliveryError, Severity
from otel.alerts._scrub import scrub_mapping

if TYPE_CHECKING:
    from sentry_sdk.types import Event, Hint

LEVELS: Final = {
    Severity.INFO: "info",
    Severity.WARNING: "warning",
    Severity.ERROR: "error",
    Severity.CRITICAL: "fatal",
}
_DEFAULT_RETRY_AFTER: Final = 60.0  # what Sentry's own transport assumes when a 429 names no delay
_MAX_FRAMES: Final = 100
_TRACEBACK: Final = re.compile(r"^Traceback \(most recent call last\):$", re.M)
_FRAME: Final = re.compile(r'^\s*File "(?P<path>[^"]+)", line (?P<line>\d+)(?:, in (?P<function>.+))?$')
_EXCEPTION: Final = re.compile(r"^(?:(?P<module>[\w.]+)\.)?(?P<type>\w+)(?::\s?(?P<value>.*))?$")
_CHAINED: Final = ("The above exception was the direct cause", "During handling of the above exception")


class _SyncTransport(Transport):
    """Posts each envelope synchronously and keeps the outcome until ``send`` asks for it."""

    def __init__(self, *, dsn: str, timeout_s: float) -> None:
        super().__init__({"dsn": dsn})  # parses the DSN; raises BadDsn when it is malformed
        if self.parsed_dsn is None:
            raise ValueError("a Sentry DSN is required")
        auth = self.parsed_dsn.to_auth(f"mindhit-otel/sentry.python-{SENTRY_VERSION}")
        self._url = auth.get_api_url(EndpointType.ENVELOPE)
        self._auth_header = auth.to_header()
        self._timeout_s = timeout_s
        self._outcomes: dict[str, DeliveryError | None] = {}
        self._lock = threading.Lock()

    def capture_envelope(self, envelope: Envelope) -> None:
        outcome = self._post(gzip.compress(envelope.serialize()))
        event_id = envelope.headers.get("event_id")
        if isinstance(event_id, str):
            with self._lock:
                self._outcomes[event_id] = outcome

    def take_outcome(self, event_id: str) -> DeliveryError | None:
        """What the server said about the envelope of ``event_id``; raises KeyError if it was never sent."""
        with self._lock:
            return self._outcomes.pop(event_id)

    def _post(self, body: bytes) -> DeliveryError | None:
        request = urllib.request.Request(  # noqa: S310  # the DSN parser only accepts http and https
            self._url,
            data=body,
            method="POST",
            headers={
                "Content-Type": "application/x-sentry-envelope",
                "Content-Encoding": "gzip",
                "X-Sentry-Auth": self._auth_header,
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=self._timeout_s) as response:  # noqa: S310  # as above
                response.read()
        except urllib.error.HTTPError as exc:
            return _refused(exc.code, exc.headers)
        except (OSError, http.client.HTTPException) as exc:  # timeouts, refused and dropped connections
            return DeliveryError(f"sentry unreachable: {type(exc).__name__}")
        return None


def _refused(status: int, headers: Message) -> DeliveryError:
    if status == 429:
        return DeliveryError("sentry rate limited", retry_after=_retry_after(headers))
    if status >= 500 or status == 408:
        return DeliveryError(f"sentry failed: HTTP {status}")
    return DeliveryError(f"sentry refused the event: HTTP {status}", retryable=False)


def _retry_after(headers: Message) -> float:
    """Seconds until errors may be sent again: X-Sentry-Rate-Limits first, then Retry-After."""
    delays: list[float] = []
    # "60:error;transaction:key, 2700:default:organization": seconds, categories (empty = all), scope...
    for limit in (headers.get("X-Sentry-Rate-Limits") or "").split(","):
        seconds, _, rest = limit.strip().partition(":")
        categories = rest.partition(":")[0]
        if not categories or {"error", "default"} & set(categories.split(";")):
            try:
                delays.append(float(seconds))
            except ValueError:
                continue
    if delays:
        return max(delays)
    retry_after = headers.get("Retry-After")
    if retry_after:
        try:
            return max(0.0, float(retry_after))
        except ValueError:
            try:
                return max(0.0, (parsedate_to_datetime(retry_after) - datetime.now(UTC)).total_seconds())
            except (TypeError, ValueError):
                pass
    return _DEFAULT_RETRY_AFTER


def parse_exceptions(text: str, exception_type: str | None, message: str) -> list[dict[str, Any]]:
    """Sentry exception values from a formatted Python traceback, causes first, as Sentry orders them.

    Alerts carry tracebacks as text (a span event's ``exception.stacktrace``, a log record's
    formatted ``exc_info``); frames rebuilt from it give Sentry's UI its usual stack view.
    """
    values = [_parse_section(section) for section in _TRACEBACK.split(text)[1:]]
    if not values:
        values = [{}]
    last = values[-1]
    if exception_type and "type" not in last:
        module, _, name = exception_type.rpartition(".")
        last.update({"type": name, **({"module": module} if module else {})})
    last.setdefault("type", "Error")
    last.setdefault("value", message)
    return values


def _parse_section(section: str) -> dict[str, Any]:
    frames: list[dict[str, Any]] = []
    tail: list[str] = []
    for line in section.splitlines():
        if line.startswith(_CHAINED):
            break
        if match := _FRAME.match(line):
            path = match["path"]
            frames.append(
                {
                    "filename": path,
                    "abs_path": path,
                    "lineno": int(match["line"]),
                    "function": match["function"] or "<unknown>",
                    "in_app": not (path.startswith("<") or "site-packages" in path or "dist-packages" in path),
                }
            )
        elif line.startswith("    ") and frames and not tail:
            code = line.strip()
            if code and "context_line" not in frames[-1] and set(code) - set("^~ "):
                frames[-1]["context_line"] = code
        elif line.strip() and (tail or not line.startswith(" ")):
            tail.append(line)
    value: dict[str, Any] = {}
    if tail and (match := _EXCEPTION.match(tail[0])):
        value["type"] = match["type"]
        if match["module"]:
            value["module"] = match["module"]
        value["value"] = "\n".join([match["value"] or "", *tail[1:]]).strip()
    if frames:
        value["stacktrace"] = {"frames": frames[-_MAX_FRAMES:]}
    return value


def _rescrub(event: Event, hint: Hint) -> Event:
    """Scrub the finished event once more: a secret that slipped past the alert sources stops here."""
    return cast("Event", scrub_mapping(cast("dict[str, Any]", event)))


def build_event(alert: Alert) -> dict[str, Any]:
    """The Sentry event for ``alert``, grouped by the alert's fingerprint as the dispatcher dedupes."""
    tags = {"service": alert.service, "alert.source": alert.source, "severity": alert.severity.value}
    if alert.route:
        tags["route"] = alert.route
    if alert.exception_type:
        tags["exception.type"] = alert.exception_type
    details: dict[str, object] = {"source": alert.source, "count": alert.count}
    if alert.trace_url:
        details["trace_url"] = alert.trace_url
    if alert.alert_id:
        details["alert_id"] = alert.alert_id

    event: dict[str, Any] = {
        "event_id": uuid.uuid4().hex,
        "level": LEVELS[alert.severity],
        "message": f"{alert.title}\n\n{alert.message}" if alert.message != alert.title else alert.title,
        "timestamp": alert.occurred_at,
        "fingerprint": [alert.fingerprint],
        "environment": alert.environment,
        "tags": {key: value[:200] for key, value in tags.items()},  # Sentry drops longer tag values
        "contexts": {"alert": details},
    }
    if alert.route:
        event["transaction"] = alert.route
    if alert.trace_id:
        trace: dict[str, object] = {"trace_id": alert.trace_id, "type": "trace"}
        if alert.span_id:
            trace["span_id"] = alert.span_id
        event["contexts"]["trace"] = trace
    if alert.exception_type or alert.stacktrace:
        exceptions = parse_exceptions(alert.stacktrace or "", alert.exception_type, alert.message)
        event["exception"] = {"values": exceptions}
        if alert.stacktrace and not any("stacktrace" in value for value in exceptions):
            event["extra"] = {"stacktrace": alert.stacktrace}  # unparsed, but still worth reading
    return event


class SentryChannel:
    """Sends each alert to the Sentry project of ``dsn`` and returns only once Sentry accepted it."""

    name = "sentry"

    def __init__(self, *, dsn: str, environment: str, release: str | None = None, timeout_s: float = 5.0) -> None:
        self._transport = _SyncTransport(dsn=dsn, timeout_s=timeout_s)
        self._client = sentry_sdk.Client(
            dsn=dsn,
            environment=environment,
            release=release,
            transport=self._transport,
            # Nothing global: no logging, threading or excepthook hooks, no auto-detected frameworks.
            default_integrations=False,
            auto_enabling_integrations=False,
            integrations=[],
            # OpenTelemetry is the single source of spans: traces_sample_rate stays unset (tracing off).
            # send_default_pii stays unset too: it defaults to off, and passing it is deprecated.
            send_client_reports=False,
            enable_backpressure_handling=False,
            before_send=_rescrub,
        )

    def send(self, alert: Alert) -> None:
        event = build_event(alert)
        try:
            event_id = self._client.capture_event(cast("Event", event))
        except Exception as exc:  # the SDK should not raise; if it does, the same alert would fail again
            raise DeliveryError(f"sentry client failed: {type(exc).__name__}", retryable=False) from exc
        try:
            outcome = self._transport.take_outcome(event_id) if event_id else None
        except KeyError:
            event_id = None
        if event_id is None:  # sampled out, ignored or dropped by before_send: it will not change
            raise DeliveryError("sentry client discarded the event", retryable=False)
        if outcome is not None:
            raise outcome

    def close(self) -> None:
        self._client.close(timeout=0)
