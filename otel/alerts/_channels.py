"""Which delivery channels run, decided once at start from the environment.

A channel without its configuration is skipped with one WARNING that names the missing variables:
a development machine without a Slack token must still start, and the operator must still be told
why no message arrives. Never ERROR: an ERROR record would itself become an alert.
"""

from __future__ import annotations

import logging
from typing import Any

from pydantic import AliasChoices, Field, SecretStr, ValidationError, ValidatorFunctionWrapHandler, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from otel.alerts._model import Channel
from otel.alerts._slack import DEFAULT_API_URL, SlackChannel

logger = logging.getLogger(__name__)


class AlertChannelSettings(BaseSettings):
    """Credentials and endpoints of the channels; secrets stay ``SecretStr`` so they never print."""

    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", validate_by_name=True, validate_by_alias=True
    )

    slack_token: SecretStr | None = Field(None, validation_alias=AliasChoices("SLACK_TOKEN"))
    slack_channel: str | None = Field(None, validation_alias=AliasChoices("SLACK_CHANNEL"))
    slack_api_url: str = Field(DEFAULT_API_URL, validation_alias=AliasChoices("SLACK_API_URL"))
    sentry_dsn: SecretStr | None = Field(None, validation_alias=AliasChoices("SENTRY_DSN"))
    environment: str = Field("development", validation_alias=AliasChoices("ENVIRONMENT", "DEPLOYMENT_ENVIRONMENT"))
    release: str | None = Field(None, validation_alias=AliasChoices("SENTRY_RELEASE"))
    timeout_s: float = Field(5.0, gt=0, le=60, validation_alias=AliasChoices("ALERT_CHANNEL_TIMEOUT_SECONDS"))

    @field_validator("slack_token", "slack_channel", "sentry_dsn", "release", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: Any) -> Any:
        # SLACK_TOKEN= in a .env file means "not configured", not "configured with an empty token".
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("slack_api_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("https://", "http://")):
            raise ValueError("must be an http(s) URL")
        return value

    @field_validator("slack_api_url", "timeout_s", mode="wrap")
    @classmethod
    def _fall_back_on_bad_value(cls, value: Any, handler: ValidatorFunctionWrapHandler, info: Any) -> Any:
        try:
            return handler(value)
        except ValidationError as exc:
            field = cls.model_fields[info.field_name]
            alias = field.validation_alias
            name = alias.choices[0] if isinstance(alias, AliasChoices) else info.field_name
            logger.warning(
                "ignoring invalid alert setting %s (%s); using %r", name, exc.errors()[0]["msg"], field.default
            )
            return field.default


def build_channels(settings: AlertChannelSettings | None = None) -> list[Channel]:
    """The channels that have what they need; each one that does not is named in one warning."""
    settings = settings or AlertChannelSettings()
    channels: list[Channel] = []
    if slack := _slack(settings):
        channels.append(slack)
    if sentry := _sentry(settings):
        channels.append(sentry)
    return channels


def _slack(settings: AlertChannelSettings) -> Channel | None:
    token, channel = settings.slack_token, settings.slack_channel
    if token is None or channel is None:
        missing = [name for name, value in (("SLACK_TOKEN", token), ("SLACK_CHANNEL", channel)) if value is None]
        logger.warning(
            "Slack alerts disabled: %s %s not set", " and ".join(missing), "is" if len(missing) == 1 else "are"
        )
        return None
    try:
        return SlackChannel(
            token=token.get_secret_value().strip(),
            channel=channel.strip(),
            api_url=settings.slack_api_url,
            timeout_s=settings.timeout_s,
        )
    except Exception as exc:  # e.g. a malformed proxy variable; the service starts without Slack
        logger.warning("Slack alerts disabled: the client could not be created (%s)", type(exc).__name__)
        return None


def _sentry(settings: AlertChannelSettings) -> Channel | None:
    if settings.sentry_dsn is None:
        logger.warning("Sentry alerts disabled: SENTRY_DSN is not set")
        return None
    # Imported here so that a service without Sentry never loads the SDK.
    from otel.alerts._sentry import SentryChannel

    try:
        return SentryChannel(
            dsn=settings.sentry_dsn.get_secret_value().strip(),
            environment=settings.environment,
            release=settings.release,
            timeout_s=settings.timeout_s,
        )
    except Exception as exc:  # a malformed DSN must not stop the service; its text may hold the key
        logger.warning("Sentry alerts disabled: SENTRY_DSN is not a valid DSN (%s)", type(exc).__name__)
        return None
