"""The server side of every HTTP request: server span, HTTP metrics, request id, and the request log.

One pure-ASGI middleware does all of it, written directly on the OpenTelemetry API. It replaces
FastAPI's native telemetry (switched off by ``otel.fastapi_telemetry``) because that costs about
200 us per request on our machines: a provider lookup and a walk of the middleware stack per request,
attributes set twice, per-request telemetry state read back by the routing. The span name
(``{method} {http.route}``, converters dropped from the template), the attributes and the two
stable-convention HTTP instruments follow the same conventions. What differs: the instrumentation
scope (``otel.asgi``); ``error.type`` is the exception's type only when one reaches this middleware,
and the status code when the app's own handlers answered 5xx; a response that never completed
(client gone, app returned early) is ``incomplete_response``.

FastAPI's operation spans (dependencies, endpoint, serialization) exist only inside its own server
span, so with ``OTEL_PYTHON_FASTAPI_OPERATION_SPANS=true`` FastAPI makes the server span and the
metrics, and this middleware only adds what FastAPI leaves out (see ``_in_current_span``).
"""

from __future__ import annotations

import functools
import logging
import re
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, Final

from opentelemetry import context, propagate, trace
from opentelemetry.metrics import MeterProvider, get_meter_provider
from opentelemetry.propagators.textmap import Getter, TextMapPropagator
from opentelemetry.trace import SpanKind, StatusCode
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from otel._context import REQUEST_ID, RequestContext, _current, accept_request_id
from otel._http import (
    SCHEMA_URL,
    SCOPE,
    HttpServerInstruments,
    instruments_for,
    known_methods,
    redacted_query,
    server_address,
)

access_logger = logging.getLogger("otel.access")
logger = logging.getLogger(__name__)

_REQUEST_ID_HEADER: Final = b"x-request-id"
_USER_AGENT_HEADER: Final = b"user-agent"
_HOST_HEADER: Final = b"host"
# What the default propagators (W3C trace context and baggage) read. With any other propagator
# configured (OTEL_PROPAGATORS=b3, jaeger, xray...) every header is handed over: some read prefixed names.
_W3C_HEADERS: Final = frozenset({b"traceparent", b"tracestate", b"baggage"})
_INCOMPLETE: Final = "incomplete_response"


class _Request:
    """What the header scan found, once per request."""

    __slots__ = ("carrier", "client_request_id", "host", "user_agent")

    def __init__(self, scope: Scope, propagation_headers: frozenset[bytes] | None) -> None:
        """``propagation_headers``: the names the propagators read, or None for every header."""
        self.client_request_id: str | None = None
        self.user_agent: str | None = None
        self.host: str | None = None
        self.carrier: dict[str, str] | None = None
        for name, value in scope["headers"]:
            if name == _REQUEST_ID_HEADER:
                self.client_request_id = value.decode("latin-1")
            elif name == _USER_AGENT_HEADER:
                self.user_agent = value.decode("latin-1")
            elif name == _HOST_HEADER:
                self.host = value.decode("latin-1")
            if propagation_headers is None or name in propagation_headers:
                carrier: dict[str, str] = self.carrier if self.carrier is not None else {}
                key, text = name.decode("latin-1"), value.decode("latin-1")
                carrier[key] = f"{carrier[key]},{text}" if key in carrier else text
                self.carrier = carrier


