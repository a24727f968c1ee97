"""Which ended spans are alerts: server errors, unhandled exceptions, failed queries, slow requests."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanKind, StatusCode

from otel._span_data import attributes_of, events_of
from otel.alerts._model import Alert, Severity, fingerprint
from otel.alerts._scrub import scrub
from otel.alerts._settings import AlertSettings


def trace_link(settings: AlertSettings, trace_id: str | None) -> str | None:
    """A Grafana Explore link that opens the trace, when GRAFANA_URL is set."""
    if not settings.grafana_url or not trace_id:
        return None
    uid = settings.grafana_trace_datasource
    panes = {
        "t": {
            "datasource": uid,
            "queries": [
                {"refId": "A", "datasource": {"type": "tempo", "uid": uid}, "queryType": "traceql", "query": trace_id}
            ],
            "range": {"from": "now-1h", "to": "now"},
        }
    }
    encoded = quote(json.dumps(panes, separators=(",", ":")))
    return f"{settings.grafana_url.rstrip('/')}/explore?schemaVersion=1&panes={encoded}"


def alert_from_span(span: ReadableSpan, settings: AlertSettings) -> Alert | None:
    kind = span.kind
    if kind is SpanKind.SERVER:
        return _server_alert(span, settings)
    if kind is SpanKind.CLIENT and span.status.status_code is StatusCode.ERROR:
        attributes = attributes_of(span)
        if "db.system.name" in attributes:
            return _database_alert(span, settings, attributes)
    return None


def _server_alert(span: ReadableSpan, settings: AlertSettings) -> Alert | None:
    attributes = attributes_of(span)
    route = _text(attributes.get("http.route")) or span.name
    exception = _exception_event(span)
    if exception is not None:
        exception_type = _text(exception.get("exception.type")) or "Exception"
        return _alert(
            span,
            settings,
            severity=Severity.CRITICAL,
            title=f"Unhandled {exception_type} in {span.name}",
            message=scrub(_text(exception.get("exception.message")) or exception_type),
            route=route,
            exception_type=exception_type,
            stacktrace=scrub(_text(exception.get("exception.stacktrace")) or "") or None,
            identity=("exception", route, exception_type),
        )
    status = attributes.get("http.response.status_code")
    if span.status.status_code is StatusCode.ERROR or (isinstance(status, int) and status >= 500):
        error_type = _text(attributes.get("error.type")) or str(status)
        return _alert(
            span,
            settings,
            severity=Severity.ERROR,
            title=f"{span.name} answered {status}",
            message=f"{span.name} failed with {error_type}.",
            route=route,
            exception_type=error_type,
            identity=("server_error", route, str(status)),
        )
    if span.start_time is not None and span.end_time is not None:
        seconds = (span.end_time - span.start_time) / 1e9
        threshold = settings.slow_threshold(route)
        if seconds > threshold:
            return _alert(
                span,
                settings,
                severity=Severity.WARNING,
                title=f"Slow request: {span.name}",
                message=f"{span.name} took {seconds:.3f}s, over its {threshold:g}s threshold.",
                route=route,
                identity=("slow_request", route),
            )
    return None


def _database_alert(span: ReadableSpan, settings: AlertSettings, attributes: Any) -> Alert:
    error_type = _text(attributes.get("error.type")) or "error"
    exception = _exception_event(span) or {}
    return _alert(
        span,
        settings,
        severity=Severity.ERROR,
        title=f"Database {span.name} failed: {error_type}",
        message=scrub(_text(exception.get("exception.message")) or span.status.description or error_type),
        route=None,
        exception_type=error_type,
        identity=("db_error", span.name, error_type),
    )


def _alert(
    span: ReadableSpan,
    settings: AlertSettings,
    *,
    severity: Severity,
    title: str,
    message: str,
    route: str | None,
    identity: tuple[str, ...],
    exception_type: str | None = None,
    stacktrace: str | None = None,
) -> Alert:
    resource = span.resource.attributes
    service = _text(resource.get("service.name")) or "unknown_service"
    environment = _text(resource.get("deployment.environment.name")) or "unknown"
    context = span.get_span_context()
    trace_id = format(context.trace_id, "032x") if context is not None else None
    ended = datetime.fromtimestamp((span.end_time or 0) / 1e9, UTC) if span.end_time else datetime.now(UTC)
    return Alert(
        severity=severity,
        title=scrub(title),
        message=message,
        service=service,
        environment=environment,
        source="span",
        fingerprint=fingerprint(service, environment, *identity),
        occurred_at=ended,
        route=route,
        exception_type=exception_type,
        stacktrace=stacktrace,
        trace_id=trace_id,
        span_id=format(context.span_id, "016x") if context is not None else None,
        trace_url=trace_link(settings, trace_id),
    )


def _exception_event(span: ReadableSpan) -> dict[str, Any] | None:
    for event in events_of(span):
        if event.name == "exception":
            return dict(event.attributes or {})
    return None


def _text(value: object) -> str | None:
    return None if value is None else str(value)
