"""Credentials never leave the process in telemetry: spans and log records are redacted on export.

Instrumentation records what a request carried: FastAPI's server span keeps the query string
(``?token=...``), an exception event quotes the exception's message and stack, a log record quotes
whatever was logged. The exporters here wrap the real ones and hand them redacted *copies*: ended
spans and emitted records are never changed (the SDK's contract), and the work runs on the batch
processor's thread, not on the request's.

A value is replaced whole when its key names a credential (``http.request.header.authorization``,
``password``); any other string is scrubbed by ``otel.alerts._scrub`` (the rules alerts use).
Scrubbing costs tens of microseconds a string, so a cheap pre-check first lets through, untouched,
the strings that no rule could change: almost all of them.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any, Final

from opentelemetry.attributes import BoundedAttributes
from opentelemetry.sdk._logs import ReadableLogRecord
from opentelemetry.sdk._logs.export import LogRecordExporter, LogRecordExportResult
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.trace import Link, Status
from opentelemetry.util.types import Attributes

from otel._memo import RepeatMemo
from otel.alerts._scrub import REDACTED, holds_value, scrub

# Keys whose value is a credential whatever it looks like: header attributes and names that end in a
# secret word. Narrower than ``is_secret_key`` on purpose: ``session_id`` here is a recording session.
_SECRET_KEY: Final = re.compile(
    r"(?i)(?:^|[._-])(?:authorization|cookie|set[-_]cookie|x[-_]api[-_]key|x[-_]auth[-_]token|password|passwd|pwd"
    r"|passphrase|secret|api[-_]?key|token|credentials?|private[-_]key)$"
)
# Everything a scrub rule can match contains one of these: a secret-ish name followed by ``=``/``:``
# (or quoted, as in JSON), or a credential's own shape. Bind placeholders (``session_id = ?``) are
# not values, so a parameterised statement is not rewritten.
_PLACEHOLDER: Final = r"(?:\?|%s|%\(\w+\)s)(?![\w%])"
_MAYBE_SECRET: Final = re.compile(
    r"(?i)(?:pass|pwd|secret|token|key|credential|sig|session[-_]?(?:id|key)|sessionid|auth|cookie|dsn|jwt)"
    rf"[\w.-]*(?:\s*[:=]\s*+(?!{_PLACEHOLDER})|[\"']\s*[:=,])"
    r"|bearer\s|basic\s|private key|eyj|xox[a-z]-|xapp-|hooks\.slack\.com|gh[pousr]_|github_pat_|akia|asia"
    r"|[rs]k_(?:live|test)_|sntr[ysu]_|://[^\s/@]*@"
    r"|(?:secret|token|password|key)[ _-]?\s+(?:is\s+)?[a-z0-9+/_-]{20}"
)
# Each alternative above contains one of these substrings (lower-cased): looking for them is a few
# microseconds, where the expression itself costs tens on a long string.
_NEEDLES: Final = (
    *("pass", "pwd", "secret", "token", "key", "credential", "sig", "auth", "cookie", "dsn", "jwt", "bearer", "basic"),
    *("sessionid", "session_id", "session-id", "sessionkey", "session_key", "session-key"),
    *("eyj", "xox", "xapp-", "hooks.slack", "ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_", "akia", "asia"),
    *("k_live_", "k_test_", "sntr", "@"),
)


def _may_hold_secret(text: str) -> bool:
    lowered = text.lower()
    return any(needle in lowered for needle in _NEEDLES) and _MAYBE_SECRET.search(text) is not None


# Attribute keys are a small set the code chooses (the same few dozen on every span and record), and
# this is asked for each one of every exported item: remembering the answer spares a regex search each.
@lru_cache(maxsize=1024)
def secret_key(key: str) -> bool:
    """Whether an attribute called ``key`` holds a credential (its value is then replaced whole)."""
    return _SECRET_KEY.search(key) is not None


# Most values repeat (methods, routes, statements, user agents): the clean ones are remembered, so a
# repeat costs one lookup. Only strings without credentials are kept, and only a bounded number.
_clean: RepeatMemo[str, bool] = RepeatMemo(size=4096, probation=4096)


def redact_text(text: str) -> str:
    """``text`` with credentials replaced; the same object when there is nothing to replace."""
    if _clean.get(text):
        return text
    scrubbed = scrub(text) if _may_hold_secret(text) else text
    if scrubbed == text:
        _clean.offer(text, True)
        return text
    return scrubbed


def redact_value(value: Any) -> Any:
    """Strings scrubbed, sequences and mappings (log bodies) walked; the same object when unchanged."""
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, list | tuple):
        items = [redact_value(item) for item in value]
        return value if all(a is b for a, b in zip(items, value, strict=True)) else type(value)(items)
    if isinstance(value, Mapping):
        return redact_attributes(value) or value
    return value


def redact_attribute(key: str, value: Any) -> Any:
    """The value an attribute ``key`` may carry out of the process; ``value`` itself when unchanged."""
    if secret_key(key) and holds_value(value):
        return value if value == REDACTED else REDACTED
    return redact_value(value)


def redact_attributes(attributes: Attributes | Mapping[str, Any]) -> dict[str, Any] | None:
    """A redacted copy of ``attributes``, or ``None`` when nothing in them needs redacting."""
    if not attributes:
        return None
    changed: dict[str, Any] = {}
    for key, value in attributes.items():
        redacted = redact_attribute(key, value)
        if redacted is not value:
            changed[key] = redacted
    return {**attributes, **changed} if changed else None


class _RedactedSpan(ReadableSpan):
    """A copy with other attributes; the counts of what the SDK dropped stay the original's."""

    def __init__(self, original: ReadableSpan, **fields: Any) -> None:
        super().__init__(**fields)
        self._original = original

    @property
    def dropped_attributes(self) -> int:
        return self._original.dropped_attributes

    @property
    def dropped_events(self) -> int:
        return self._original.dropped_events

    @property
    def dropped_links(self) -> int:
        return self._original.dropped_links