class _ServerExchange:
    """One request under the kit's server span: started when built, finished once.

    It finishes at the response's last message, as FastAPI's telemetry did, so background tasks that
    run after the response do not count in the duration; or when the app raises or returns without
    completing the response.
    """

    __slots__ = (
        "attributes",
        "downstream",
        "extra_headers",
        "finished",
        "instruments",
        "method",
        "otel_context",
        "request",
        "request_context",
        "scheme",
        "scope",
        "span",
        "span_name",
        "started",
        "status_code",
        "trailers",
    )

    def __init__(
        self,
        scope: Scope,
        send: Send,
        request: _Request,
        request_context: RequestContext,
        *,
        tracer: trace.Tracer | None,
        instruments: HttpServerInstruments | None,
        methods: frozenset[str],
    ) -> None:
        self.scope, self.downstream, self.request = scope, send, request
        self.request_context, self.instruments = request_context, instruments
        original_method: str = scope["method"]
        method = original_method if original_method in methods else "_OTHER"
        self.span_name = method if method != "_OTHER" else "HTTP"
        scheme: str = scope.get("scheme", "http")
        self.attributes: dict[str, Any] = {"http.request.method": method, "url.scheme": scheme}
        if version := scope.get("http_version"):
            self.attributes["network.protocol.version"] = version
        self.span: trace.Span = trace.INVALID_SPAN
        self.otel_context: context.Context | None = None  # made current for the app by the middleware
        if tracer is not None:
            self._start_span(tracer, scheme, original_method if method != original_method else None)
        request_context.span = self.span
        self.extra_headers = _response_headers(request_context, self.span)
        self.status_code: int | None = None
        self.trailers = False
        self.finished = False
        self.method, self.scheme = method, scheme
        self.started = time.perf_counter()
        if instruments is not None:  # last: nothing above may fail once the request is counted
            instruments.request_started(method, scheme)

    def _start_span(self, tracer: trace.Tracer, scheme: str, original_method: str | None) -> None:
        scope, request = self.scope, self.request
        parent = propagate.extract(request.carrier, getter=_HEADERS) if request.carrier else None
        attributes = {
            **self.attributes,
            **server_address(request.host, scope.get("server"), scheme),
            "url.path": scope["path"],
            REQUEST_ID: self.request_context.request_id,
        }
        if query := scope.get("query_string"):
            attributes["url.query"] = redacted_query(query)
        if original_method is not None:
            attributes["http.request.method_original"] = original_method
        if client := scope.get("client"):
            attributes["client.address"] = client[0]
        if request.user_agent is not None:
            attributes["user_agent.original"] = request.user_agent
        self.span = tracer.start_span(self.span_name, context=parent, kind=SpanKind.SERVER, attributes=attributes)
        self.otel_context = trace.set_span_in_context(self.span, parent)

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status_code = message["status"]
            self.trailers = bool(message.get("trailers", False))
            message = _with_extra_headers(message, self.extra_headers)
        await self.downstream(message)
        if not self.finished and _is_last(message, trailers=self.trailers):
            self.finish(None)

    def fail(self, exc: Exception) -> None:
        if not self.finished:
            self.span.record_exception(exc)
            self.finish(_exception_type(exc))

    def close(self) -> None:
        if not self.finished:
            self.finish(_INCOMPLETE)

    def finish(self, error_type: str | None) -> None:
        self.finished = True
        elapsed = time.perf_counter() - self.started
        route = route_template(self.scope)
        status_code, span = self.status_code, self.span
        ending: dict[str, Any] = {}
        if route:
            ending["http.route"] = route
        if status_code is not None:
            ending["http.response.status_code"] = status_code
        failed = error_type is not None or status_code is None or status_code >= 500
        if failed:
            ending["error.type"] = error_type or (str(status_code) if status_code else _INCOMPLETE)
        if span.is_recording():
            span.set_attributes(ending)
            if route:
                span.update_name(f"{self.span_name} {route}")
            if failed:
                _mark_failed(span)
        # While the span is current: the duration's exemplar and the request log point at it.
        if (instruments := self.instruments) is not None:
            instruments.duration.record(elapsed, {**self.attributes, **ending})
            instruments.request_finished(self.method, self.scheme)
        _log_request(self.scope, status_code or 500, elapsed, self.request.user_agent, route)
        span.end()


