"""Channels come from the environment; one without configuration is skipped with one warning."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from fake_slack import running_fake_slack

from otel.alerts import Alert, Severity
from otel.alerts._channels import AlertChannelSettings, build_channels
from otel.alerts._model import Channel

_VARIABLES = (
    "SLACK_TOKEN",
    "SLACK_CHANNEL",
    "SLACK_API_URL",
    "SENTRY_DSN",
    "SENTRY_RELEASE",
    "ENVIRONMENT",
    "DEPLOYMENT_ENVIRONMENT",
    "ALERT_CHANNEL_TIMEOUT_SECONDS",
)
_LOGGER = "otel.alerts._channels"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in _VARIABLES:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def built() -> Iterator[list[list[Channel]]]:
    """Channels the test built, closed afterwards."""
    results: list[list[Channel]] = []
    yield results
    for channels in results:
        for channel in channels:
            channel.close()


def _build(built: list[list[Channel]], **values: object) -> list[Channel]:
    channels = build_channels(AlertChannelSettings(_env_file=None, **values))
    built.append(channels)
    return channels


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    return [r.getMessage() for r in caplog.records if r.name == _LOGGER and r.levelno == logging.WARNING]


def test_without_configuration_each_channel_is_skipped_with_one_warning(
    caplog: pytest.LogCaptureFixture, built: list[list[Channel]]
) -> None:
    with caplog.at_level(logging.DEBUG):
        channels = _build(built)

    assert channels == []
    assert _warnings(caplog) == [
        "Slack alerts disabled: SLACK_TOKEN and SLACK_CHANNEL are not set",
        "Sentry alerts disabled: SENTRY_DSN is not set",
    ]


def test_the_warning_names_only_what_is_missing(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, built: list[list[Channel]]
) -> None:
    monkeypatch.setenv("SLACK_TOKEN", "xoxb-secret-token")
    monkeypatch.setenv("SENTRY_DSN", "http://key@127.0.0.1:9/1")

    with caplog.at_level(logging.DEBUG):
        channels = _build(built)

    assert [channel.name for channel in channels] == ["sentry"]
    assert _warnings(caplog) == ["Slack alerts disabled: SLACK_CHANNEL is not set"]
    assert "xoxb-secret-token" not in caplog.text


def test_configured_channels_are_built_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, built: list[list[Channel]]
) -> None:
    monkeypatch.setenv("SLACK_TOKEN", "xoxb-1")
    monkeypatch.setenv("SLACK_CHANNEL", "#alerts")
    monkeypatch.setenv("SENTRY_DSN", "http://key@127.0.0.1:9/1")
    monkeypatch.setenv("ENVIRONMENT", "production")
    monkeypatch.setenv("ALERT_CHANNEL_TIMEOUT_SECONDS", "2.5")

    with caplog.at_level(logging.DEBUG):
        channels = _build(built)
    settings = AlertChannelSettings(_env_file=None)

    assert [channel.name for channel in channels] == ["slack", "sentry"]
    assert _warnings(caplog) == []
    assert (settings.environment, settings.timeout_s) == ("production", 2.5)
    assert "xoxb-1" not in repr(settings)
    assert "key@" not in repr(settings)


def test_blank_values_count_as_missing(monkeypatch: pytest.MonkeyPatch, built: list[list[Channel]]) -> None:
    monkeypatch.setenv("SLACK_TOKEN", "  ")
    monkeypatch.setenv("SLACK_CHANNEL", "#alerts")
    monkeypatch.setenv("SENTRY_DSN", "")

    assert _build(built) == []


def test_a_malformed_dsn_disables_sentry_without_printing_it(
    caplog: pytest.LogCaptureFixture, built: list[list[Channel]]
) -> None:
    with caplog.at_level(logging.DEBUG):
        channels = _build(built, sentry_dsn="ftp://very-secret-key@sentry.example/1")

    assert channels == []
    assert "Sentry alerts disabled: SENTRY_DSN is not a valid DSN (BadDsn)" in _warnings(caplog)
    assert "very-secret-key" not in caplog.text


def test_bad_values_log_once_and_fall_back(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setenv("SLACK_API_URL", "slack.example/api")
    monkeypatch.setenv("ALERT_CHANNEL_TIMEOUT_SECONDS", "soon")

    with caplog.at_level(logging.DEBUG):
        settings = AlertChannelSettings(_env_file=None)

    assert settings.slack_api_url == "https://slack.com/api/"
    assert settings.timeout_s == 5.0
    warnings = _warnings(caplog)
    assert len(warnings) == 2
    assert any("SLACK_API_URL" in message for message in warnings)
    assert any("ALERT_CHANNEL_TIMEOUT_SECONDS" in message for message in warnings)


def test_slack_api_url_points_the_same_code_at_another_server(
    monkeypatch: pytest.MonkeyPatch, built: list[list[Channel]]
) -> None:
    with running_fake_slack() as slack:
        monkeypatch.setenv("SLACK_TOKEN", slack.token)
        monkeypatch.setenv("SLACK_CHANNEL", "#alerts")
        monkeypatch.setenv("SLACK_API_URL", slack.api_url)
        [channel] = _build(built)

        channel.send(
            Alert(
                severity=Severity.WARNING,
                title="slow",
                message="p95 above 2s",
                service="mindhit-api",
                environment="test",
                source="span",
                fingerprint="f",
            )
        )

        assert [request.body["channel"] for request in slack.requests] == ["#alerts"]
