"""The two pure-ASGI middlewares, driven with a tiny ASGI app and hand-made messages."""

import asyncio
import json
import logging
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.errors import PayloadTooLarge
from service.middleware import BodySizeLimitMiddleware, UnhandledErrorMiddleware
from service.observability import AppMetrics

LIMIT = 100


async def echo_length(scope: Scope, receive: Receive, send: Send) -> None:
    """Reads the whole body, answers with its length."""
    size, more = 0, True
    while more:
        message = await receive()
        size += len(message.get("body", b""))
        more = message.get("more_body", False)
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": str(size).encode()})


async def ignore_body(scope: Scope, receive: Receive, send: Send) -> None:
    await send({"type": "http.response.start", "status": 204, "headers": []})
    await send({"type": "http.response.body", "body": b""})


class Exchange:
    def __init__(self, chunks: Sequence[bytes]) -> None:
        self.pending = [
            {"type": "http.request", "body": chunk, "more_body": index < len(chunks) - 1}
            for index, chunk in enumerate(chunks)
        ] or [{"type": "http.request", "body": b"", "more_body": False}]
        self.received = 0
        self.sent: list[Message] = []

    async def receive(self) -> Message:
        self.received += 1
        return self.pending.pop(0) if self.pending else {"type": "http.disconnect"}

    async def send(self, message: Message) -> None:
        self.sent.append(message)

    @property
    def status(self) -> int:
        return int(self.sent[0]["status"])

    @property
    def body(self) -> bytes:
        return b"".join(m.get("body", b"") for m in self.sent if m["type"] == "http.response.body")


def run(app: ASGIApp, chunks: Sequence[bytes] = (), headers: dict[str, str] | None = None) -> Exchange:
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/",
        "headers": [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()],
    }
    exchange = Exchange(chunks)

    async def exchange_messages() -> None:
        await app(scope, exchange.receive, exchange.send)

    asyncio.run(exchange_messages())
    return exchange


def limited(app: ASGIApp) -> BodySizeLimitMiddleware:
    return BodySizeLimitMiddleware(app, max_body_bytes=LIMIT)


def test_body_within_the_limit_passes() -> None:
    exchange = run(limited(echo_length), [b"a" * 60, b"b" * 40], {"content-length": "100"})
    assert (exchange.status, exchange.body) == (200, b"100")


def test_declared_length_over_the_limit_is_refused_before_reading() -> None:
    exchange = run(limited(echo_length), [b"a" * 10], {"content-length": str(LIMIT + 1)})
    assert exchange.status == 413
    assert exchange.received == 0
    assert json.loads(exchange.body)["error"]["code"] == "payload_too_large"


def test_streamed_body_without_length_is_counted() -> None:
    exchange = run(limited(echo_length), [b"a" * 60, b"b" * 60])
    assert exchange.status == 413
    error = json.loads(exchange.body)["error"]
    assert error == {
        "code": "payload_too_large",
        "message": f"The request body is larger than the limit of {LIMIT} bytes.",
        "details": [],
    }


def test_a_lying_content_length_does_not_help() -> None:
    exchange = run(limited(echo_length), [b"a" * 80, b"b" * 80], {"content-length": "10"})
    assert exchange.status == 413


def test_an_unread_body_is_not_checked() -> None:
    exchange = run(limited(ignore_body), [b"a" * 500], {"content-length": "500"})
    assert exchange.status == 204


def test_limit_error_after_the_response_started_propagates() -> None:
    async def answer_then_read(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await receive()

    with pytest.raises(PayloadTooLarge):
        run(limited(answer_then_read), [b"a" * 500])


def test_other_scopes_pass_through() -> None:
    seen: list[str] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(scope["type"])

    async def nothing() -> Message:
        return {}

    async def drop(message: Message) -> None:
        return None

    async def start() -> None:
        await limited(app)({"type": "lifespan"}, nothing, drop)

    asyncio.run(start())
    assert seen == ["lifespan"]


@pytest.fixture
def spans() -> Iterator[tuple[TracerProvider, InMemorySpanExporter]]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield provider, exporter
    provider.shutdown()


async def explode(scope: Scope, receive: Receive, send: Send) -> None:
    raise RuntimeError("secret internals /home/app/service.py")


def test_unhandled_exception_becomes_a_json_500(
    spans: tuple[TracerProvider, InMemorySpanExporter],
    caplog: pytest.LogCaptureFixture,
    app_metrics: AppMetrics,
    metric_points: Callable[[str], dict[tuple[tuple[str, Any], ...], float]],
) -> None:
    metrics = app_metrics
    provider, exporter = spans
    with (
        caplog.at_level(logging.ERROR, logger="service.middleware"),
        provider.get_tracer("test").start_as_current_span("server"),
    ):
        exchange = run(UnhandledErrorMiddleware(explode, metrics=metrics))

    assert exchange.status == 500
    body = json.loads(exchange.body)
    assert body["error"]["code"] == "internal_error"
    assert b"secret internals" not in exchange.body
    assert b"Traceback" not in exchange.body

    (span,) = exporter.get_finished_spans()
    assert span.status.status_code is StatusCode.ERROR
    assert span.status.description == "RuntimeError"
    assert [event.name for event in span.events] == ["exception"]

    records = [r for r in caplog.records if r.name == "service.middleware"]
    assert len(records) == 1
    assert records[0].exc_info is not None

    assert metric_points("mindhit.errors") == {(("error.severity", "critical"), ("error.type", "internal_error")): 1}


def test_exception_after_the_response_started_propagates(caplog: pytest.LogCaptureFixture) -> None:
    async def half(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        raise RuntimeError("mid-stream")

    with caplog.at_level(logging.ERROR, logger="service.middleware"), pytest.raises(RuntimeError, match="mid-stream"):
        run(UnhandledErrorMiddleware(half))
    assert len([r for r in caplog.records if r.name == "service.middleware"]) == 1


def test_successful_responses_are_untouched() -> None:
    exchange = run(UnhandledErrorMiddleware(echo_length), [b"abc"])
    assert (exchange.status, exchange.body) == (200, b"3")
