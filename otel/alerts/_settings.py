"""Alert rules and dispatch limits, read once from the environment."""

from __future__ import annotations

import logging
from typing import Any

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

logger = logging.getLogger(__name__)


class AlertSettings(BaseSettings):
    """When spans and log records become alerts, and how hard the dispatcher may push them out."""

    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", validate_by_name=True, validate_by_alias=True
    )

    enabled: bool = Field(True, validation_alias=AliasChoices("ALERTS_ENABLED"))
    slow_request_seconds: float = Field(2.0, gt=0, validation_alias=AliasChoices("ALERT_SLOW_REQUEST_SECONDS"))
    # Per-route thresholds, "route=seconds" pairs: "/api/v1/sessions=0.5,/api/v1/sessions/{session_id}/events=1"
    slow_routes: dict[str, float] = Field(default_factory=dict, validation_alias=AliasChoices("ALERT_SLOW_ROUTES"))
    cooldown_seconds: float = Field(300, ge=0, validation_alias=AliasChoices("ALERT_COOLDOWN_SECONDS"))
    rate_limit_per_minute: int = Field(30, gt=0, validation_alias=AliasChoices("ALERT_RATE_LIMIT_PER_MINUTE"))
    queue_size: int = Field(1000, gt=0, validation_alias=AliasChoices("ALERT_QUEUE_SIZE"))
    poll_seconds: float = Field(2.0, gt=0, validation_alias=AliasChoices("ALERT_POLL_SECONDS"))
    retry_base_seconds: float = Field(2.0, gt=0, validation_alias=AliasChoices("ALERT_RETRY_BASE_SECONDS"))
    retry_max_seconds: float = Field(300.0, gt=0, validation_alias=AliasChoices("ALERT_RETRY_MAX_SECONDS"))
    max_attempts: int = Field(20, gt=0, validation_alias=AliasChoices("ALERT_MAX_ATTEMPTS"))
    grafana_url: str | None = Field(None, validation_alias=AliasChoices("GRAFANA_URL"))
    grafana_trace_datasource: str = Field("tempo", validation_alias=AliasChoices("GRAFANA_TRACE_DATASOURCE_UID"))

    @field_validator("slow_routes", mode="before")
    @classmethod
    def _parse_pairs(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        pairs: dict[str, float] = {}
        for item in filter(None, (part.strip() for part in value.split(","))):
            route, _, seconds = item.rpartition("=")
            try:
                pairs[route.strip()] = float(seconds)
            except ValueError:
                logger.warning("ignoring malformed ALERT_SLOW_ROUTES entry %r", item)
        return pairs

    def slow_threshold(self, route: str | None) -> float:
        return self.slow_routes.get(route or "", self.slow_request_seconds)
