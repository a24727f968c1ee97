"""A Sentry ingestion endpoint on 127.0.0.1, so the real ``sentry_sdk`` client can be tested without Sentry.

Give ``fake.dsn`` (``http://<key>@127.0.0.1:<port>/1``) to the client. The server accepts
``POST /api/1/envelope/``, checks the key in ``X-Sentry-Auth`` (or ``?sentry_key=``), decodes gzip or
deflate bodies, parses the envelope and records it. Like Sentry it can answer 500, 429 with
``Retry-After`` and ``X-Sentry-Rate-Limits``, 401 for a wrong key, or accept a request and never
answer until released (bounded, so a broken test cannot hang the suite).

    with running_fake_sentry() as sentry:
        SentryChannel(dsn=sentry.dsn, environment="test").send(alert)
        [event] = sentry.events
"""

from __future__ import annotations

import gzip
import json
import uuid
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from fake_server import Answer, FakeServer


class SentryMode(StrEnum):
    OK = "ok"
    SERVER_ERROR = "500"
    RATE_LIMITED = "429"
    HANG = "hang"
    INVALID_AUTH = "invalid_auth"


@dataclass(frozen=True)
class EnvelopeItem:
    headers: dict[str, Any]
    payload: bytes

    @property
    def type(self) -> str | None:
        return self.headers.get("type")

    def json(self) -> Any:
        return json.loads(self.payload)


@dataclass(frozen=True)
class SentryEnvelope:
    """One request: its HTTP headers (lower-case), the body as sent and decoded, the parsed envelope."""

    http_headers: dict[str, str]
    raw: bytes  # as it came over the wire, compressed or not
    body: bytes  # decompressed: search this for what must never be sent
    headers: dict[str, Any]
    items: list[EnvelopeItem]

    @property
    def events(self) -> list[dict[str, Any]]:
        return [item.json() for item in self.items if item.type == "event"]


def parse_envelope(body: bytes) -> tuple[dict[str, Any], list[EnvelopeItem]]:
    """Envelope format: a JSON header line, then items, each a JSON header line and a payload."""
    header_line, _, rest = body.partition(b"\n")
    items = []
    while rest.strip():
        item_line, _, rest = rest.partition(b"\n")
        if not item_line.strip():
            continue
        item_headers = json.loads(item_line)
        length = item_headers.get("length")
        if length is None:
            payload, _, rest = rest.partition(b"\n")
        else:
            payload, rest = rest[:length], rest[length:].removeprefix(b"\n")
        items.append(EnvelopeItem(item_headers, payload))
    return json.loads(header_line), items


def _decode(encoding: str, raw: bytes) -> bytes:
    if encoding == "gzip":
        return gzip.decompress(raw)
    if encoding == "deflate":
        return zlib.decompress(raw)
    if encoding in ("", "identity"):
        return raw
    raise ValueError(f"unsupported Content-Encoding {encoding!r}")


class FakeSentry(FakeServer[SentryMode, SentryEnvelope]):
    """The server; start it with ``running_fake_sentry()`` or the ``fake_sentry`` fixture."""

    def __init__(self, *, project_id: int = 1, public_key: str | None = None, hang_limit_s: float = 10.0) -> None:
        super().__init__(mode=SentryMode.OK, hang_limit_s=hang_limit_s, thread_name="fake-sentry")
        self.project_id = project_id
        self.public_key = public_key or uuid.uuid4().hex
        self.rate_limits: str | None = None  # X-Sentry-Rate-Limits on a 429, e.g. "60:error:organization"

    @property
    def dsn(self) -> str:
        return f"http://{self.public_key}@127.0.0.1:{self.port}/{self.project_id}"

    @property
    def envelopes(self) -> list[SentryEnvelope]:
        return self._recorded()

    @property
    def events(self) -> list[dict[str, Any]]:
        return [event for envelope in self.envelopes for event in envelope.events]

    def set_mode(
        self, mode: SentryMode | str, *, retry_after: int | None = None, rate_limits: str | None = None
    ) -> None:
        super().set_mode(mode, retry_after=retry_after)
        self.rate_limits = rate_limits

    def _handle(self, path: str, headers: dict[str, str], raw: bytes) -> Answer | None:
        url = urlsplit(path)
        if url.path != f"/api/{self.project_id}/envelope/":
            return _json(404, {"detail": "not found"})
        try:
            body = _decode(headers.get("content-encoding", ""), raw)
            envelope_headers, items = parse_envelope(body)
        except (ValueError, OSError, EOFError) as exc:
            return _json(400, {"detail": f"invalid envelope: {exc}"})
        self._record(SentryEnvelope(headers, raw, body, envelope_headers, items))
        if self.mode is SentryMode.INVALID_AUTH or _key(url.query, headers) != self.public_key:
            return _json(401, {"detail": "invalid api key"})
        return self._answer(envelope_headers.get("event_id"))

    def _answer(self, event_id: str | None) -> Answer | None:
        mode = self.mode
        if mode is SentryMode.HANG:
            self._hang()
            return None
        if mode is SentryMode.SERVER_ERROR:
            return _json(500, {"detail": "internal server error"})
        if mode is SentryMode.RATE_LIMITED:
            limit_headers = {"Retry-After": str(self.retry_after)}
            if self.rate_limits:
                limit_headers["X-Sentry-Rate-Limits"] = self.rate_limits
            return _json(429, {"detail": "event rejected due to rate limit"}, limit_headers)
        return _json(200, {"id": event_id})


def _json(status: int, payload: Any, headers: dict[str, str] | None = None) -> Answer:
    return status, {"Content-Type": "application/json", **(headers or {})}, json.dumps(payload).encode()


def _key(query: str, headers: dict[str, str]) -> str | None:
    for part in headers.get("x-sentry-auth", "").removeprefix("Sentry ").split(","):
        name, _, value = part.strip().partition("=")
        if name == "sentry_key":
            return value
    return (parse_qs(query).get("sentry_key") or [None])[0]


def running_fake_sentry(*, project_id: int = 1, hang_limit_s: float = 10.0) -> FakeSentry:
    """A fake Sentry that runs inside a ``with`` block."""
    return FakeSentry(project_id=project_id, hang_limit_s=hang_limit_s)


@pytest.fixture
def fake_sentry() -> Iterator[FakeSentry]:
    """A running fake Sentry, stopped after the test."""
    with running_fake_sentry() as fake:
        yield fake