class RequestTelemetryMiddleware:
    """Outermost of the app's own middleware, so it sees the final status of every response."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        excluded_paths: Iterable[str] = (),
        server_span: bool = True,
        http_known_methods: str = "",
    ) -> None:
        self.app = app
        self.excluded_paths = frozenset(excluded_paths)
        self.server_span = server_span
        self.known_methods = known_methods(http_known_methods)
        # Resolved against the global providers on each request (configured in the lifespan, after
        # the middleware stack is built), rebuilt only when a provider changes.
        self._tracer_provider: trace.TracerProvider | None = None
        self._tracer: trace.Tracer | None = None
        self._meter_provider: MeterProvider | None = None
        self._instruments: HttpServerInstruments | None = None
        self._textmap: TextMapPropagator | None = None
        self._propagation_headers: frozenset[bytes] | None = _W3C_HEADERS
        self._start_failed = False

    def _current_tracer(self) -> trace.Tracer | None:
        provider = trace.get_tracer_provider()
        if provider is not self._tracer_provider:
            self._tracer_provider = provider
            unconfigured = isinstance(provider, trace.ProxyTracerProvider | trace.NoOpTracerProvider)
            self._tracer = None if unconfigured else provider.get_tracer(SCOPE, schema_url=SCHEMA_URL)
        return self._tracer

    def _current_instruments(self) -> HttpServerInstruments | None:
        provider = get_meter_provider()
        if provider is not self._meter_provider:
            self._meter_provider = provider
            self._instruments = instruments_for(provider)
        return self._instruments

    def _current_propagation_headers(self) -> frozenset[bytes] | None:
        """The W3C headers when only W3C propagators are configured, else None: every header."""
        textmap = propagate.get_global_textmap()
        if textmap is not self._textmap:
            self._textmap = textmap
            fields = frozenset(field.lower().encode("latin-1") for field in textmap.fields)
            self._propagation_headers = fields if fields <= _W3C_HEADERS else None
        return self._propagation_headers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = _Request(scope, self._current_propagation_headers())
        context_ = RequestContext(accept_request_id(request.client_request_id))
        if scope["path"] in self.excluded_paths:
            await self._untraced(scope, receive, send, context_)
            return
        if self.server_span:
            tracer, instruments = self._current_tracer(), self._current_instruments()
            if tracer is not None or instruments is not None:
                try:
                    exchange = _ServerExchange(
                        scope,
                        send,
                        request,
                        context_,
                        tracer=tracer,
                        instruments=instruments,
                        methods=self.known_methods,
                    )
                except Exception:  # a broken sampler or propagator must not fail the request
                    self._report_start_failure()
                else:
                    await self._traced(scope, receive, send, exchange)
                    return
        await self._in_current_span(scope, receive, send, request, context_)

    def _report_start_failure(self) -> None:
        """Once with the stack; a failure that repeats on every request must not flood the log."""
        level = logging.DEBUG if self._start_failed else logging.ERROR
        self._start_failed = True
        logger.log(level, "could not start the request's telemetry; serving it without", exc_info=True)

    async def _untraced(self, scope: Scope, receive: Receive, send: Send, request: RequestContext) -> None:
        """Health checks and scrapes: a request id, and nothing recorded."""
        token = _current.set(request)
        try:
            await self.app(scope, receive, _with_headers(send, request, trace.INVALID_SPAN, None))
        finally:
            _current.reset(token)

    async def _traced(self, scope: Scope, receive: Receive, send: Send, exchange: _ServerExchange) -> None:
        request_token = _current.set(exchange.request_context)
        span_token = context.attach(exchange.otel_context) if exchange.otel_context is not None else None
        try:
            await self.app(scope, receive, exchange.send)
        except Exception as exc:
            exchange.fail(exc)
            raise
        finally:
            exchange.close()  # while the span is still current: the duration's exemplar and the log need it
            if span_token is not None:
                context.detach(span_token)
            _current.reset(request_token)

    async def _in_current_span(
        self, scope: Scope, receive: Receive, send: Send, request: _Request, request_context: RequestContext
    ) -> None:
        """Inside FastAPI's server span (operation spans on), or with no telemetry at all (SDK disabled).

        FastAPI's span lacks the request id, client address and user agent; the request log is written
        either way.
        """
        span = trace.get_current_span()
        request_context.span = span
        if span.is_recording():
            client = scope.get("client")
            span.set_attributes(
                {
                    REQUEST_ID: request_context.request_id,
                    "client.address": client[0] if client else "",
                    "user_agent.original": request.user_agent or "",
                }
            )
        status_code = 500

        def remember_status(message: Message) -> None:
            nonlocal status_code
            status_code = message["status"]

        context_token = _current.set(request_context)
        started = time.perf_counter()
        try:
            await self.app(scope, receive, _with_headers(send, request_context, span, remember_status))
        except Exception as exc:
            span.record_exception(exc)  # FastAPI marks the span failed but leaves the stack to us
            raise
        finally:
            _log_request(scope, status_code, time.perf_counter() - started, request.user_agent, route_template(scope))
            _current.reset(context_token)


class _HeaderGetter(Getter[dict[str, str]]):
    """Reads the lower-cased ASGI header names whatever case a propagator asks in (X-Amzn-Trace-Id...)."""

    def get(self, carrier: dict[str, str], key: str) -> list[str] | None:
        value = carrier.get(key.lower())
        return None if value is None else [value]

    def keys(self, carrier: dict[str, str]) -> list[str]:
        return list(carrier)


_HEADERS: Final = _HeaderGetter()


def _response_headers(request: RequestContext, span: trace.Span) -> list[tuple[bytes, bytes]]:
    """``X-Request-ID``, and ``X-Trace-Id`` when there is a trace to look up."""
    extra = [(_REQUEST_ID_HEADER, request.request_id.encode("latin-1"))]
    span_context = span.get_span_context()
    if span_context.is_valid:
        extra.append((b"x-trace-id", format(span_context.trace_id, "032x").encode("latin-1")))
    return extra


def _with_headers(
    send: Send, request: RequestContext, span: trace.Span, on_start: Callable[[Message], None] | None
) -> Callable[[Message], Awaitable[None]]:
    """``send`` with the kit's response headers added."""
    extra = _response_headers(request, span)

    async def send_with_headers(message: Message) -> None:
        if message["type"] == "http.response.start":
            if on_start is not None:
                on_start(message)
            message = _with_extra_headers(message, extra)
        await send(message)

    return send_with_headers


