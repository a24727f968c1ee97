"""A Slack-compatible Web API on 127.0.0.1, so the real ``slack_sdk`` client can be tested without Slack.

It implements ``POST /api/chat.postMessage`` (JSON or form body, bearer or ``token`` field), records
every request with its headers and parsed body, and fails on demand the ways Slack does: HTTP 500,
HTTP 429 with ``Retry-After``, ``invalid_auth``, ``channel_not_found``, or a request that is accepted
and never answered until released (bounded, so a broken test cannot hang the suite).

    with running_fake_slack() as slack:
        channel = SlackChannel(token=slack.token, channel="#alerts", api_url=slack.api_url)
        slack.set_mode(SlackMode.RATE_LIMITED, retry_after=7)
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from fake_server import Answer, FakeServer

DEFAULT_TOKEN = "xoxb-fake-slack-token"


class SlackMode(StrEnum):
    OK = "ok"
    SERVER_ERROR = "500"
    RATE_LIMITED = "429"
    HANG = "hang"
    INVALID_AUTH = "invalid_auth"
    CHANNEL_NOT_FOUND = "channel_not_found"


@dataclass(frozen=True)
class SlackRequest:
    """One request as the server saw it; ``body`` is parsed, JSON strings in form fields included."""

    method: str  # the API method, "chat.postMessage"
    headers: dict[str, str]  # lower-case names
    body: dict[str, Any]
    raw: bytes

    @property
    def token(self) -> str | None:
        auth = self.headers.get("authorization", "")
        if auth.lower().startswith("bearer "):
            return auth[7:]
        token = self.body.get("token")
        return token if isinstance(token, str) else None

    @property
    def attachment(self) -> dict[str, Any]:
        attachments = self.body.get("attachments") or [{}]
        return dict(attachments[0])


class FakeSlack(FakeServer[SlackMode, SlackRequest]):
    """The server; start it with ``running_fake_slack()`` or the ``fake_slack`` fixture."""

    def __init__(self, *, token: str = DEFAULT_TOKEN, hang_limit_s: float = 10.0) -> None:
        super().__init__(mode=SlackMode.OK, hang_limit_s=hang_limit_s, thread_name="fake-slack")
        self.token = token

    @property
    def api_url(self) -> str:
        """The base URL to give ``WebClient(base_url=...)`` (``SLACK_API_URL``)."""
        return f"http://127.0.0.1:{self.port}/api/"

    @property
    def requests(self) -> list[SlackRequest]:
        return self._recorded()

    def _handle(self, path: str, headers: dict[str, str], raw: bytes) -> Answer | None:
        url_path = urlsplit(path).path
        method = url_path.removeprefix("/api/") if url_path.startswith("/api/") else ""
        request = SlackRequest(method, headers, _parse_body(headers.get("content-type", ""), raw), raw)
        self._record(request)
        mode = self.mode
        if mode is SlackMode.HANG:
            self._hang()
            return None
        if mode is SlackMode.SERVER_ERROR:
            return 500, {"Content-Type": "text/html"}, b"<html><body>Internal Server Error</body></html>"
        if mode is SlackMode.RATE_LIMITED:
            return _json(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": str(self.retry_after)})
        return self._api(request)

    def _api(self, request: SlackRequest) -> Answer:
        mode = self.mode
        if request.method != "chat.postMessage":
            return _json(404, {"ok": False, "error": "unknown_method"})
        if request.token is None:
            return _json(200, {"ok": False, "error": "not_authed"})
        if mode is SlackMode.INVALID_AUTH or request.token != self.token:
            return _json(200, {"ok": False, "error": "invalid_auth"})
        if mode is SlackMode.CHANNEL_NOT_FOUND:
            return _json(200, {"ok": False, "error": "channel_not_found"})
        message = {"type": "message", "text": request.body.get("text"), "ts": "1700000000.000100"}
        return _json(200, {"ok": True, "channel": "C0FAKE", "ts": message["ts"], "message": message})


def _json(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> Answer:
    return status, {"Content-Type": "application/json; charset=utf-8", **(headers or {})}, json.dumps(body).encode()


def _parse_body(content_type: str, raw: bytes) -> dict[str, Any]:
    if content_type.startswith("application/json"):
        parsed = json.loads(raw or b"{}")
        return parsed if isinstance(parsed, dict) else {"_": parsed}
    body: dict[str, Any] = dict(parse_qsl(raw.decode("utf-8"), keep_blank_values=True))
    for key in ("attachments", "blocks"):  # form bodies carry structured fields as JSON strings
        if isinstance(body.get(key), str):
            body[key] = json.loads(body[key])
    return body


def running_fake_slack(*, token: str = DEFAULT_TOKEN, hang_limit_s: float = 10.0) -> FakeSlack:
    """A fake Slack that runs inside a ``with`` block."""
    return FakeSlack(token=token, hang_limit_s=hang_limit_s)


@pytest.fixture
def fake_slack() -> Iterator[FakeSlack]:
    """A running fake Slack, stopped after the test."""
    with running_fake_slack() as fake:
        yield fake
