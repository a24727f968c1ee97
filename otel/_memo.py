"""A bounded memo that keeps a value only once its key has been seen twice.

The redaction rules and the OTLP encoder remember what they worked out per string, because most strings
repeat from request to request (methods, routes, statements, user agents). Some never repeat (request
ids, paths that carry an id): remembered on first sight, they would fill the memo and flush the useful
entries every few hundred requests. Here a first sighting only goes on probation.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

Key = TypeVar("Key", bound=Hashable)
Value = TypeVar("Value")


class RepeatMemo(Generic[Key, Value]):
    """``get`` what was remembered; ``offer`` it after working it out. Safe to share between threads:
    each operation is one dict or set call, and a lost race only costs the work again."""

    def __init__(self, *, size: int, probation: int) -> None:
        self.size = size
        self.probation = probation
        self._kept: dict[Key, Value] = {}
        self._seen: set[Key] = set()
        # The dict's own ``get``: a memo is asked for every attribute of every exported item, and a method
        # of ours would add a Python call to each question. ``offer`` only ever clears this dict in place.
        self.get: Callable[[Key], Value | None] = self._kept.get

    def offer(self, key: Key, value: Value) -> None:
        if key in self._seen:
            if len(self._kept) >= self.size:
                self._kept.clear()
            self._kept[key] = value
            return
        if len(self._seen) >= self.probation:
            self._seen.clear()
        self._seen.add(key)