def _with_extra_headers(start: Message, extra: list[tuple[bytes, bytes]]) -> Message:
    """The ``http.response.start`` message with the kit's headers after the app's own."""
    return {**start, "headers": [*start.get("headers", ()), *extra]}


def _is_last(message: Message, *, trailers: bool) -> bool:
    """The response's last message: the duration and the span end here, not after background tasks."""
    kind = message["type"]
    if kind == "http.response.body":
        return not trailers and not message.get("more_body", False)
    return kind == "http.response.pathsend" or (kind == "http.response.trailers" and not message.get("more_trailers"))


def _mark_failed(span: trace.Span) -> None:
    """ERROR, keeping a description the app may already have given (the 500 net names the exception)."""
    status = getattr(span, "status", None)
    if status is None or status.status_code is StatusCode.UNSET:
        span.set_status(StatusCode.ERROR)


def _exception_type(exc: BaseException) -> str:
    cls = type(exc)
    return cls.__qualname__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"


def route_template(scope: Scope) -> str | None:
    """The matched route's full template, router prefixes included.

    With FastAPI's telemetry on (operation spans), its request state has it. Otherwise FastAPI's routing
    (0.165) keeps the effective route, prefixes included, in its own part of the scope, which a unit
    test pins for upgrades; ``scope["route"]`` is only the route as declared, without the prefixes of
    the routers it was included through, so it is the last resort (plain Starlette apps).
    """
    native = getattr(scope.get("fastapi.telemetry"), "route", None)
    if native:
        return str(native)
    routing = scope.get("fastapi")
    effective = routing.get("effective_route_context") if isinstance(routing, dict) else None
    path = getattr(effective, "path", None)
    if not isinstance(path, str) or not path:
        path = getattr(scope.get("route"), "path", None)
    return _without_converters(path) if path and ":" in path else path


_CONVERTER: Final = re.compile(r"\{([^{}:]+):[^{}]*\}")


@functools.lru_cache(maxsize=256)
def _without_converters(path: str) -> str:
    """``/items/{item_id:int}`` as ``/items/{item_id}``: the template as OpenAPI and FastAPI's telemetry
    spell it, so a route's series do not change name with its converter."""
    return _CONVERTER.sub(r"{\1}", path)


def _log_request(scope: Scope, status_code: int, elapsed: float, user_agent: str | None, route: str | None) -> None:
    level = logging.ERROR if status_code >= 500 else logging.WARNING if status_code >= 400 else logging.INFO
    if not access_logger.isEnabledFor(level):
        return
    client = scope.get("client")
    access_logger.log(
        level,
        "request completed",
        extra={
            "http.request.method": scope["method"],
            "http.route": route,
            "url.path": scope["path"],
            "http.response.status_code": status_code,
            "latency_ms": round(elapsed * 1000, 3),
            "client.address": client[0] if client else None,
            "user_agent.original": user_agent,
        },
    )
