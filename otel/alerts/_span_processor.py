"""The span processor that turns ended spans into alerts.

``on_end`` runs on the thread that ended the span, usually a request's: it only classifies the span
(attribute lookups) and hands the alert to the hub, whose sinks enqueue it. No I/O happens here.
"""

from __future__ import annotations

import logging

from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor

from otel.alerts._hub import AlertHub
from otel.alerts._span_rules import alert_from_span

logger = logging.getLogger(__name__)


class AlertSpanProcessor(SpanProcessor):
    def __init__(self, hub: AlertHub) -> None:
        self.hub = hub

    def on_end(self, span: ReadableSpan) -> None:
        if not self.hub.active:
            return
        try:
            alert = alert_from_span(span, self.hub.settings)
        except Exception:  # on_end must never raise into the code that ended the span
            logger.warning("could not evaluate span %r for alerts", span.name, exc_info=True)
            return
        if alert is not None:
            self.hub.submit(alert)
