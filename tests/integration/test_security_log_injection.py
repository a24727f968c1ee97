"""Log injection is impossible: hostile headers, paths and bodies never forge, split or colour a log line.

A client-supplied ``X-Request-ID`` is echoed back and written to every log record of the request, so
one that carries CR/LF, ANSI escapes, U+2028 or 10 KB is replaced by a fresh id. And whatever a
request carries, it produces as many console lines as the same request with harmless content: one for
a plain read, where the access log is the only record.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import pytest
from api_harness import Api, AppFactory

HOSTILE_REQUEST_IDS: dict[str, bytes] = {
    "crlf": b"abc\r\nINFO forged: admin logged in",
    "lf": b"abc\nforged",
    "ansi": b"\x1b[2J\x1b[31mred",
    "u2028": "abc\u2028forged".encode(),  # sent as its UTF-8 bytes, as a client would
    "nul": b"abc\x00def",
    "10kb": b"a" * 10_240,
    "quote": b'abc"}, {"level": "ERROR',
}
# What a forged line would need, in either console format.
_RAW_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\u2028\u2029\x85]")


@pytest.fixture(params=["json", "text"])
def console_api(request: pytest.FixtureRequest, make_api: AppFactory, monkeypatch: pytest.MonkeyPatch) -> Api:
    monkeypatch.setenv("LOG_FORMAT", request.param)
    api = make_api()
    # The test client logs its own requests in this process; only the service's lines are counted.
    for name in ("httpx", "httpx2"):
        client_logger = logging.getLogger(name)
        monkeypatch.setattr(client_logger, "level", logging.WARNING)
    return api


def _lines(capsys: pytest.CaptureFixture[str], call: Callable[[], Any]) -> list[str]:
    capsys.readouterr()
    call()
    return capsys.readouterr().out.splitlines()


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


@pytest.mark.parametrize("name", HOSTILE_REQUEST_IDS)
def test_a_hostile_request_id_is_replaced_and_the_request_logs_one_line(
    console_api: Api, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    hostile = HOSTILE_REQUEST_IDS[name]
    responses = []

    lines = _lines(
        capsys,
        lambda: responses.append(
            console_api.client.get("/api/v1/sessions", headers={**console_api.auth(), "X-Request-ID": hostile})
        ),
    )

    (response,) = responses
    echoed = response.headers["x-request-id"]
    assert _is_uuid(echoed), echoed
    assert len(lines) == 1, lines
    assert echoed in lines[0]
    assert not _RAW_CONTROL.search(lines[0])


def test_a_well_formed_request_id_is_kept(console_api: Api) -> None:
    response = console_api.client.get(
        "/api/v1/sessions", headers={**console_api.auth(), "X-Request-ID": "client-abc.123_X"}
    )
    assert response.headers["x-request-id"] == "client-abc.123_X"


HOSTILE_TEXT = 'x\r\n{"level": "ERROR", "message": "forged"}\n\x1b[31m\u2028\u2029\x85 end'


def _hostile_requests(api: Api) -> dict[str, Callable[[], Any]]:
    auth = api.auth()
    return {
        "user agent": lambda: api.client.get(
            "/api/v1/sessions", headers={**auth, "User-Agent": b"agent\x1b[2J\xe2\x80\xa8\rforged"}
        ),
        "path": lambda: api.client.get("/api/v1/sessions/%0D%0Aforged%1B%5B31m%E2%80%A8", headers=auth),
        "query": lambda: api.client.get("/api/v1/sessions?status=%0Aforged%1B", headers=auth),
        "invalid body": lambda: api.client.post(
            "/api/v1/sessions", json={"title": HOSTILE_TEXT * 20, HOSTILE_TEXT: 1}, headers=auth
        ),
        "malformed json": lambda: api.client.post(
            "/api/v1/sessions",
            content=b'{"title": "\r\n\x1b[31m',
            headers={**auth, "Content-Type": "application/json"},
        ),
        "unknown route": lambda: api.client.get(f"/{quote(HOSTILE_TEXT)}", headers=auth),
        "bad token": lambda: api.client.get("/api/v1/sessions", headers={"Authorization": "Bearer a\x1b[31mb"}),
    }


@pytest.mark.parametrize(
    "name", ["user agent", "path", "query", "invalid body", "malformed json", "unknown route", "bad token"]
)
def test_a_hostile_request_produces_exactly_one_log_line(
    console_api: Api, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    lines = _lines(capsys, _hostile_requests(console_api)[name])

    assert len(lines) == 1, lines
    assert not _RAW_CONTROL.search(lines[0]), lines[0]
    if lines[0].startswith("{"):
        entry = json.loads(lines[0])
        assert entry["message"] == "request completed"


def test_hostile_stored_content_logs_as_many_lines_as_harmless_content(
    console_api: Api, capsys: pytest.CaptureFixture[str]
) -> None:
    def start(title: str) -> Callable[[], Any]:
        return lambda: console_api.client.post("/api/v1/sessions", json={"title": title}, headers=console_api.auth())

    harmless = _lines(capsys, start("reading about tracing"))
    hostile = _lines(capsys, start(HOSTILE_TEXT))

    assert len(hostile) == len(harmless) == 2, (harmless, hostile)  # "session started", "request completed"
    assert not any(_RAW_CONTROL.search(line) for line in hostile)
