"""Telemetry settings, read once from the environment.

Standard ``OTEL_*`` names are honoured so that operators can steer the kit exactly as they would any
OpenTelemetry SDK. A malformed value is logged once and replaced by its default, as the reference SDK
does, because a typo in an observability knob must never stop the service from starting.
"""

from __future__ import annotations

import logging
from typing import Any, Literal, NamedTuple

from pydantic import AliasChoices, Field, ValidationError, ValidatorFunctionWrapHandler, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

logger = logging.getLogger(__name__)

Protocol = Literal["grpc", "http/protobuf"]
ExporterName = Literal["otlp", "console", "none"]
LogFormat = Literal["auto", "text", "json"]

DEFAULT_EXCLUDED_URLS = "/health,/ready,/metrics"


class BatchOptions(NamedTuple):
    """One batch processor's settings (``OTEL_BSP_*`` or ``OTEL_BLRP_*``), in the units it uses."""

    max_queue_size: int = 2048
    max_batch_size: int = 512
    schedule_delay_s: float = 5.0
    export_timeout_s: float = 30.0


def _env(*names: str) -> Any:
    """Environment names for one field: the first is canonical, the rest are accepted aliases."""
    return AliasChoices(*names)


class TelemetrySettings(BaseSettings):
    """Everything the kit needs to know, from ``OTEL_*`` variables and a few service-wide ones."""

    # Like the service's settings, a local .env file fills in what the environment does not set.
    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", validate_by_name=True, validate_by_alias=True
    )

    sdk_disabled: bool = Field(False, validation_alias=_env("OTEL_SDK_DISABLED"))
    service_name: str | None = Field(None, validation_alias=_env("OTEL_SERVICE_NAME"))
    resource_attributes: str = Field("", validation_alias=_env("OTEL_RESOURCE_ATTRIBUTES"))
    environment: str = Field("development", validation_alias=_env("ENVIRONMENT", "DEPLOYMENT_ENVIRONMENT"))

    traces_exporter: ExporterName = Field("otlp", validation_alias=_env("OTEL_TRACES_EXPORTER"))
    metrics_exporter: ExporterName = Field("otlp", validation_alias=_env("OTEL_METRICS_EXPORTER"))
    logs_exporter: ExporterName = Field("otlp", validation_alias=_env("OTEL_LOGS_EXPORTER"))

    exporter_otlp_protocol: Protocol = Field("http/protobuf", validation_alias=_env("OTEL_EXPORTER_OTLP_PROTOCOL"))
    exporter_otlp_endpoint: str | None = Field(None, validation_alias=_env("OTEL_EXPORTER_OTLP_ENDPOINT"))
    exporter_otlp_traces_endpoint: str | None = Field(None, validation_alias=_env("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))
    exporter_otlp_metrics_endpoint: str | None = Field(
        None, validation_alias=_env("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT")
    )
    exporter_otlp_logs_endpoint: str | None = Field(None, validation_alias=_env("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT"))
    exporter_otlp_headers: str = Field("", validation_alias=_env("OTEL_EXPORTER_OTLP_HEADERS"))
    exporter_otlp_timeout_ms: int = Field(10_000, gt=0, validation_alias=_env("OTEL_EXPORTER_OTLP_TIMEOUT"))

    traces_sampler: str = Field("parentbased_always_on", validation_alias=_env("OTEL_TRACES_SAMPLER"))
    traces_sampler_arg: float | None = Field(None, ge=0, le=1, validation_alias=_env("OTEL_TRACES_SAMPLER_ARG"))

    # The batch processors (``otel._batch``), with the SDK's variables and defaults.
    bsp_schedule_delay_ms: int = Field(5000, gt=0, validation_alias=_env("OTEL_BSP_SCHEDULE_DELAY"))
    bsp_export_timeout_ms: int = Field(30_000, gt=0, validation_alias=_env("OTEL_BSP_EXPORT_TIMEOUT"))
    bsp_max_queue_size: int = Field(2048, gt=0, validation_alias=_env("OTEL_BSP_MAX_QUEUE_SIZE"))
    bsp_max_export_batch_size: int = Field(512, gt=0, validation_alias=_env("OTEL_BSP_MAX_EXPORT_BATCH_SIZE"))
    blrp_schedule_delay_ms: int = Field(1000, gt=0, validation_alias=_env("OTEL_BLRP_SCHEDULE_DELAY"))
    blrp_export_timeout_ms: int = Field(30_000, gt=0, validation_alias=_env("OTEL_BLRP_EXPORT_TIMEOUT"))
    blrp_max_queue_size: int = Field(2048, gt=0, validation_alias=_env("OTEL_BLRP_MAX_QUEUE_SIZE"))
    blrp_max_export_batch_size: int = Field(512, gt=0, validation_alias=_env("OTEL_BLRP_MAX_EXPORT_BATCH_SIZE"))
    # The whole flush at shutdown, every signal together: a Collector that is down or silent must not
    # keep the process past its grace period (the SDK alone can take a minute or more).
    shutdown_timeout_ms: int = Field(10_000, gt=0, validation_alias=_env("TELEMETRY_SHUTDOWN_TIMEOUT"))

    metric_export_interval_ms: int = Field(60_000, gt=0, validation_alias=_env("OTEL_METRIC_EXPORT_INTERVAL"))
    metric_export_timeout_ms: int = Field(30_000, gt=0, validation_alias=_env("OTEL_METRIC_EXPORT_TIMEOUT"))
    metrics_endpoint_enabled: bool = Field(True, validation_alias=_env("METRICS_ENDPOINT_ENABLED"))

    excluded_urls: str = Field(
        DEFAULT_EXCLUDED_URLS,
        validation_alias=_env("OTEL_PYTHON_FASTAPI_EXCLUDED_URLS", "OTEL_PYTHON_EXCLUDED_URLS"),
    )

    fastapi_operation_spans: bool = Field(False, validation_alias=_env("OTEL_PYTHON_FASTAPI_OPERATION_SPANS"))
    # Methods outside this list are recorded as "_OTHER" (the convention's guard against cardinality).
    http_known_methods: str = Field("", validation_alias=_env("OTEL_INSTRUMENTATION_HTTP_KNOWN_METHODS"))

    log_level: str = Field("INFO", validation_alias=_env("LOG_LEVEL"))
    log_format: LogFormat = Field("auto", validation_alias=_env("LOG_FORMAT"))

    @field_validator("*", mode="wrap")
    @classmethod
    def _fall_back_on_bad_value(cls, value: Any, handler: ValidatorFunctionWrapHandler, info: Any) -> Any:
        try:
            return handler(value)
        except ValidationError as exc:
            field = cls.model_fields[info.field_name]
            alias = field.validation_alias
            name = alias.choices[0] if isinstance(alias, AliasChoices) else info.field_name
            logger.warning(
                "ignoring invalid telemetry setting %s=%r (%s); using %r",
                name,
                value,
                exc.errors()[0]["msg"],
                field.default,
            )
            return field.default

    @property
    def json_logs(self) -> bool:
        """JSON lines everywhere but a developer's terminal, where text reads better."""
        if self.log_format == "auto":
            return self.environment not in {"development", "dev", "local"}
        return self.log_format == "json"

    @property
    def span_batch(self) -> BatchOptions:
        return BatchOptions(
            self.bsp_max_queue_size,
            self.bsp_max_export_batch_size,
            self.bsp_schedule_delay_ms / 1000,
            self.bsp_export_timeout_ms / 1000,
        )

    @property
    def log_batch(self) -> BatchOptions:
        return BatchOptions(
            self.blrp_max_queue_size,
            self.blrp_max_export_batch_size,
            self.blrp_schedule_delay_ms / 1000,
            self.blrp_export_timeout_ms / 1000,
        )

    @property
    def excluded_paths(self) -> frozenset[str]:
        return frozenset(p.strip() for p in self.excluded_urls.split(",") if p.strip())
