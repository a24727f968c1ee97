"""Parts of the telemetry the cost tools can leave out, to price each one.

``BENCH_WITHOUT=db-histogram,alerts`` in a variant's environment (``benchmarks.instructions``,
``benchmarks.inprocess`` and ``benchmarks.variants``) removes those parts from that copy of the service;
its difference to the instrumented copy is what they cost. The service has no switch for them, and should
not: each is part of the telemetry's content. So they are removed here, in the measuring process only, by
replacing the one function that does the work.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, Final

from benchmarks._procs import BenchError

ENV: Final = "BENCH_WITHOUT"
# What the request log's record repeats from the server span it points at.
SPAN_REPEATS: Final = frozenset(
    {
        "http.request.method",
        "http.route",
        "url.path",
        "http.response.status_code",
        "client.address",
        "user_agent.original",
    }
)
Replace = Callable[[Any, str, Any], None]  # ``setattr``, or a test's ``monkeypatch.setattr``


def _skip_histogram(name: str, replace: Replace) -> None:
    """Measurements of the histogram ``name`` stop before the SDK sees them."""
    from opentelemetry.sdk.metrics import Histogram

    record = Histogram.record

    def record_unless_skipped(self: Any, amount: float, attributes: Any = None, context: Any = None) -> None:
        if self.name != name:
            record(self, amount, attributes, context)

    replace(Histogram, "record", record_unless_skipped)


def _no_log_bridge(replace: Replace) -> None:
    """No stdlib record reaches the OTel Logs SDK; the console still writes every one."""
    from otel._logging import OTelLogHandler

    replace(OTelLogHandler, "emit", lambda self, record: None)


def _no_span_repeats_in_logs(replace: Replace) -> None:
    """Log records go to the OTel SDK without the attributes the server span also holds."""
    from otel import _logging

    attributes_of = _logging._otel_attributes

    def without_repeats(record: Any) -> dict[str, Any]:
        return {key: value for key, value in attributes_of(record).items() if key not in SPAN_REPEATS}

    replace(_logging, "_otel_attributes", without_repeats)


def _no_alert_rules(replace: Replace) -> None:
    """Ended spans are not evaluated by the alert rules."""
    from otel.alerts._span_processor import AlertSpanProcessor

    replace(AlertSpanProcessor, "on_end", lambda self, span: None)


PARTS: Final[dict[str, Callable[[Replace], None]]] = {
    "http-histogram": lambda replace: _skip_histogram("http.server.request.duration", replace),
    "db-histogram": lambda replace: _skip_histogram("db.client.operation.duration", replace),
    "log-bridge": _no_log_bridge,
    "log-span-repeats": _no_span_repeats_in_logs,
    "alerts": _no_alert_rules,
}


def leave_out(names: str | None = None, replace: Replace = setattr) -> list[str]:
    """Remove the parts named in ``names`` (default: ``$BENCH_WITHOUT``), comma-separated; returns them."""
    requested = os.environ.get(ENV, "") if names is None else names
    parts = [name.strip() for name in requested.split(",") if name.strip()]
    unknown = [name for name in parts if name not in PARTS]
    if unknown:
        raise BenchError(f"{ENV}: no part named {', '.join(unknown)}; the parts are {', '.join(PARTS)}")
    for name in parts:
        PARTS[name](replace)
    return parts