def redact_span(span: ReadableSpan) -> ReadableSpan:
    """``span`` itself when it carries no credential, else a redacted copy."""
    name = redact_text(span.name)
    attributes = redact_attributes(span.attributes)
    events = _redact_events(span.events)
    links = _redact_links(span.links)
    description = span.status.description
    status = span.status
    if description and (scrubbed := redact_text(description)) is not description:
        status = Status(span.status.status_code, scrubbed)
    if name is span.name and attributes is None and events is None and links is None and status is span.status:
        return span
    return _RedactedSpan(
        span,
        name=name,
        context=span.context,
        parent=span.parent,
        resource=span.resource,
        attributes=attributes if attributes is not None else span.attributes,
        events=events if events is not None else span.events,
        links=links if links is not None else span.links,
        kind=span.kind,
        status=status,
        start_time=span.start_time,
        end_time=span.end_time,
        instrumentation_scope=span.instrumentation_scope,
    )


def _redact_events(events: Sequence[Event]) -> Sequence[Event] | None:
    redacted = [(event, redact_attributes(event.attributes)) for event in events]
    if all(attributes is None for _, attributes in redacted):
        return None
    return tuple(
        event if attributes is None else Event(event.name, attributes, event.timestamp)
        for event, attributes in redacted
    )


def _redact_links(links: Sequence[Link]) -> Sequence[Link] | None:
    redacted = [(link, redact_attributes(link.attributes)) for link in links]
    if all(attributes is None for _, attributes in redacted):
        return None
    return tuple(link if attributes is None else Link(link.context, attributes) for link, attributes in redacted)


def redact_log(readable: ReadableLogRecord) -> ReadableLogRecord:
    """``readable`` itself when it carries no credential, else a copy with body and attributes redacted."""
    record = readable.log_record
    body = redact_value(record.body)
    attributes = redact_attributes(record.attributes)
    if body is record.body and attributes is None:
        return readable
    clone = copy.copy(record)
    clone.body = body
    if attributes is not None:
        bounded = BoundedAttributes(attributes=attributes, immutable=True)
        bounded.dropped = readable.dropped_attributes  # what the SDK's limits dropped stays counted
        clone.attributes = bounded
    return ReadableLogRecord(
        log_record=clone,
        resource=readable.resource,
        instrumentation_scope=readable.instrumentation_scope,
        limits=readable.limits,
    )


class RedactingSpanExporter(SpanExporter):
    """Hands ``exporter`` redacted copies of the spans that carry credentials, the rest as they are."""

    def __init__(self, exporter: SpanExporter) -> None:
        self.exporter = exporter

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return self.exporter.export([redact_span(span) for span in spans])

    def shutdown(self) -> None:
        self.exporter.shutdown()

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return self.exporter.force_flush(timeout_millis)


class RedactingLogExporter(LogRecordExporter):
    """Hands ``exporter`` redacted copies of the log records that carry credentials."""

    def __init__(self, exporter: LogRecordExporter) -> None:
        self.exporter = exporter

    def export(self, batch: Sequence[ReadableLogRecord]) -> LogRecordExportResult:
        return self.exporter.export([redact_log(record) for record in batch])

    def shutdown(self) -> None:
        self.exporter.shutdown()  # type: ignore[no-untyped-call]  # the SDK leaves it unannotated

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return self.exporter.force_flush(timeout_millis)
