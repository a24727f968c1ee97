"""Settings from the environment: standard names, precedence, fallbacks."""

from __future__ import annotations

import logging
import os

import pytest
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased

from otel import TelemetrySettings
from otel._batch import LOG_BATCH, SPAN_BATCH
from otel._config import BatchOptions
from otel._exporters import OtlpTarget
from otel._resource import build_resource
from otel._sampling import build_sampler


def test_standard_variables_are_honoured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    monkeypatch.setenv("OTEL_SERVICE_NAME", "svc")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4317")
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", "parentbased_traceidratio")
    monkeypatch.setenv("OTEL_TRACES_SAMPLER_ARG", "0.25")
    monkeypatch.setenv("OTEL_METRIC_EXPORT_INTERVAL", "5000")

    settings = TelemetrySettings()

    assert settings.sdk_disabled is True
    assert settings.service_name == "svc"
    assert settings.metric_export_interval_ms == 5000
    sampler = build_sampler(settings)
    assert isinstance(sampler, ParentBased)
    assert "TraceIdRatioBased{0.25}" in sampler.get_description()
    target = OtlpTarget.for_signal(settings, "traces")
    assert (target.endpoint, target.grpc, target.insecure) == ("http://collector:4317", True, True)


def test_batch_processor_settings_default_to_the_sdks_and_convert_milliseconds(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in [name for name in os.environ if name.startswith(("OTEL_BSP_", "OTEL_BLRP_"))]:
        monkeypatch.delenv(name)
    defaults = TelemetrySettings(_env_file=None)  # type: ignore[call-arg]  # pydantic-settings' own argument
    assert (defaults.span_batch, defaults.log_batch) == (SPAN_BATCH, LOG_BATCH)
    assert (SPAN_BATCH.schedule_delay_s, LOG_BATCH.schedule_delay_s) == (5.0, 1.0)

    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "250")
    monkeypatch.setenv("OTEL_BLRP_MAX_QUEUE_SIZE", "64")
    monkeypatch.setenv("OTEL_BLRP_EXPORT_TIMEOUT", "1500")
    settings = TelemetrySettings(_env_file=None)  # type: ignore[call-arg]

    assert settings.span_batch == BatchOptions(2048, 512, 0.25, 30.0)
    assert settings.log_batch == BatchOptions(64, 512, 1.0, 1.5)


def test_bad_values_log_once_and_fall_back(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setenv("OTEL_METRIC_EXPORT_INTERVAL", "soon")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "carrier-pigeon")

    with caplog.at_level(logging.WARNING):
        settings = TelemetrySettings()

    assert settings.metric_export_interval_ms == 60_000
    assert settings.exporter_otlp_protocol == "http/protobuf"
    messages = [r.getMessage() for r in caplog.records]
    assert any("OTEL_METRIC_EXPORT_INTERVAL='soon'" in m for m in messages)
    assert any("OTEL_EXPORTER_OTLP_PROTOCOL='carrier-pigeon'" in m for m in messages)


def test_unknown_sampler_falls_back_to_parent_based_always_on(caplog: pytest.LogCaptureFixture) -> None:
    sampler = build_sampler(TelemetrySettings(traces_sampler="sometimes"))
    assert isinstance(sampler, ParentBased)
    assert sampler.get_description().startswith("ParentBased{root:AlwaysOnSampler,")
    assert "unknown OTEL_TRACES_SAMPLER 'sometimes'" in caplog.text


def test_ratio_sampler_uses_its_argument() -> None:
    sampler = build_sampler(TelemetrySettings(traces_sampler="traceidratio", traces_sampler_arg=0.1))
    assert isinstance(sampler, TraceIdRatioBased)
    assert sampler.rate == 0.1


def test_http_endpoints_get_the_signal_path_and_specific_endpoints_win() -> None:
    settings = TelemetrySettings(
        exporter_otlp_endpoint="http://collector:4318/",
        exporter_otlp_logs_endpoint="http://logs:9999/custom",
        exporter_otlp_headers="api-key=s3cr%3Dt,x-tenant=a",
    )
    assert OtlpTarget.for_signal(settings, "traces").endpoint == "http://collector:4318/v1/traces"
    assert OtlpTarget.for_signal(settings, "metrics").endpoint == "http://collector:4318/v1/metrics"
    assert OtlpTarget.for_signal(settings, "logs").endpoint == "http://logs:9999/custom"
    assert OtlpTarget.for_signal(settings, "traces").headers == {"api-key": "s3cr=t", "x-tenant": "a"}


def test_resource_precedence_service_name_variable_then_attributes_then_default() -> None:
    from_attributes = build_resource(
        TelemetrySettings(resource_attributes="service.name=from-attrs,team=obs", environment="staging"),
        service_version="1.2.3",
        default_service_name="code-default",
    )
    assert from_attributes.attributes["service.name"] == "from-attrs"
    assert from_attributes.attributes["team"] == "obs"
    assert from_attributes.attributes["deployment.environment.name"] == "staging"
    assert from_attributes.attributes["service.version"] == "1.2.3"

    overridden = build_resource(
        TelemetrySettings(service_name="from-var", resource_attributes="service.name=from-attrs"),
        service_version="1",
        default_service_name="code-default",
    )
    assert overridden.attributes["service.name"] == "from-var"


def test_each_configuration_gets_its_own_instance_id() -> None:
    settings = TelemetrySettings()
    first = build_resource(settings, service_version="1", default_service_name="a")
    second = build_resource(settings, service_version="1", default_service_name="a")
    assert first.attributes["service.instance.id"] != second.attributes["service.instance.id"]


def test_excluded_urls_and_log_format() -> None:
    settings = TelemetrySettings(excluded_urls=" /health , /ready,", log_format="json", environment="development")
    assert settings.excluded_paths == frozenset({"/health", "/ready"})
    assert settings.json_logs is True
