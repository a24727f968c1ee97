"""The Collector build and its configuration, run for real.

Every overlay under collector/ must validate on top of collector-config.yaml, and the base pipelines,
started on free loopback ports, must scrub credentials on their own (the SDK's scrubbing is not
involved: the payloads below are hand-made OTLP) and produce the series docs/signals.md promises.
"""

import json
import math
import os
import re
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
from _collector import (
    BASE_CONFIG,
    BUILD_TIMEOUT_S,
    Collector,
    CollectorPorts,
    TraceSink,
    collector_binary,
    overlay_files,
    running_collector,
    trace_sink,
    validate,
)
from _stack import http_get
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, ResourceLogs, ScopeLogs, SeverityNumber
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_openmetrics

# The first test to ask for the binary may have to build it.
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(BUILD_TIMEOUT_S + 300)]

CANARY = "canary123"
ROUTE = "/api/v1/sessions/{session_id}"
SPAN_NAME = f"GET {ROUTE}"
# docs/signals.md, HTTP histogram buckets (seconds).
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10)
WAIT_S = 30.0
T = TypeVar("T")


@pytest.fixture(scope="module")
def otelcol() -> Path:
    return collector_binary()


def test_base_config_is_valid(otelcol: Path) -> None:
    validate(otelcol, BASE_CONFIG)


@pytest.mark.parametrize("overlay", overlay_files(), ids=lambda path: path.name)
def test_overlay_is_valid_on_base(otelcol: Path, overlay: Path) -> None:
    validate(otelcol, BASE_CONFIG, overlay)


def test_base_config_defaults_to_loopback() -> None:
    defaults = re.findall(r"\$\{env:\w+:-([^}]*)\}", BASE_CONFIG.read_text())
    addresses = [value for value in defaults if re.search(r"(^|//)[\w.-]+:\d+", value)]
    assert addresses, "expected ${env:VAR:-host:port} defaults in the base config"
    for address in addresses:
        host = re.sub(r"^\w+://", "", address).rsplit(":", 1)[0]
        assert host == "127.0.0.1", f"{address!r} is not a loopback default"


# --- the base pipelines, started once for the tests below ----------------------------------------


@dataclass
class Pipeline:
    ports: CollectorPorts
    sink: TraceSink
    logs_file: Path
    collector: Collector
    trace_id: bytes


@pytest.fixture(scope="module")
def pipeline(otelcol: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pipeline]:
    workdir = tmp_path_factory.mktemp("collector")
    ports = CollectorPorts.allocate()
    logs_file = workdir / "logs.jsonl"
    with trace_sink() as sink:
        env = {
            **ports.env(),
            "OTELCOL_STORAGE_DIR": str(workdir / "storage"),
            "LOGS_FILE_PATH": str(logs_file),
            "TRACES_OTLP_ENDPOINT": sink.endpoint,
            "OTELCOL_SPANMETRICS_FLUSH_INTERVAL": "2s",
        }
        with running_collector(
            otelcol, [BASE_CONFIG], env=env, health_url=ports.health_url, log_path=workdir / "collector.log"
        ) as collector:
            trace_id = os.urandom(16)
            _post(f"{ports.otlp_http_url}/v1/traces", _trace_request(trace_id))
            _post(f"{ports.otlp_http_url}/v1/logs", _logs_request(trace_id))
            yield Pipeline(ports, sink, logs_file, collector, trace_id)


def test_trace_backend_never_receives_credentials(pipeline: Pipeline) -> None:
    def spans() -> list[Span] | None:
        requests = pipeline.sink.snapshot()
        found = [s for r in requests for rs in r.resource_spans for ss in rs.scope_spans for s in ss.spans]
        return found if any(s.trace_id == pipeline.trace_id for s in found) else None

    found = _eventually(spans, pipeline, "the trace backend to receive the span")
    assert all(CANARY.encode() not in request.SerializeToString() for request in pipeline.sink.snapshot())
    (span,) = [s for s in found if s.trace_id == pipeline.trace_id]
    attributes = _attributes(span.attributes)
    assert "http.request.header.authorization" not in attributes
    assert "http.request.header.cookie" not in attributes
    assert attributes["url.query"] == "token=REDACTED&page=2"
    assert attributes["url.full"] == "http://127.0.0.1:8000/api/v1/sessions/42?page=2&password=REDACTED"
    assert attributes["http.route"] == ROUTE  # the rest passes untouched
    assert _attributes(span.events[0].attributes) == {"url.full": "http://127.0.0.1:8000/login?access_token=REDACTED"}


