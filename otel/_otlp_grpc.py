"""The SDK's OTLP/gRPC span and log exporters, their requests built from ``otel._otlp_wire``'s bytes.

The gRPC exporters ask ``_translate_data`` for the request message; parsing our encoding back into one
is C code and far cheaper than the SDK's object-by-object encoding. Retries, timeouts and the channel
stay the SDK's. Kept apart from ``_otlp_http`` so that only the chosen transport is imported.
"""

from __future__ import annotations

from collections.abc import Sequence

from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk._logs import ReadableLogRecord
from opentelemetry.sdk.trace import ReadableSpan

from otel import _otlp_wire


class WireSpanExporter(OTLPSpanExporter):
    """Spans over gRPC, redacted and encoded in one pass."""

    redacts = True

    def _translate_data(self, data: Sequence[ReadableSpan]) -> ExportTraceServiceRequest:
        request: ExportTraceServiceRequest = ExportTraceServiceRequest.FromString(_otlp_wire.encode_spans(data))
        return request


class WireLogExporter(OTLPLogExporter):
    """Log records over gRPC, redacted and encoded in one pass."""

    redacts = True

    def _translate_data(self, data: Sequence[ReadableLogRecord]) -> ExportLogsServiceRequest:
        request: ExportLogsServiceRequest = ExportLogsServiceRequest.FromString(_otlp_wire.encode_logs(data))
        return request
