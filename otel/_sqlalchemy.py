"""Database spans and the ``db.client.operation.duration`` histogram, around each DBAPI execute call.

The hooks replace the contrib instrumentor: no ``connect`` spans, no version gate on SQLAlchemy, and
the per-statement work (parsing the operation and table, building attributes) is cached, because an
ORM sends the same few statements over and over.

They are the dialect's ``do_execute``/``do_executemany``/``do_execute_no_params`` events, which run the
DBAPI call themselves, inside the span. The engine-level cursor events (``before_cursor_execute``,
``after_cursor_execute``, ``handle_error``) would do the same with two hooks, but any engine-level
listener switches SQLAlchemy onto its evented path for every begin, execute, commit and rollback of
that engine: in the benchmark that cost more than the span itself (see docs/benchmarks.md).
"""

from __future__ import annotations

import re
import time
import weakref
from collections.abc import Callable
from functools import lru_cache
from typing import Any, Final, NamedTuple

from opentelemetry import context, metrics, trace
from opentelemetry.trace import SpanKind, Status, StatusCode
from sqlalchemy import Engine, event
from sqlalchemy.engine import ExecutionContext

DB_DURATION_BUCKETS: Final = (0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10)
_SCOPE: Final = "otel.sqlalchemy"
_TABLE: Final = re.compile(r'\b(?:FROM|INTO|UPDATE|JOIN)\s+["`\[]?([A-Za-z_][\w.]*)', re.IGNORECASE)
_SYSTEMS: Final = {"postgresql": "postgresql", "sqlite": "sqlite", "mysql": "mysql", "mssql": "microsoft.sql_server"}

_STATEMENTS_KEPT: Final = 512

_instrumented: weakref.WeakKeyDictionary[Engine, _EngineHooks] = weakref.WeakKeyDictionary()


class _Statement(NamedTuple):
    span_name: str
    span_attributes: dict[str, Any]
    metric_attributes: dict[str, Any]


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
        self.dialect = engine.dialect
        self.system = _SYSTEMS.get(engine.dialect.name, engine.dialect.name)
        self.static: dict[str, Any] = {"db.system.name": self.system}
        if url.database:
            self.static["db.namespace"] = url.database
        if url.host:
            self.static["server.address"] = url.host
            if url.port:
                self.static["server.port"] = url.port
        self._statements: dict[str, _Statement] = {}
        self.duration = meter.create_histogram(
            "db.client.operation.duration",
            unit="s",
            description="Duration of database client operations.",
            explicit_bucket_boundaries_advisory=DB_DURATION_BUCKETS,
        )

    # Each returns True once it has run the statement, False to leave it to the dialect untraced.
    def do_execute(self, cursor: Any, statement: str, parameters: Any, execution: ExecutionContext) -> bool:
        return self._traced(statement, self.dialect.do_execute, cursor, statement, parameters, execution)

    def do_executemany(self, cursor: Any, statement: str, parameters: Any, execution: ExecutionContext) -> bool:
        return self._traced(statement, self.dialect.do_executemany, cursor, statement, parameters, execution)

    def do_execute_no_params(self, cursor: Any, statement: str, execution: ExecutionContext) -> bool:
        return self._traced(statement, self.dialect.do_execute_no_params, cursor, statement, execution)

    def _described(self, statement: str) -> _Statement:
        """Span name and attributes of a statement, built once: the SDK copies them, so they can be shared."""
        described = self._statements.get(statement)
        if described is None:
            operation, table = describe_statement(statement)
            metric_attributes = {"db.system.name": self.system, "db.operation.name": operation}
            if table:
                metric_attributes["db.collection.name"] = table
            if len(self._statements) >= _STATEMENTS_KEPT:
                self._statements.clear()
            described = self._statements[statement] = _Statement(
                f"{operation} {table}" if table else operation,
                {**self.static, **metric_attributes, "db.query.text": statement},
                metric_attributes,
            )
        return described

    def _traced(self, statement: str, execute: Callable[..., None], *arguments: Any) -> bool:
        if context.get_value(context._SUPPRESS_INSTRUMENTATION_KEY):
            return False  # the kit's own background work (the alert outbox) is not the app's
        name, span_attributes, metric_attributes = self._described(statement)
        span = self.tracer.start_span(name, kind=SpanKind.CLIENT, attributes=span_attributes)
        started = time.perf_counter()
        try:
            execute(*arguments)
        except BaseException as exc:  # a cancelled call ends its span too; re-raised as it came
            error_type = type(exc).__qualname__
            self.duration.record(time.perf_counter() - started, {**metric_attributes, "error.type": error_type})
            span.record_exception(exc)
            span.set_attribute("error.type", error_type)
            span.set_status(Status(StatusCode.ERROR, error_type))
            span.end()
            raise
        self.duration.record(time.perf_counter() - started, metric_attributes)
        span.end()
        return True


_EVENTS: Final = ("do_execute", "do_executemany", "do_execute_no_params")


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
    for name in _EVENTS:
        event.listen(engine, name, getattr(hooks, name))
    _instrumented[engine] = hooks


def uninstrument_engine(engine: Engine) -> None:
    hooks = _instrumented.pop(engine, None)
    if hooks is not None:
        for name in _EVENTS:
            event.remove(engine, name, getattr(hooks, name))
