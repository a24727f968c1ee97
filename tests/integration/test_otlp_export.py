"""configure() in a fresh process exports all three signals over OTLP, by gRPC or HTTP as asked.

A subprocess is used because a process sets its global providers once, and this test process has
given them to the capture plugin.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from contextlib import AbstractContextManager

import pytest
from otlp_receiver import Received, grpc_receiver, http_receiver

_PROGRAM = textwrap.dedent(
    """
    import logging
    from opentelemetry import metrics, trace
    import otel

    telemetry = otel.configure(otel.TelemetrySettings(), service_version="9.9.9", service_name="export-test")
    with trace.get_tracer("probe").start_as_current_span("exported-span"):
        logging.getLogger("probe").warning("exported-log")
    metrics.get_meter("probe").create_counter("exported.counter").add(3)
    telemetry.shutdown()
    """
)


def _run(endpoint: str, protocol: str, **extra_env: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
        "OTEL_EXPORTER_OTLP_PROTOCOL": protocol,
        "ENVIRONMENT": "staging",
        "OTEL_RESOURCE_ATTRIBUTES": "team=observability",
        **extra_env,
    }
    return subprocess.run(  # noqa: S603 - our own interpreter running our own program
        [sys.executable, "-c", _PROGRAM], env=env, capture_output=True, text=True, timeout=60, check=False
    )


Receiver = Callable[[], AbstractContextManager[tuple[str, Received]]]


@pytest.mark.parametrize(("protocol", "receiver"), [("http/protobuf", http_receiver), ("grpc", grpc_receiver)])
def test_all_three_signals_reach_the_receiver_with_the_resource(protocol: str, receiver: Receiver) -> None:
    with receiver() as (endpoint, received):
        result = _run(endpoint, protocol)

    assert result.returncode == 0, result.stderr
    assert received.span_names() == ["exported-span"]
    assert "exported-log" in received.log_bodies()
    assert "exported.counter" in received.metric_names()
    for signal in ("traces", "metrics", "logs"):
        for resource in received.resources(signal):
            assert resource["service.name"] == "export-test"
            assert resource["service.version"] == "9.9.9"
            assert resource["deployment.environment.name"] == "staging"
            assert resource["team"] == "observability"
            assert len(resource["service.instance.id"]) == 36


def test_service_name_variable_overrides_the_code_default() -> None:
    with http_receiver() as (endpoint, received):
        result = _run(endpoint, "http/protobuf", OTEL_SERVICE_NAME="renamed")

    assert result.returncode == 0, result.stderr
    assert {r["service.name"] for r in received.resources("traces")} == {"renamed"}


def test_sdk_disabled_exports_nothing() -> None:
    with http_receiver() as (endpoint, received):
        result = _run(endpoint, "http/protobuf", OTEL_SDK_DISABLED="true")

    assert result.returncode == 0, result.stderr
    assert received.requests == {"traces": [], "metrics": [], "logs": []}


def test_sampler_variable_is_honoured() -> None:
    with http_receiver() as (endpoint, received):
        result = _run(endpoint, "http/protobuf", OTEL_TRACES_SAMPLER="always_off")

    assert result.returncode == 0, result.stderr
    assert received.span_names() == []
    assert "exported-log" in received.log_bodies()
