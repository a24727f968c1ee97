"""A minimal OTLP receiver (HTTP/protobuf and gRPC) that records decoded export requests.

It lets tests prove what the kit puts on the wire without a Collector: the payloads are decoded with
the official protobuf definitions, exactly as a Collector would decode them.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent import futures
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import grpc
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2, logs_service_pb2_grpc
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2, metrics_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

_REQUESTS: dict[str, tuple[Any, Any]] = {
    "traces": (trace_service_pb2.ExportTraceServiceRequest, trace_service_pb2.ExportTraceServiceResponse),
    "metrics": (metrics_service_pb2.ExportMetricsServiceRequest, metrics_service_pb2.ExportMetricsServiceResponse),
    "logs": (logs_service_pb2.ExportLogsServiceRequest, logs_service_pb2.ExportLogsServiceResponse),
}


@dataclass
class Received:
    requests: dict[str, list[Any]] = field(default_factory=lambda: {signal: [] for signal in _REQUESTS})
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, signal: str, request: Any) -> None:
        with self.lock:
            self.requests[signal].append(request)

    def resources(self, signal: str) -> list[dict[str, Any]]:
        attr = {"traces": "resource_spans", "metrics": "resource_metrics", "logs": "resource_logs"}[signal]
        return [
            {kv.key: _value(kv.value) for kv in item.resource.attributes}
            for request in self.requests[signal]
            for item in getattr(request, attr)
        ]

    def span_names(self) -> list[str]:
        return [
            s.name
            for r in self.requests["traces"]
            for rs in r.resource_spans
            for ss in rs.scope_spans
            for s in ss.spans
        ]

    def log_bodies(self) -> list[str]:
        return [
            lr.body.string_value
            for r in self.requests["logs"]
            for rl in r.resource_logs
            for sl in rl.scope_logs
            for lr in sl.log_records
        ]

    def metric_names(self) -> set[str]:
        return {
            m.name
            for r in self.requests["metrics"]
            for rm in r.resource_metrics
            for sm in rm.scope_metrics
            for m in sm.metrics
        }


def _value(value: Any) -> Any:
    return getattr(value, value.WhichOneof("value"))


@contextmanager
def http_receiver() -> Iterator[tuple[str, Received]]:
    received = Received()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            signal = self.path.removeprefix("/v1/")
            request_type, response_type = _REQUESTS[signal]
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.add(signal, request_type.FromString(body))
            payload = response_type().SerializeToString()
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", received
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def grpc_receiver() -> Iterator[tuple[str, Received]]:
    received = Received()

    class Traces(trace_service_pb2_grpc.TraceServiceServicer):
        def Export(self, request: Any, context: Any) -> Any:  # noqa: N802 - generated gRPC method name
            received.add("traces", request)
            return trace_service_pb2.ExportTraceServiceResponse()

    class Metrics(metrics_service_pb2_grpc.MetricsServiceServicer):
        def Export(self, request: Any, context: Any) -> Any:  # noqa: N802 - likewise
            received.add("metrics", request)
            return metrics_service_pb2.ExportMetricsServiceResponse()

    class Logs(logs_service_pb2_grpc.LogsServiceServicer):
        def Export(self, request: Any, context: Any) -> Any:  # noqa: N802 - likewise
            received.add("logs", request)
            return logs_service_pb2.ExportLogsServiceResponse()

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(Traces(), server)
    metrics_service_pb2_grpc.add_MetricsServiceServicer_to_server(Metrics(), server)
    logs_service_pb2_grpc.add_LogsServiceServicer_to_server(Logs(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        yield f"http://127.0.0.1:{port}", received
    finally:
        server.stop(grace=None)