def test_log_backend_never_receives_credentials(pipeline: Pipeline) -> None:
    text = _eventually(
        lambda: t if "request completed" in (t := _read(pipeline.logs_file)) and t.endswith("\n") else None,
        pipeline,
        "the file exporter to write the log records",
    )
    assert CANARY not in text
    records = [
        record
        for line in text.splitlines()
        for resource in json.loads(line)["resourceLogs"]
        for scope in resource["scopeLogs"]
        for record in scope["logRecords"]
    ]
    first = next(r for r in records if r["severityText"] == "INFO")
    assert first["body"] == {"stringValue": "request completed GET /login?token=REDACTED"}
    assert {a["key"]: a["value"] for a in first["attributes"]} == {
        "url.query": {"stringValue": "password=REDACTED"},
        "http.route": {"stringValue": ROUTE},
    }
    assert "severity_text" not in text  # the counting pipeline's attribute stays out of the backend


def test_span_metrics_series(pipeline: Pipeline) -> None:
    # A new calls series is first written as 0, one flush before its value (upstream's choice, so that
    # Prometheus' rate() sees the first increment): wait for the value, not for the name.
    samples = _scrape_until(
        pipeline,
        lambda s: s.name == "traces_span_metrics_calls_total" and s.labels["http_route"] == ROUTE and s.value == 1,
    )
    samples = [s for s in samples if s.labels.get("http_route") == ROUTE]
    assert _only(samples, "traces_span_metrics_calls_total").labels == {
        "service_name": "mindhit-api",
        "service_version": "0.1.0",
        "service_instance_id": "instance-1",
        "deployment_environment_name": "test",
        "job": "mindhit-api",
        "instance": "instance-1",
        "span_name": SPAN_NAME,
        "span_kind": "SPAN_KIND_SERVER",
        "status_code": "STATUS_CODE_UNSET",
        "http_route": ROUTE,
        "http_response_status_code": "200",
        "otel_scope_name": "spanmetricsconnector",
        "otel_scope_version": "",
        "otel_scope_schema_url": "",
    }
    buckets = [s for s in samples if s.name == "traces_span_metrics_duration_seconds_bucket"]
    assert [float(b.labels["le"]) for b in buckets] == [*BUCKETS, math.inf]
    assert [b.value for b in buckets] == [0, 0, 0] + [1] * 12  # the span took 42 ms
    assert _only(samples, "traces_span_metrics_duration_seconds_count").value == 1
    assert _only(samples, "traces_span_metrics_duration_seconds_sum").value == pytest.approx(0.042)


def test_span_metrics_carry_exemplars(pipeline: Pipeline) -> None:
    # Exemplars (OpenMetrics only) link a bucket to a trace. The connector keeps them for one flush
    # interval, so this test sends a span of its own, on a route of its own, and watches for it.
    route = "/api/v1/exemplars"
    trace_id = os.urandom(16)
    _post(f"{pipeline.ports.otlp_http_url}/v1/traces", _trace_request(trace_id, route=route))

    def exemplars() -> list[Any] | None:
        samples = _scrape(pipeline)
        found = [
            s.exemplar
            for s in samples
            if s.name == "traces_span_metrics_duration_seconds_bucket"
            and s.labels["http_route"] == route
            and s.exemplar is not None
        ]
        return found or None

    found = _eventually(exemplars, pipeline, f"an exemplar on the {route} histogram", interval=0.1)
    assert {exemplar.labels["trace_id"] for exemplar in found} == {trace_id.hex()}


