"""Catching an instrumentation that silently did nothing: run a probe, look at what it emitted."""

from __future__ import annotations

from collections.abc import Callable

from opentelemetry.sdk.trace import ReadableSpan

from otel.testing._metrics import MetricsView, describe_names
from otel.testing._recording import Recording
from otel.testing._render import describe_span
from otel.testing._spans import SpanCriteria


def check_probe(
    recording: Recording,
    metrics: MetricsView,
    probe: Callable[[], object],
    criteria: SpanCriteria,
    metric: str | None,
    *,
    expected: bool = True,
) -> list[ReadableSpan]:
    """Run ``probe`` with its telemetry set aside; fail unless it emitted a match (or, not ``expected``, if it did)."""
    mark = recording.mark()
    try:
        with metrics.set_aside() as measured:
            probe()
    finally:
        emitted = recording.take_since(mark)
    matching = [span for span in emitted if criteria(span)]
    found = bool(matching) if metric is None else metric in measured
    if found == expected:
        return matching
    if metric is not None:
        wanted = f"point of metric {metric!r}"
    else:
        described = criteria.describe()
        wanted = "span" if described == "any span" else f"span with {described}"
    spans = "\n".join(f"  - {describe_span(s)} [scope {_scope(s)!r}]" for s in emitted) or "  (no spans)"
    names = describe_names(measured)
    if expected:
        headline = (
            f"the probe emitted no {wanted}: the instrumentation did not take effect "
            "(an instrumentor that refuses a library version only logs a warning and patches nothing)"
        )
    else:
        headline = f"the probe still emitted a {wanted}: the instrumentation is still active"
    raise AssertionError(f"{headline}\nspans the probe emitted:\n{spans}\nmetrics the probe recorded: {names}")


def _scope(span: ReadableSpan) -> str:
    return span.instrumentation_scope.name if span.instrumentation_scope else ""
