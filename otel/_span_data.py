"""What an ended span holds, read without the copies its public properties make.

Every exported span is read by the OTLP encoder and every ended span by the alert rules. The SDK's
``ReadableSpan.events`` and ``.links`` build a tuple under a lock on each access, and ``.attributes``
wraps the attributes in a read-only proxy whose every lookup is a Python call taking a lock. The span's
own containers hold the same data, and once a span has ended nothing adds to them, so no lock is needed
to read them. Should a later SDK release keep them elsewhere, the public property is read instead (the
encoder's tests compare both paths with the SDK's own encoding).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

from opentelemetry.sdk.trace import ReadableSpan

Recorded = Literal["attributes", "events", "links"]
# Where the SDK's bounded containers keep their items: BoundedAttributes a dict, BoundedList a deque.
_ITEMS: dict[str, str] = {"attributes": "_dict", "events": "_dq", "links": "_dq"}


def recorded(span: ReadableSpan, what: Recorded) -> tuple[Any, int]:
    """The span's attributes (a mapping), events or links (a sequence), and how many it dropped."""
    held = getattr(span, f"_{what}", None)
    items = getattr(held, _ITEMS[what], None)
    dropped = getattr(held, "dropped", None)
    if items is None or not isinstance(dropped, int):
        return getattr(span, what), getattr(span, f"dropped_{what}")
    return items, dropped


def attributes_of(span: ReadableSpan) -> Mapping[str, Any]:
    attributes, _ = recorded(span, "attributes")
    return attributes or {}


def events_of(span: ReadableSpan) -> Sequence[Any]:
    events, _ = recorded(span, "events")
    return events or ()
