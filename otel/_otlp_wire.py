"""OTLP protobuf for spans and log records, written straight to wire bytes, credentials redacted on the way.

The SDK's encoders build a protobuf object for every span, attribute and value and serialise the tree:
about 30 objects per request here, on the batch processor's thread but holding the GIL the requests
need. Most of what they encode repeats from request to request (method, route, statement, status,
logger, user agent), so this encoder writes each attribute once, remembers its bytes, and from then on
copies them. Redaction (``otel._redaction``) happens in the same pass: a remembered attribute is a
redacted one, so the rules run once per distinct value instead of once per item, and no redacted copy of
a span or record is ever built.

The output is the same ``ExportTraceServiceRequest`` / ``ExportLogsServiceRequest`` the SDK's encoders
produce for the redacted items (a unit test parses both and compares them, field by field).
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

from opentelemetry.sdk._logs import ReadableLogRecord
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import SpanContext

from otel._memo import RepeatMemo
from otel._redaction import redact_attribute, redact_text, redact_value
from otel._span_data import recorded

_FIXED64: Final = struct.Struct("<Q").pack
_DOUBLE: Final = struct.Struct("<d").pack
_FIXED32: Final = struct.Struct("<I").pack
# SpanFlags: the exporter always says whether it knows if the parent is remote, and whether it is.
_HAS_IS_REMOTE: Final = 0x100
_IS_REMOTE: Final = 0x200
_INT64_WRAP: Final = 1 << 64


def _varint(value: int) -> bytes:
    if value < 0x80:
        return _SMALL[value]
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


_SMALL: Final = [bytes((i,)) for i in range(0x80)]


def _field(tag: bytes, payload: bytes) -> bytes:
    """A length-delimited field: ``tag`` is the already-encoded key byte(s)."""
    return tag + _varint(len(payload)) + payload


# --- values and attributes -----------------------------------------------------------------------------


def _string(value: str) -> bytes:
    return _field(b"\x0a", value.encode())


def _int(value: int) -> bytes:
    return b"\x18" + _varint(value if value >= 0 else value + _INT64_WRAP)


# AnyValue's oneof fields are written even when they hold their default (``False``, ``0``, ``""``).
_SCALARS: Final[dict[type, Callable[[Any], bytes]]] = {
    type(None): lambda _: b"",
    bool: lambda value: b"\x10\x01" if value else b"\x10\x00",
    str: _string,
    int: _int,
    float: lambda value: b"\x21" + _DOUBLE(value),
    bytes: lambda value: _field(b"\x3a", value),
}


def _any_value(value: Any) -> bytes:
    """An ``AnyValue`` message body."""
    encode = _SCALARS.get(type(value))
    if encode is not None:
        return encode(value)
    for kind, encode in _SCALARS.items():  # subclasses: a str enum, an int flag
        if isinstance(value, kind):
            return encode(value)
    if isinstance(value, Sequence):
        return _field(b"\x2a", b"".join(_field(b"\x0a", _any_value(item)) for item in value))
    if isinstance(value, Mapping):
        return _field(b"\x32", b"".join(_field(b"\x0a", _key_value(str(k), v)) for k, v in value.items()))
    raise TypeError(f"cannot encode a {type(value).__name__} as an OTLP value")


def _key_value(key: str, value: Any) -> bytes:
    return _field(b"\x0a", key.encode()) + _field(b"\x12", _any_value(value))


# (field key, attribute key, value) -> the redacted KeyValue, framed as that field. Strings and ints only:
# in a dict key True, 1 and 1.0 are the same key, so bools and floats are encoded every time.
_encoded: RepeatMemo[tuple[bytes, str, str | int], bytes] = RepeatMemo(size=8192, probation=8192)


def _attributes(tag: bytes, attributes: Mapping[str, Any] | None) -> list[bytes]:
    # BoundedAttributes is a Mapping over a dict; iterating the dict skips a Python-level __iter__ per key.
    items = getattr(attributes, "_dict", attributes)
    if not items:
        return []
    remembered = _encoded.get
    out = []
    for key, value in items.items():
        kind = type(value)
        if kind is str or kind is int:
            pair = (tag, key, value)
            encoded = remembered(pair)
            if encoded is None:
                encoded = _field(tag, _key_value(key, redact_attribute(key, value)))
                _encoded.offer(pair, encoded)
            out.append(encoded)
        else:
            out.append(_field(tag, _key_value(key, redact_attribute(key, value))))
    return out


def _count(tag: bytes, count: int) -> bytes:
    return tag + _varint(count) if count else b""


# --- resource and scope: the same for every item of a process, so encoded once each ---------------------

_resources: dict[Resource, bytes] = {}
_scopes: dict[InstrumentationScope | None, bytes] = {}


def _resource(resource: Resource) -> bytes:
    """The ``resource`` field (1) of ResourceSpans/ResourceLogs; the SDK writes it even when empty."""
    encoded = _resources.get(resource)
    if encoded is None:
        if len(_resources) >= 64:
            _resources.clear()
        encoded = _resources[resource] = _field(b"\x0a", b"".join(_attributes(b"\x0a", resource.attributes)))
    return encoded


def _scope(scope: InstrumentationScope | None) -> bytes:
    """The ``scope`` field (1) of ScopeSpans/ScopeLogs, written even when empty, as the SDK does."""
    encoded = _scopes.get(scope)
    if encoded is None:
        message = b""
        if scope is not None:
            if scope.name:
                message += _field(b"\x0a", scope.name.encode())
            if scope.version:
                message += _field(b"\x12", scope.version.encode())
            message += b"".join(_attributes(b"\x1a", scope.attributes))
        if len(_scopes) >= 256:
            _scopes.clear()
        encoded = _scopes[scope] = _field(b"\x0a", message)
    return encoded


def _request(items: Sequence[Any], encode: Any) -> bytes:
    """Items grouped by resource, then by scope (field 2 of each group), as the OTLP request nests them."""
    groups: dict[Resource, dict[InstrumentationScope | None, list[bytes]]] = {}
    for item in items:
        by_scope = groups.get(item.resource)
        if by_scope is None:
            by_scope = groups[item.resource] = {}
        scope = item.instrumentation_scope or None
        encoded = by_scope.get(scope)
        if encoded is None:
            encoded = by_scope[scope] = []
        encoded.append(encode(item))
    out = []
    for resource, by_scope in groups.items():
        parts = [_resource(resource)]
        for scope, encoded in by_scope.items():
            body = _scope(scope) + b"".join(_field(b"\x12", item) for item in encoded)
            if scope is not None and scope.schema_url:
                body += _field(b"\x1a", scope.schema_url.encode())
            parts.append(_field(b"\x12", body))
        if resource.schema_url:
            parts.append(_field(b"\x1a", resource.schema_url.encode()))
        out.append(_field(b"\x0a", b"".join(parts)))
    return b"".join(out)


# --- spans ---------------------------------------------------------------------------------------------


def _flags(parent: SpanContext | None) -> bytes:
    """Field 16 (fixed32); its key takes two bytes."""
    flags = _HAS_IS_REMOTE | (_IS_REMOTE if parent is not None and parent.is_remote else 0)
    return b"\x85\x01" + _FIXED32(flags)


def _span(span: ReadableSpan) -> bytes:
    context = span.get_span_context()
    if context is None:
        raise ValueError(f"span {span.name!r} has no span context")
    parts = [
        b"\x0a\x10" + context.trace_id.to_bytes(16, "big"),
        b"\x12\x08" + context.span_id.to_bytes(8, "big"),
    ]
    if context.trace_state:
        parts.append(_field(b"\x1a", ",".join(f"{k}={v}" for k, v in context.trace_state.items()).encode()))
    parent = span.parent
    if parent is not None:
        parts.append(b"\x22\x08" + parent.span_id.to_bytes(8, "big"))
    if span.name:
        parts.append(_field(b"\x2a", redact_text(span.name).encode()))
    parts.append(b"\x30" + _SMALL[span.kind._value_ + 1])
    if span.start_time:
        parts.append(b"\x39" + _FIXED64(span.start_time))
    if span.end_time:
        parts.append(b"\x41" + _FIXED64(span.end_time))
    attributes, dropped_attributes = recorded(span, "attributes")
    parts += _attributes(b"\x4a", attributes)
    parts.append(_count(b"\x50", dropped_attributes))
    events, dropped_events = recorded(span, "events")
    for event in events:
        message = b"\x09" + _FIXED64(event.timestamp)
        if event.name:
            message += _field(b"\x12", event.name.encode())
        message += b"".join(_attributes(b"\x1a", event.attributes))
        message += _count(b"\x20", event.dropped_attributes)
        parts.append(_field(b"\x5a", message))
    parts.append(_count(b"\x60", dropped_events))
    links, dropped_links = recorded(span, "links")
    for link in links:
        message = b"\x0a\x10" + link.context.trace_id.to_bytes(16, "big")
        message += b"\x12\x08" + link.context.span_id.to_bytes(8, "big")
        message += b"".join(_attributes(b"\x22", link.attributes))
        message += _count(b"\x28", link.dropped_attributes)
        message += b"\x35" + _FIXED32(_HAS_IS_REMOTE | (_IS_REMOTE if link.context.is_remote else 0))
        parts.append(_field(b"\x6a", message))
    parts.append(_count(b"\x70", dropped_links))
    status = span.status
    message = b""
    if status.description:
        message += _field(b"\x12", redact_text(status.description).encode())
    if code := status.status_code._value_:
        message += b"\x18" + _SMALL[code]
    parts.append(_field(b"\x7a", message))
    parts.append(_flags(parent))
    return b"".join(parts)


def encode_spans(spans: Sequence[ReadableSpan]) -> bytes:
    """A serialised ``ExportTraceServiceRequest`` for ``spans``, credentials redacted."""
    return _request(spans, _span)


# --- log records ---------------------------------------------------------------------------------------


def _log(readable: ReadableLogRecord) -> bytes:
    record = readable.log_record
    parts = []
    if record.timestamp:
        parts.append(b"\x09" + _FIXED64(record.timestamp))
    severity = getattr(record.severity_number, "value", 0)
    if severity:
        parts.append(b"\x10" + _varint(severity))
    if record.severity_text:
        parts.append(_field(b"\x1a", record.severity_text.encode()))
    parts.append(_field(b"\x2a", _any_value(redact_value(record.body))))
    parts += _attributes(b"\x32", record.attributes)
    parts.append(_count(b"\x38", readable.dropped_attributes))
    flags = int(record.trace_flags or 0)
    if flags:
        parts.append(b"\x45" + _FIXED32(flags))
    if record.trace_id:
        parts.append(b"\x4a\x10" + record.trace_id.to_bytes(16, "big"))
    if record.span_id:
        parts.append(b"\x52\x08" + record.span_id.to_bytes(8, "big"))
    if record.observed_timestamp:
        parts.append(b"\x59" + _FIXED64(record.observed_timestamp))
    if record.event_name:
        parts.append(_field(b"\x62", record.event_name.encode()))
    return b"".join(parts)


def encode_logs(records: Sequence[ReadableLogRecord]) -> bytes:
    """A serialised ``ExportLogsServiceRequest`` for ``records``, credentials redacted."""
    return _request(records, _log)
