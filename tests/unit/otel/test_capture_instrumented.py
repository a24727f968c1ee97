"""assert_instrumented / assert_not_instrumented: an instrumentation that silently did nothing is caught."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from opentelemetry import metrics, trace
from opentelemetry.trace import SpanKind
from sqlalchemy import Engine, create_engine, text

import otel
from otel.testing import TelemetryCapture

probes = metrics.get_meter("tests.instrumented").create_counter("tests.instrumented.probes")


def _select_one(engine: Engine) -> None:
    with engine.connect() as connection:
        connection.execute(text("SELECT 1")).scalar_one()


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = create_engine(f"sqlite:///{tmp_path / 'probe.db'}")
    yield engine
    otel.uninstrument_engine(engine)
    engine.dispose()


def test_the_probe_proves_the_hooks_and_leaves_nothing_behind(engine: Engine, capotel: TelemetryCapture) -> None:
    with trace.get_tracer("tests.instrumented").start_as_current_span("set-up"):
        pass
    otel.instrument_engine(engine)

    def probe() -> None:
        logging.getLogger("tests.instrumented").info("probing")
        probes.add(1)
        _select_one(engine)

    [span] = capotel.assert_instrumented(probe, scope="otel.sqlalchemy", kind=SpanKind.CLIENT)

    assert span.name == "SELECT"
    assert [s.name for s in capotel.spans] == ["set-up"]
    assert capotel.logs == []
    assert capotel.metric_points("tests.instrumented.probes") == []
    assert capotel.metric_points("db.client.operation.duration") == []
    capotel.assert_instrumented(lambda: _select_one(engine), metric="db.client.operation.duration")


def test_an_engine_never_instrumented_fails_listing_what_the_probe_emitted(
    engine: Engine, capotel: TelemetryCapture
) -> None:
    def probe() -> None:
        with trace.get_tracer("tests.app").start_as_current_span("app work"):
            probes.add(1)
            _select_one(engine)

    with pytest.raises(AssertionError) as failure:
        capotel.assert_instrumented(probe, scope="otel.sqlalchemy")

    # Observable instruments of other test modules may follow as "unchanged": they are read every time.
    assert str(failure.value).startswith(
        "the probe emitted no span with scope='otel.sqlalchemy': the instrumentation did not take effect "
        "(an instrumentor that refuses a library version only logs a warning and patches nothing)\n"
        "spans the probe emitted:\n"
        "  - app work (INTERNAL) [scope 'tests.app']\n"
        "metrics the probe recorded: tests.instrumented.probes"
    )
    assert capotel.spans == []
    with pytest.raises(AssertionError, match=r"the probe emitted no point of metric 'db\.client\.operation\.duration'"):
        capotel.assert_instrumented(lambda: _select_one(engine), metric="db.client.operation.duration")


def test_uninstrumenting_is_proven_too(engine: Engine, capotel: TelemetryCapture) -> None:
    otel.instrument_engine(engine)
    with pytest.raises(
        AssertionError, match=r"the probe still emitted a span with kind=CLIENT, scope='otel\.sqlalchemy'"
    ):
        capotel.assert_not_instrumented(lambda: _select_one(engine), kind=SpanKind.CLIENT, scope="otel.sqlalchemy")

    otel.uninstrument_engine(engine)
    capotel.assert_not_instrumented(lambda: _select_one(engine), scope="otel.sqlalchemy")
    capotel.assert_not_instrumented(lambda: _select_one(engine), metric="db.client.operation.duration")
    assert capotel.spans == []


def test_a_probe_that_raises_propagates_and_its_spans_are_still_set_aside(capotel: TelemetryCapture) -> None:
    def probe() -> None:
        with trace.get_tracer("tests.app").start_as_current_span("half done"):
            raise ConnectionError("database is down")

    with pytest.raises(ConnectionError):
        capotel.assert_instrumented(probe)

    assert capotel.spans == []
