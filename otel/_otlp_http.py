"""The SDK's OTLP/HTTP span and log exporters, sending what ``otel._otlp_wire`` encodes.

Everything but the encoding stays the SDK's: endpoint, headers, compression, retries with backoff,
timeouts and the exporter's own metrics. The SDK has no public hook for the encoder, so ``export``
hands the bytes to the HTTP client the exporter already built; should a later SDK release rename that
client, the exporters fall back to the SDK's own encoding of redacted copies, slower but the same data.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk._logs import ReadableLogRecord
from opentelemetry.sdk._logs.export import LogRecordExportResult
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExportResult

from otel import _otlp_wire
from otel._redaction import redact_log, redact_span

logger = logging.getLogger(__name__)


def _send(exporter: Any, items: Sequence[Any], encode: Callable[[Sequence[Any]], bytes]) -> bool | None:
    """Encode and post ``items``; ``None`` when this SDK's exporter lacks the parts relied on."""
    client = getattr(exporter, "_client", None)
    metrics = getattr(exporter, "_metrics", None)
    if client is None or metrics is None or getattr(exporter, "_shutdown", False):
        return None
    with metrics.export_operation(len(items)) as result:
        try:
            data = encode(items)
        except Exception as error:  # an unencodable item must not kill the batch processor's thread
            logger.exception("could not encode a batch of %d items for OTLP", len(items))
            result.error = error
            return False
        outcome = client.export(data)
        if not outcome.success:
            result.error = outcome.error
            return False
    return True


class WireSpanExporter(OTLPSpanExporter):
    """Spans to ``/v1/traces``, redacted and encoded in one pass."""

    redacts = True

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        sent = _send(self, spans, _otlp_wire.encode_spans)
        if sent is None:
            return super().export([redact_span(span) for span in spans])
        return SpanExportResult.SUCCESS if sent else SpanExportResult.FAILURE


class WireLogExporter(OTLPLogExporter):
    """Log records to ``/v1/logs``, redacted and encoded in one pass."""

    redacts = True

    def export(self, batch: Sequence[ReadableLogRecord]) -> LogRecordExportResult:
        sent = _send(self, batch, _otlp_wire.encode_logs)
        if sent is None:
            return super().export([redact_log(record) for record in batch])
        return LogRecordExportResult.SUCCESS if sent else LogRecordExportResult.FAILURE
