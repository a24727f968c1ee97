"""Database spans and the ``db.client.operation.duration`` histogram, from SQLAlchemy cursor events.

Two engine event hooks replace the contrib instrumentor: no ``connect`` spans, no version gate on
SQLAlchemy, and the per-statement work (parsing the operation and table, building attributes) is
cached, because an ORM sends the same few statements over and over.
"""

from __future__ import annotations

import re
import time
import weakref
from functools import lru_cache
from typing import Any, Final

from opentelemetry import context, metrics, trace
from opentelemetry.trace import SpanKind, Status, StatusCode
from sqlalchemy import Engine, event
from sqlalchemy.engine import Connection, ExceptionContext

DB_DURATION_BUCKETS: Final = (0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10)
_SCOPE: Final = "otel.sqlalchemy"
_STATE_KEY: Final = "_otel_span_state"
_TABLE: Final = re.compile(r'\b(?:FROM|INTO|UPDATE|JOIN)\s+["`\[]?([A-Za-z_][\w.]*)', re.IGNORECASE)
_SYSTEMS: Final = {"postgresql": "postgresql", "sqlite": "sqlite", "mysql": "mysql", "mssql": "microsoft.sql_server"}

_instrumented: weakref.WeakKeyDictionary[Engine, _EngineHooks] = weakref.WeakKeyDictionary()


@lru_cache(maxsize=512)
def describe_statement(statement: str) -> tuple[str, str | None]:
    """The operation (first keyword) and the table it touches, as the DB semantic conventions name them."""
    words = statement.lstrip().split(None, 1)
    operation = words[0].upper() if words else "UNKNOWN"
    match = _TABLE.search(statement)
    return operation, (match.group(1) if match else None)


class _EngineHooks:
    def __init__(self, engine: Engine, tracer: trace.Tracer, meter: metrics.Meter) -> None:
        url = engine.url
        self.tracer = tracer
        self.system = _SYSTEMS.get(engine.dialect.name, engine.dialect.name)
        self.static: dict[str, Any] = {"db.system.name": self.system}
        if url.database:
            self.static["db.namespace"] = url.database
        if url.host:
            self.static["server.address"] = url.host
            if url.port:
                self.static["server.port"] = url.port
        self.duration = meter.create_histogram(
            "db.client.operation.duration",
            unit="s",
            description="Duration of database client operations.",
            explicit_bucket_boundaries_advisory=DB_DURATION_BUCKETS,
        )

    def before(self, conn: Connection, cursor: Any, statement: str, *_: Any) -> None:
        if context.get_value(context._SUPPRESS_INSTRUMENTATION_KEY):
            return  # the kit's own background work (the alert outbox) is not the app's
        operation, table = describe_statement(statement)
        metric_attributes = {"db.system.name": self.system, "db.operation.name": operation}
        if table:
            metric_attributes["db.collection.name"] = table
        span = self.tracer.start_span(
            f"{operation} {table}" if table else operation,
            kind=SpanKind.CLIENT,
            attributes={**self.static, **metric_attributes, "db.query.text": statement},
        )
        # One connection runs one statement at a time, so its info dict can carry the span to `after`.
        conn.info[_STATE_KEY] = (span, metric_attributes, time.perf_counter())

    def after(self, conn: Connection, *_: Any) -> None:
        state = conn.info.pop(_STATE_KEY, None)
        if state is not None:
            span, attributes, started = state
            self.duration.record(time.perf_counter() - started, attributes)
            span.end()

    def error(self, exception_context: ExceptionContext) -> None:
        conn = exception_context.connection
        state = conn.info.pop(_STATE_KEY, None) if conn is not None else None
        if state is None:
            return
        span, attributes, started = state
        error_type = type(exception_context.original_exception).__qualname__
        self.duration.record(time.perf_counter() - started, {**attributes, "error.type": error_type})
        span.record_exception(exception_context.original_exception)
        span.set_attribute("error.type", error_type)
        span.set_status(Status(StatusCode.ERROR, error_type))
        span.end()


def instrument_engine(
    engine: Engine,
    *,
    tracer_provider: trace.TracerProvider | None = None,
    meter_provider: metrics.MeterProvider | None = None,
) -> None:
    """Trace every statement this engine runs; instrumenting an engine twice is a no-op."""
    if engine in _instrumented:
        return
    hooks = _EngineHooks(
        engine,
        trace.get_tracer(_SCOPE, tracer_provider=tracer_provider),
        metrics.get_meter(_SCOPE, meter_provider=meter_provider),
    )
    event.listen(engine, "before_cursor_execute", hooks.before)
    event.listen(engine, "after_cursor_execute", hooks.after)
    event.listen(engine, "handle_error", hooks.error)
    _instrumented[engine] = hooks


def uninstrument_engine(engine: Engine) -> None:
    hooks = _instrumented.pop(engine, None)
    if hooks is not None:
        event.remove(engine, "before_cursor_execute", hooks.before)
        event.remove(engine, "after_cursor_execute", hooks.after)
        event.remove(engine, "handle_error", hooks.error)
