"""HTTP server conventions as pure functions, and the active-requests gauge observed at collection."""

from __future__ import annotations

import gc
import weakref

import pytest
from opentelemetry.metrics import NoOpMeterProvider
from opentelemetry.metrics._internal import _ProxyMeterProvider
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader, Sum

from otel._http import (
    KNOWN_METHODS,
    HttpServerInstruments,
    instruments_for,
    known_methods,
    redacted_query,
    server_address,
)


@pytest.mark.parametrize(
    ("host", "server", "scheme", "expected"),
    [
        ("api.example.org", None, "https", {"server.address": "api.example.org", "server.port": 443}),
        ("api.example.org", None, "http", {"server.address": "api.example.org", "server.port": 80}),
        ("127.0.0.1:8000", ("10.0.0.1", 9000), "http", {"server.address": "127.0.0.1", "server.port": 8000}),
        ("[::1]:8443", None, "https", {"server.address": "::1", "server.port": 8443}),
        (None, ("10.0.0.1", 9000), "http", {"server.address": "10.0.0.1", "server.port": 9000}),
        (None, ("/run/app.sock", None), "http", {"server.address": "/run/app.sock"}),
        (None, None, "http", {}),
        ("user:secret@evil.example", None, "http", {}),  # not a plain authority: never echoed
        ("host:99999", None, "http", {}),  # a port out of range
        ("host/path", None, "http", {}),
        ("", None, "http", {}),
    ],
)
def test_server_address_comes_from_a_plain_host_header_else_the_socket(
    host: str | None, server: tuple[str, int | None] | None, scheme: str, expected: dict[str, object]
) -> None:
    assert dict(server_address(host, server, scheme)) == expected


def test_the_parsed_host_is_read_only_so_callers_cannot_change_the_cached_answer() -> None:
    found = server_address("cached.example:81", None, "http")
    with pytest.raises(TypeError):
        found["server.port"] = 1  # type: ignore[index]


def test_query_signatures_are_redacted_and_other_queries_kept_as_sent() -> None:
    assert redacted_query(b"limit=5&offset=10") == "limit=5&offset=10"
    assert redacted_query(b"a=1&sig=abc&X-Amz-Signature=def") == "a=1&sig=REDACTED&X-Amz-Signature=REDACTED"


def test_known_methods_default_to_the_standard_ones_and_can_be_narrowed() -> None:
    assert known_methods("") == KNOWN_METHODS
    assert known_methods(" GET, POST ,") == frozenset({"GET", "POST"})


def test_active_requests_are_observed_per_method_and_scheme() -> None:
    reader = InMemoryMetricReader()
    instruments = HttpServerInstruments(MeterProvider(metric_readers=[reader]))

    instruments.request_started("GET", "http")
    instruments.request_started("GET", "http")
    instruments.request_started("POST", "https")
    instruments.request_finished("GET", "http")

    data = reader.get_metrics_data()
    assert data is not None
    (metric,) = [m for rm in data.resource_metrics for sm in rm.scope_metrics for m in sm.metrics]
    assert metric.name == "http.server.active_requests"
    assert metric.unit == "{request}"
    assert isinstance(metric.data, Sum)
    assert not metric.data.is_monotonic
    points = {
        (p.attributes["http.request.method"], p.attributes["url.scheme"]): p.value  # type: ignore[index]
        for p in metric.data.data_points
    }
    assert points == {("GET", "http"): 1, ("POST", "https"): 1}


def test_apps_sharing_a_meter_provider_share_one_set_of_instruments() -> None:
    """Else the second app's active requests would never be observed (the SDK keeps the first callback)."""
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    first, second = instruments_for(provider), instruments_for(provider)

    first.request_started("GET", "http")
    second.request_started("GET", "http")

    assert first is second
    data = reader.get_metrics_data()
    assert data is not None
    values = [p.value for rm in data.resource_metrics for sm in rm.scope_metrics for m in sm.metrics
              for p in m.data.data_points if m.name == "http.server.active_requests"]  # fmt: skip
    assert values == [2]


def test_no_instruments_on_the_apis_stand_in_or_no_op_provider() -> None:
    """The stand-in would hand its instruments to the real provider later, callback and all."""
    stand_in = _ProxyMeterProvider()

    assert instruments_for(stand_in) is None
    assert instruments_for(NoOpMeterProvider()) is None
    assert stand_in._meters == []  # nothing was created on it
    assert instruments_for(MeterProvider(shutdown_on_exit=False)) is not None


def test_a_dropped_provider_leaves_the_shared_instruments() -> None:
    provider = MeterProvider(shutdown_on_exit=False)
    assert instruments_for(provider) is not None
    gone = weakref.ref(provider)

    del provider
    gc.collect()

    assert gone() is None
