"""The real slack_sdk client against a local Slack-compatible server: payloads and failure mapping."""

from __future__ import annotations

import json
import logging
import re
import socket
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from fake_slack import FakeSlack, SlackMode, running_fake_slack

from otel.alerts import Alert, DeliveryError, Severity, fingerprint
from otel.alerts._scrub import scrub
from otel.alerts._slack import COLOURS, SlackChannel

CANARY = "canary-5d0c9e7a41b2"
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
SPAN_ID = "00f067aa0ba902b7"
TRACE_URL = f"http://grafana.local/explore?traceId={TRACE_ID}&orgId=1"


def _alert(**changes: Any) -> Alert:
    alert = Alert(
        severity=Severity.ERROR,
        title="GET /api/v1/sessions failed",
        message="ValueError: the session is closed",
        service="mindhit-api",
        environment="staging",
        source="span",
        fingerprint=fingerprint("mindhit-api", "GET /api/v1/sessions", "ValueError"),
        route="GET /api/v1/sessions",
        exception_type="ValueError",
        trace_id=TRACE_ID,
        span_id=SPAN_ID,
        trace_url=TRACE_URL,
    )
    return alert.with_(**changes)


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with running_fake_slack() as fake:
        yield fake


@pytest.fixture
def channel(slack: FakeSlack) -> SlackChannel:
    return SlackChannel(token=slack.token, channel="#alerts", api_url=slack.api_url, timeout_s=2.0)


