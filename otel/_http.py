"""HTTP server semantic conventions: the instruments and the attribute values read from an ASGI request.

Kept apart from the middleware so the rules (method normalisation, ``server.address`` from the Host
header, ``url.query`` redaction) are small pure functions with tests of their own.
https://opentelemetry.io/docs/specs/semconv/http/http-spans/#http-server-span
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterable, Mapping
from functools import lru_cache
from types import MappingProxyType
from typing import Final
from urllib.parse import parse_qsl, urlencode, urlsplit

from opentelemetry import metrics
from opentelemetry.metrics import CallbackOptions, Histogram, Observation

SCOPE: Final = "otel.asgi"
SCHEMA_URL: Final = "https://opentelemetry.io/schemas/1.44.0"
# The stable convention's advisory buckets (seconds), as every HTTP server instrumentation uses them.
DURATION_BUCKETS: Final = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0)
KNOWN_METHODS: Final = frozenset(
    {"CONNECT", "DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT", "QUERY", "TRACE"}
)
# Query parameters whose values the convention requires to be redacted (signed URLs).
SENSITIVE_QUERY_PARAMETERS: Final = frozenset(
    {"AWSAccessKeyId", "Signature", "sig", "X-Amz-Signature", "X-Amz-Credential", "X-Amz-Security-Token",
     "X-Goog-Signature"}
)  # fmt: skip
_DEFAULT_PORTS: Final = {"http": 80, "https": 443}
_NOTHING: Final[Mapping[str, object]] = MappingProxyType({})


def known_methods(configured: str) -> frozenset[str]:
    """``OTEL_INSTRUMENTATION_HTTP_KNOWN_METHODS``: a comma-separated override of the standard methods."""
    methods = frozenset(method.strip() for method in configured.split(",") if method.strip())
    return methods or KNOWN_METHODS


def server_address(
    host_header: str | None, scope_server: tuple[str, int | None] | None, scheme: str
) -> Mapping[str, object]:
    """``server.address`` and ``server.port``: the Host header if it is a plain authority, else the socket."""
    if host_header is not None:
        return _authority(host_header, scheme)
    if scope_server and scope_server[0]:
        address, port = scope_server
        return {"server.address": address, "server.port": port} if port is not None else {"server.address": address}
    return _NOTHING


# Parsing the Host header costs more than the rest of the server span's attributes together, and a
# service sees the same few hosts on every request. Read-only mappings: callers merge them into their own.
@lru_cache(maxsize=64)
def _authority(host_header: str, scheme: str) -> Mapping[str, object]:
    try:
        url = urlsplit("//" + host_header)
        address, port = url.hostname, url.port
    except ValueError:
        return _NOTHING  # a malformed Host header must not fail the request
    if not address or url.username is not None or url.path or url.query or url.fragment:
        return _NOTHING
    if port is None:
        port = _DEFAULT_PORTS.get(scheme)
    found: dict[str, object] = {"server.address": address}
    if port is not None:
        found["server.port"] = port
    return MappingProxyType(found)


def redacted_query(query_string: bytes) -> str:
    """``url.query`` with the values of signing parameters replaced, as the convention asks."""
    pairs = parse_qsl(query_string.decode("latin-1"), keep_blank_values=True)
    if not any(key in SENSITIVE_QUERY_PARAMETERS for key, _ in pairs):
        return query_string.decode("latin-1")
    return urlencode([(key, "REDACTED" if key in SENSITIVE_QUERY_PARAMETERS else value) for key, value in pairs])


_by_provider: weakref.WeakKeyDictionary[metrics.MeterProvider, HttpServerInstruments] = weakref.WeakKeyDictionary()
_by_provider_lock = threading.Lock()


def instruments_for(provider: metrics.MeterProvider) -> HttpServerInstruments | None:
    """One set per configured meter provider, shared by every app of the process; None before one is set.

    The SDK hands back the instrument registered first when the same name is created again, and drops
    the callbacks of the later one: a second app with instruments of its own would not be observed.
    Nothing is created on the API's stand-in provider either: it would hand its instruments, callback
    included, to the real provider once that is set, and the real set's callback would be dropped.
    """
    if _unconfigured(provider):
        return None
    with _by_provider_lock:
        instruments = _by_provider.get(provider)
        if instruments is None:
            instruments = _by_provider[provider] = HttpServerInstruments(provider)
        return instruments


def _unconfigured(provider: metrics.MeterProvider) -> bool:
    """The API's stand-in before any provider is set, or the no-op one (``OTEL_SDK_DISABLED``): both record
    nothing, so the measurements are skipped altogether. The API has no public test for the stand-in."""
    return isinstance(provider, metrics.NoOpMeterProvider) or type(provider).__name__ == "_ProxyMeterProvider"


class HttpServerInstruments:
    """``http.server.request.duration`` and ``http.server.active_requests`` from one meter provider.

    The number of active requests is observed when metrics are collected rather than added to and taken
    from on every request: the same cumulative, non-monotonic sum reaches the exporters, for a dictionary
    update instead of two SDK measurements per request (about 20 us each on our machines). It keeps no
    reference to the provider, so a provider that is shut down and dropped leaves ``_by_provider``.
    """

    def __init__(self, provider: metrics.MeterProvider) -> None:
        meter = provider.get_meter(SCOPE, schema_url=SCHEMA_URL)
        self.duration: Histogram = meter.create_histogram(
            "http.server.request.duration",
            unit="s",
            description="Duration of HTTP server requests.",
            explicit_bucket_boundaries_advisory=DURATION_BUCKETS,
        )
        self._active: dict[tuple[str, str], int] = {}
        self._lock = threading.Lock()
        meter.create_observable_up_down_counter(
            "http.server.active_requests",
            callbacks=[self._observe_active],
            unit="{request}",
            description="Number of active HTTP server requests.",
        )

    def request_started(self, method: str, scheme: str) -> None:
        with self._lock:
            self._active[method, scheme] = self._active.get((method, scheme), 0) + 1

    def request_finished(self, method: str, scheme: str) -> None:
        with self._lock:
            self._active[method, scheme] -= 1

    def _observe_active(self, _options: CallbackOptions) -> Iterable[Observation]:
        with self._lock:
            counts = list(self._active.items())
        return [
            Observation(count, {"http.request.method": method, "url.scheme": scheme})
            for (method, scheme), count in counts
        ]