def test_log_count_series(pipeline: Pipeline) -> None:
    samples = _scrape_until(pipeline, lambda s: s.name == "log_records_total")
    counts = {s.labels["severity_text"]: s for s in samples if s.name == "log_records_total"}
    assert {severity: s.value for severity, s in counts.items()} == {"INFO": 1, "WARNING": 1, "UNSPECIFIED": 1}
    assert counts["INFO"].labels["service_name"] == "mindhit-api"
    assert counts["INFO"].labels["deployment_environment_name"] == "test"


def test_collector_self_metrics(pipeline: Pipeline) -> None:
    http = {"receiver": "otlp", "transport": "http"}
    traces = {"exporter": "otlp_grpc/traces"}

    def scrape() -> list[_Sample] | None:
        _, body = http_get(pipeline.ports.telemetry_url)
        samples = _parse_text_exposition(body.decode())
        sent = _find(samples, "otelcol_exporter_sent_spans", **traces)
        # Other tests may send spans too: wait until all that was accepted has been sent.
        return samples if sent and sent == _find(samples, "otelcol_receiver_accepted_spans", **http) else None

    samples = _eventually(scrape, pipeline, "otelcol_exporter_sent_spans to catch up on the Collector's own metrics")
    # The names as this release writes them: no _total suffix, no unit suffix.
    assert _find(samples, "otelcol_receiver_refused_spans", **http) == [0]
    assert _find(samples, "otelcol_receiver_accepted_log_records", **http) == [3]
    assert _find(samples, "otelcol_exporter_sent_log_records", exporter="file/logs") == [3]
    # Exporters that dial out also carry server_address and server_port labels.
    (labels,) = [s.labels for s in samples if s.name == "otelcol_exporter_sent_spans"]
    assert labels == {**traces, "server_address": "127.0.0.1", "server_port": pipeline.sink.endpoint.split(":")[1]}
    queue = {**traces, "data_type": "traces"}
    assert _find(samples, "otelcol_exporter_queue_capacity", **queue) == [1000]
    assert len(_find(samples, "otelcol_exporter_queue_size", **queue)) == 1


# --- helpers -------------------------------------------------------------------------------------


def _eventually(probe: Callable[[], T | None], pipeline: Pipeline, what: str, *, interval: float = 0.25) -> T:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        result = probe()
        if result is not None:
            return result
        time.sleep(interval)
    pytest.fail(f"timed out waiting for {what}; the Collector said:\n{pipeline.collector.log_tail()}")


def _scrape_until(pipeline: Pipeline, ready: Callable[[Any], bool]) -> list[Any]:
    """The prometheus exporter's samples (OpenMetrics, with exemplars) once one of them is ``ready``."""

    def probe() -> list[Any] | None:
        samples = _scrape(pipeline)
        return samples if any(ready(sample) for sample in samples) else None

    return _eventually(probe, pipeline, "the expected series on the prometheus exporter")


def _scrape(pipeline: Pipeline) -> list[Any]:
    request = urllib.request.Request(  # noqa: S310  (loopback URL we built)
        pipeline.ports.metrics_url, headers={"Accept": "application/openmetrics-text;version=1.0.0"}
    )
    with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310  (likewise)
        text = response.read().decode()
    return [sample for family in parse_openmetrics(text) for sample in family.samples]


@dataclass(frozen=True)
class _Sample:
    name: str
    labels: dict[str, str]
    value: float


def _parse_text_exposition(text: str) -> list[_Sample]:
    """Samples exactly as written (prometheus_client's own parser adds _total to counter names)."""
    samples = []
    for line in text.splitlines():
        match = re.fullmatch(r"(\w+)(?:\{(.*)\})? (\S+)", line)
        if match:
            labels = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', match[2] or ""))
            samples.append(_Sample(match[1], labels, float(match[3])))
    return samples


