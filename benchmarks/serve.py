"""The service as the benchmark runs it: ``python -m service``'s uvicorn settings, plus two counters.

The counters are a span processor and a log record processor added to the providers the moment
``otel.configure()`` returns them (the launcher wraps it, so spans and records of the start-up are
counted too); they count what the SDK was handed (ended spans, emitted log records) and, once the
service has shut down and flushed, write the totals to ``BENCH_COUNTS_FILE`` as JSON. That is the
"emitted" side the benchmark compares with what the Collector accepted. Each costs one atomic
increment per item. With ``OTEL_SDK_DISABLED=true`` there are no SDK providers and nothing is added.

Usage: ``python -m benchmarks.serve --port PORT [--workers N]`` with the service's environment.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI
from opentelemetry.sdk._logs import LogRecordProcessor, ReadWriteLogRecord
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor

import otel
from benchmarks._without import leave_out
from service.app import create_app as create_service_app
from service.config import get_settings

COUNTS_FILE_VARIABLE = "BENCH_COUNTS_FILE"


class _Tally:
    """A counter the request threads bump without a lock: ``next()`` on ``itertools.count`` is atomic."""

    def __init__(self) -> None:
        self._count = itertools.count()

    def add(self) -> None:
        next(self._count)

    @property
    def value(self) -> int:
        """Read once, at exit (reading advances the count)."""
        return next(self._count)


class CountingSpanProcessor(SpanProcessor):
    """Counts sampled spans as they end: what the batch processor is handed."""

    def __init__(self) -> None:
        self.ended = _Tally()

    def on_end(self, span: ReadableSpan) -> None:
        if span.context is not None and span.context.trace_flags.sampled:
            self.ended.add()


class CountingLogProcessor(LogRecordProcessor):
    """Counts the log records the logger provider emits."""

    def __init__(self) -> None:
        self.emitted = _Tally()

    def on_emit(self, log_record: ReadWriteLogRecord) -> None:
        self.emitted.add()

    def shutdown(self) -> None:
        pass

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


def create_app() -> FastAPI:
    """The service's app; the counters are attached as telemetry is configured, written after shutdown."""
    leave_out()  # a variant's BENCH_WITHOUT parts (benchmarks.variants)
    spans, logs = CountingSpanProcessor(), CountingLogProcessor()
    configure = otel.configure

    def configure_and_count(*args: Any, **kwargs: Any) -> otel.Telemetry:
        telemetry = configure(*args, **kwargs)
        if telemetry.providers is not None and telemetry.owner:
            telemetry.providers.tracer_provider.add_span_processor(spans)
            telemetry.providers.logger_provider.add_log_record_processor(logs)
        return telemetry

    # service.app calls otel.configure() in its lifespan, after this factory returns.
    otel.configure = configure_and_count
    app = create_service_app()
    inner = app.router.lifespan_context
    counts_file = os.environ.get(COUNTS_FILE_VARIABLE)

    @asynccontextmanager
    async def counted(app_: FastAPI) -> AsyncIterator[None]:
        try:
            async with inner(app_):
                yield
        finally:
            # After the service's own lifespan has flushed and shut its providers down.
            if counts_file:
                totals = {"pid": os.getpid(), "spans": spans.ended.value, "log_records": logs.emitted.value}
                # The server is stopping; a blocking write of a few bytes holds nothing up.
                Path(counts_file).write_text(json.dumps(totals), encoding="utf-8")  # noqa: ASYNC240

    app.router.lifespan_context = counted
    return app


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.serve", description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    args = parser.parse_args(argv)
    settings = get_settings()
    # The same options as service.cli.serve: the kit owns logging and writes the request log.
    uvicorn.run(
        "benchmarks.serve:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        log_config=None,
        access_log=False,
        log_level=settings.log_level.lower(),
    )


if __name__ == "__main__":
    main()