def _texts(value: Any) -> Iterator[str]:
    """Every string in a payload, however deeply nested."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _texts(item)
    elif isinstance(value, list):
        for item in value:
            yield from _texts(item)


def test_a_message_is_posted_with_the_token_to_the_channel(slack: FakeSlack, channel: SlackChannel) -> None:
    channel.send(_alert())

    [request] = slack.requests
    assert request.method == "chat.postMessage"
    assert request.headers["authorization"] == f"Bearer {slack.token}"
    assert request.body["channel"] == "#alerts"
    assert "[ERROR] GET /api/v1/sessions failed" in request.body["text"]
    assert "mindhit-api, staging" in request.body["text"]
    assert request.body["unfurl_links"] is False
    assert channel.name == "slack"


@pytest.mark.parametrize(
    ("severity", "colour"),
    [
        (Severity.CRITICAL, "#D40E0D"),
        (Severity.ERROR, "#E8912D"),
        (Severity.WARNING, "#ECB22E"),
        (Severity.INFO, "#439FE0"),
    ],
)
def test_the_colour_bar_shows_the_severity(
    slack: FakeSlack, channel: SlackChannel, severity: Severity, colour: str
) -> None:
    channel.send(_alert(severity=severity))

    attachment = slack.requests[0].attachment
    assert attachment["color"] == colour == COLOURS[severity]
    assert attachment["blocks"][0] == {
        "type": "header",
        "text": {"type": "plain_text", "text": f"[{severity.value.upper()}] GET /api/v1/sessions failed"},
    }


def test_the_facts_and_the_trace_link_are_in_the_blocks(slack: FakeSlack, channel: SlackChannel) -> None:
    channel.send(_alert(count=3, alert_id="42"))

    blocks = slack.requests[0].attachment["blocks"]
    assert blocks[1]["text"]["text"] == "ValueError: the session is closed"
    fields = [field["text"] for field in blocks[2]["fields"]]
    assert fields == [
        "*Service*\nmindhit-api",
        "*Environment*\nstaging",
        "*Route*\n`GET /api/v1/sessions`",
        "*Exception*\n`ValueError`",
        "*Seen*\n3 times",
        "*Source*\nspan",
    ]
    context = blocks[3]["elements"][0]["text"]
    assert f"<{TRACE_URL.replace('&', '&amp;')}|Open trace>" in context
    assert f"trace `{TRACE_ID}`" in context
    assert f"span `{SPAN_ID}`" in context
    assert "alert `42`" in context


def test_without_a_trace_url_the_trace_id_is_shown_as_text(slack: FakeSlack, channel: SlackChannel) -> None:
    channel.send(_alert(trace_url=None, count=1, route=None, exception_type=None))

    blocks = slack.requests[0].attachment["blocks"]
    fields = [field["text"] for field in blocks[2]["fields"]]
    assert not any(field.startswith(("*Seen*", "*Route*", "*Exception*")) for field in fields)
    context = blocks[3]["elements"][0]["text"]
    assert context == f"trace `{TRACE_ID}` · span `{SPAN_ID}`"
    assert "<" not in json.dumps(slack.requests[0].body)


def test_a_trace_url_that_is_not_a_web_address_is_not_linked(slack: FakeSlack, channel: SlackChannel) -> None:
    channel.send(_alert(trace_url="javascript:alert(1)"))

    assert "javascript" not in json.dumps(slack.requests[0].body)


def test_user_text_cannot_mention_link_or_break_out(slack: FakeSlack, channel: SlackChannel) -> None:
    hostile = "<!channel> <@U024BE7LH> <https://evil.example|your bank> & <!here>"
    channel.send(_alert(title=hostile, message=hostile, route=hostile, exception_type=hostile, service=hostile))

    body = slack.requests[0].body
    for text in _texts(body):
        without_our_link = re.sub(r"<http://grafana\.local/[^|>]*\|Open trace>", "", text)
        assert "<" not in without_our_link, text
        assert ">" not in without_our_link, text
    assert (
        "&lt;!channel&gt; &lt;@U024BE7LH&gt; &lt;https://evil.example|your bank&gt; &amp; &lt;!here&gt;"
        in (body["attachments"][0]["blocks"][1]["text"]["text"])
    )


def test_long_text_stays_within_block_kit_limits(slack: FakeSlack, channel: SlackChannel) -> None:
    channel.send(_alert(title="&" * 400, message="<" * 10_000))

    blocks = slack.requests[0].attachment["blocks"]
    header, message = blocks[0]["text"]["text"], blocks[1]["text"]["text"]
    assert len(header) <= 150
    assert len(message) <= 3_000
    assert header.endswith("&amp;…")  # cut between entities, never inside one
    assert message.endswith("&lt;…")


def test_no_secret_reaches_slack(slack: FakeSlack, channel: SlackChannel) -> None:
    leaked = f"GET /x?token={CANARY} Authorization: Bearer {CANARY} Cookie: sid={CANARY}"
    # As the alert sources build it (scrubbed) and, for defence in depth, as a careless one might (raw).
    channel.send(_alert(message=scrub(leaked), title=scrub(f'{{"password": "{CANARY}"}}')))
    channel.send(_alert(message=leaked, title=f"password={CANARY}", trace_url=f"http://t.local/?token={CANARY}"))

    for request in slack.requests:
        assert CANARY not in request.raw.decode()
        assert CANARY not in json.dumps(request.headers)
    assert "[REDACTED]" in slack.requests[1].attachment["blocks"][1]["text"]["text"]


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        (SlackMode.SERVER_ERROR, (True, None)),
        (SlackMode.RATE_LIMITED, (True, 7.0)),
        (SlackMode.INVALID_AUTH, (False, None)),
        (SlackMode.CHANNEL_NOT_FOUND, (False, None)),
    ],
)
def test_failures_map_to_delivery_errors(
    slack: FakeSlack,
    channel: SlackChannel,
    caplog: pytest.LogCaptureFixture,
    mode: SlackMode,
    expected: tuple[bool, float | None],
) -> None:
    slack.set_mode(mode, retry_after=7)

    with caplog.at_level(logging.DEBUG), pytest.raises(DeliveryError) as raised:
        channel.send(_alert())

    assert (raised.value.retryable, raised.value.retry_after) == expected
    assert len(slack.requests) == 1  # no retry inside send: the dispatcher owns retries
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]  # an ERROR would raise an alert


def test_a_wrong_token_is_not_retried(slack: FakeSlack) -> None:
    channel = SlackChannel(token="xoxb-wrong", channel="#alerts", api_url=slack.api_url, timeout_s=2.0)

    with pytest.raises(DeliveryError) as raised:
        channel.send(_alert())

    assert raised.value.retryable is False
    assert "invalid_auth" in str(raised.value)


def test_a_hanging_server_fails_within_the_timeout(slack: FakeSlack, caplog: pytest.LogCaptureFixture) -> None:
    channel = SlackChannel(token=slack.token, channel="#alerts", api_url=slack.api_url, timeout_s=0.3)
    slack.set_mode(SlackMode.HANG)

    started = time.monotonic()
    with caplog.at_level(logging.DEBUG), pytest.raises(DeliveryError) as raised:
        channel.send(_alert())
    elapsed = time.monotonic() - started
    slack.release()

    assert raised.value.retryable is True
    assert 0.25 <= elapsed < 2.0
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_an_unreachable_server_is_retryable() -> None:
    with socket.socket() as probe:  # a port that was free a moment ago: nothing listens there
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    channel = SlackChannel(token="xoxb-x", channel="#alerts", api_url=f"http://127.0.0.1:{port}/api/", timeout_s=1.0)

    with pytest.raises(DeliveryError) as raised:
        channel.send(_alert())

    assert raised.value.retryable is True
    channel.close()


def test_the_fake_also_understands_form_bodies(slack: FakeSlack) -> None:
    form = f"token={slack.token}&channel=%23alerts&text=hi&attachments=%5B%7B%22color%22%3A%22%23fff%22%7D%5D"
    # urllib's default Content-Type is application/x-www-form-urlencoded; the URL is the fake's loopback one.
    request = urllib.request.Request(slack.api_url + "chat.postMessage", data=form.encode(), method="POST")  # noqa: S310

    with urllib.request.urlopen(request, timeout=2) as response:  # noqa: S310
        answer = json.load(response)

    assert answer["ok"] is True
    [recorded] = slack.requests
    assert recorded.token == slack.token
    assert recorded.body["channel"] == "#alerts"
    assert recorded.attachment == {"color": "#fff"}
