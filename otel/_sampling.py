"""Turns OTEL_TRACES_SAMPLER / _ARG into a sampler, falling back to the SDK default on a bad name."""

from __future__ import annotations

import logging

from opentelemetry.sdk.trace.sampling import (
    ALWAYS_OFF,
    ALWAYS_ON,
    ParentBased,
    Sampler,
    TraceIdRatioBased,
)

from otel._config import TelemetrySettings

logger = logging.getLogger(__name__)

DEFAULT_SAMPLER = "parentbased_always_on"


def build_sampler(settings: TelemetrySettings) -> Sampler:
    ratio = 1.0 if settings.traces_sampler_arg is None else settings.traces_sampler_arg
    name = settings.traces_sampler.strip().lower()
    samplers: dict[str, Sampler] = {
        "always_on": ALWAYS_ON,
        "always_off": ALWAYS_OFF,
        "traceidratio": TraceIdRatioBased(ratio),
        "parentbased_always_on": ParentBased(ALWAYS_ON),
        "parentbased_always_off": ParentBased(ALWAYS_OFF),
        "parentbased_traceidratio": ParentBased(TraceIdRatioBased(ratio)),
    }
    if name not in samplers:
        logger.warning("unknown OTEL_TRACES_SAMPLER %r; using %s", settings.traces_sampler, DEFAULT_SAMPLER)
        name = DEFAULT_SAMPLER
    return samplers[name]
