"""Console formats and the OTel bridge."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest
from opentelemetry import trace

from otel import TelemetrySettings
from otel._logging import _KIT_HANDLER, JsonFormatter, SdkLogThrottle, TextFormatter, install_logging
from otel.testing import TelemetryCapture


@pytest.fixture
def root_logging() -> Iterator[logging.Logger]:
    """These tests reconfigure the root logger; put it back as it was."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield root
    root.handlers[:] = handlers
    root.setLevel(level)


def _record(message: str, *args: object, **extra: object) -> logging.LogRecord:
    record = logging.LogRecord("app.module", logging.INFO, __file__, 1, message, args, None)
    record.__dict__.update(extra)
    return record


def test_json_lines_carry_level_logger_message_extras_and_trace_ids() -> None:
    with trace.get_tracer("t").start_as_current_span("s"):
        line = JsonFormatter().format(_record("stored %d events", 3, session_id="abc"))

    entry = json.loads(line)
    assert entry["level"] == "INFO"
    assert entry["logger"] == "app.module"
    assert entry["message"] == "stored 3 events"
    assert entry["session_id"] == "abc"
    assert entry["timestamp"].endswith("+00:00")


@pytest.mark.parametrize("hostile", ["a\nb", "a\r\nFAKE 200", "a\u2028b", "\x1b[31mred"])
def test_no_value_can_break_a_json_line_or_a_text_line(hostile: str) -> None:
    record = _record("got %s", hostile, header=hostile)

    json_line = JsonFormatter().format(record)
    text_line = TextFormatter().format(record)

    for line in (json_line, text_line):
        assert "\n" not in line
        assert "\r" not in line
        assert "\u2028" not in line
        assert "\x1b" not in line
    assert json.loads(json_line)["header"] == hostile


def test_exceptions_are_kept_inside_the_json_line() -> None:
    try:
        raise ValueError("bad")
    except ValueError:
        import sys

        record = logging.LogRecord("m", logging.ERROR, __file__, 1, "failed", None, sys.exc_info())
    entry = json.loads(JsonFormatter().format(record))
    assert "ValueError: bad" in entry["exception"]


def test_production_logs_are_json_and_development_logs_are_text(
    root_logging: logging.Logger, capsys: pytest.CaptureFixture[str]
) -> None:
    log = logging.getLogger("tests.format")
    install_logging(TelemetrySettings(environment="production"), None)
    log.warning("as json")
    install_logging(TelemetrySettings(environment="development"), None)
    log.warning("as text")

    json_line, text_line = capsys.readouterr().out.strip().splitlines()
    assert json.loads(json_line)["message"] == "as json"
    assert "WARNING" in text_line
    assert text_line.endswith("tests.format: as text")


def test_installing_twice_replaces_the_kits_handlers(root_logging: logging.Logger) -> None:
    install_logging(TelemetrySettings(log_level="WARNING"), None)
    install_logging(TelemetrySettings(log_level="DEBUG"), None)

    kit_handlers = [h for h in root_logging.handlers if getattr(h, _KIT_HANDLER, False)]
    assert len(kit_handlers) == 1
    assert root_logging.level == logging.DEBUG


def test_sdk_loggers_are_not_fed_back_into_the_pipeline(capotel: TelemetryCapture) -> None:
    logging.getLogger("opentelemetry.exporter.otlp").warning("export failed")
    logging.getLogger("app").warning("kept")

    assert [r.body for r in capotel.logs] == ["kept"]


def test_sdk_records_are_throttled_per_message_but_application_records_never_are() -> None:
    throttle = SdkLogThrottle(interval_s=60)
    export_failure = logging.LogRecord(
        "opentelemetry.exporter.otlp.proto.http.trace_exporter",
        logging.WARNING,
        "",
        1,
        "Failed to export %s",
        ("x",),
        None,
    )
    app_record = logging.LogRecord("service.api", logging.WARNING, "", 1, "same every time", None, None)

    passed = [throttle.filter(export_failure) for _ in range(50)]
    assert passed.count(True) == 1
    assert throttle.suppressed == 49
    assert all(throttle.filter(app_record) for _ in range(50))