def _find(samples: list[Any], name: str, **labels: str) -> list[float]:
    """Values of the samples called ``name`` whose labels include ``labels``."""
    return [s.value for s in samples if s.name == name and labels.items() <= s.labels.items()]


def _only(samples: list[Any], name: str) -> Any:
    """The one sample called ``name``."""
    (sample,) = [s for s in samples if s.name == name]
    return sample


def _read(path: Path) -> str:
    return path.read_text() if path.exists() else ""


def _post(url: str, message: ExportTraceServiceRequest | ExportLogsServiceRequest) -> None:
    request = urllib.request.Request(  # noqa: S310  (loopback URL we built)
        url, data=message.SerializeToString(), headers={"Content-Type": "application/x-protobuf"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310  (likewise)
        assert response.status == 200


def _value(value: Any) -> AnyValue:
    if isinstance(value, list):
        return AnyValue(array_value=ArrayValue(values=[_value(item) for item in value]))
    if isinstance(value, int):
        return AnyValue(int_value=value)
    return AnyValue(string_value=value)


def _kv(attributes: dict[str, Any]) -> list[KeyValue]:
    return [KeyValue(key=key, value=_value(value)) for key, value in attributes.items()]


def _attributes(pairs: Any) -> dict[str, Any]:
    return {kv.key: getattr(kv.value, kv.value.WhichOneof("value")) for kv in pairs}


_RESOURCE = Resource(
    attributes=_kv(
        {
            "service.name": "mindhit-api",
            "service.version": "0.1.0",
            "service.instance.id": "instance-1",
            "deployment.environment.name": "test",
        }
    )
)


def _trace_request(trace_id: bytes, *, route: str = ROUTE) -> ExportTraceServiceRequest:
    end = time.time_ns()
    span = Span(
        trace_id=trace_id,
        span_id=os.urandom(8),
        name=f"GET {route}",
        kind=Span.SPAN_KIND_SERVER,
        start_time_unix_nano=end - 42_000_000,
        end_time_unix_nano=end,
        attributes=_kv(
            {
                "http.request.method": "GET",
                "http.route": route,
                "http.response.status_code": 200,
                "url.query": f"token={CANARY}&page=2",
                "url.full": f"http://127.0.0.1:8000/api/v1/sessions/42?page=2&password={CANARY}",
                "http.request.header.authorization": [f"Bearer {CANARY}"],
                "http.request.header.cookie": [f"session={CANARY}"],
            }
        ),
        events=[
            Span.Event(
                time_unix_nano=end,
                name="redirect",
                attributes=_kv({"url.full": f"http://127.0.0.1:8000/login?access_token={CANARY}"}),
            )
        ],
    )
    return ExportTraceServiceRequest(
        resource_spans=[ResourceSpans(resource=_RESOURCE, scope_spans=[ScopeSpans(spans=[span])])]
    )


def _logs_request(trace_id: bytes) -> ExportLogsServiceRequest:
    now = time.time_ns()
    records = [
        LogRecord(
            time_unix_nano=now,
            severity_number=SeverityNumber.SEVERITY_NUMBER_INFO,
            severity_text="INFO",
            body=_value(f"request completed GET /login?token={CANARY}"),
            attributes=_kv(
                {
                    "url.query": f"password={CANARY}",
                    "http.request.header.authorization": [f"Bearer {CANARY}"],
                    "http.route": ROUTE,
                }
            ),
            trace_id=trace_id,
        ),
        LogRecord(
            time_unix_nano=now,
            severity_number=SeverityNumber.SEVERITY_NUMBER_WARN,
            severity_text="WARNING",
            body=_value("slow request"),
        ),
        # No severity text: counted as UNSPECIFIED.
        LogRecord(time_unix_nano=now, severity_number=SeverityNumber.SEVERITY_NUMBER_INFO, body=_value("tick")),
    ]
    return ExportLogsServiceRequest(
        resource_logs=[ResourceLogs(resource=_RESOURCE, scope_logs=[ScopeLogs(log_records=records)])]
    )
