"""Service settings, read once from the environment.

Telemetry settings (``OTEL_*``, ``LOG_FORMAT``) belong to the ``otel`` kit and are not repeated here.
"""

from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal, Self
from urllib.parse import urlsplit

from pydantic import BeforeValidator, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

Environment = Literal["development", "test", "staging", "production"]
LogLevel = Annotated[
    Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"],
    BeforeValidator(lambda value: value.upper() if isinstance(value, str) else value),
]

# Long enough for HS256 (RFC 7518 wants a key at least as long as the hash) so local runs and tests
# never trip PyJWT's key-length checks; refused outside development and test.
DEFAULT_JWT_SECRET = "mindhit-development-only-jwt-secret-do-not-deploy"  # noqa: S105
MIN_JWT_SECRET_BYTES = 32
_LOCAL_ENVIRONMENTS = frozenset({"development", "test"})


class Settings(BaseSettings):
    """Everything the service reads from its environment (or a local ``.env``)."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore", frozen=True)

    environment: Environment = "development"
    database_url: str = "sqlite:///./mindhit.db"
    jwt_secret: SecretStr = SecretStr(DEFAULT_JWT_SECRET)
    # Fixed: accepting the algorithm from configuration invites algorithm-confusion mistakes.
    jwt_algorithm: Literal["HS256"] = "HS256"
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    metrics_token: SecretStr | None = None
    max_body_bytes: int = Field(default=1024 * 1024, ge=1)
    # Bearer token Alertmanager sends to POST /api/v1/alerts/alertmanager; or a file that holds it.
    alertmanager_webhook_token: SecretStr | None = None
    alertmanager_webhook_token_file: Path | None = None
    log_level: LogLevel = "INFO"
    # Origins allowed to call the API from a browser (comma-separated, e.g. chrome-extension://<id>);
    # empty keeps CORS closed. "*" is refused: every origin must be named.
    cors_allow_origins: str = ""
    # Garbage collection tuned once started (service/app.py): tests that build many apps in one process
    # turn the freeze off; a threshold of 0 keeps the interpreter's default (700).
    gc_freeze: bool = True
    gc_gen0_threshold: int = Field(default=20_000, ge=0)

    @field_validator("database_url")
    @classmethod
    def _parseable_url(cls, value: str) -> str:
        try:
            make_url(value)
        except ArgumentError as exc:
            raise ValueError(f"DATABASE_URL is not a valid SQLAlchemy URL: {exc}") from None
        return value

    @field_validator("metrics_token")
    @classmethod
    def _blank_token_is_unset(cls, value: SecretStr | None) -> SecretStr | None:
        # METRICS_TOKEN= in a .env file means "no token", not "the empty token".
        return value if value is not None and value.get_secret_value() else None

    @field_validator("cors_allow_origins")
    @classmethod
    def _named_origins(cls, value: str) -> str:
        for origin in _split(value):
            parts = urlsplit(origin)
            if origin == "*" or not parts.scheme or not parts.netloc or parts.path or parts.query or parts.fragment:
                raise ValueError(f"CORS_ALLOW_ORIGINS: {origin!r} is not an origin like https://app.example.com")
        return value

    @property
    def cors_origins(self) -> tuple[str, ...]:
        return _split(self.cors_allow_origins)

    @property
    def webhook_token(self) -> str | None:
        """The Alertmanager webhook token, from the variable or else its file (read at each call: rotation)."""
        if self.alertmanager_webhook_token is not None and self.alertmanager_webhook_token.get_secret_value():
            return self.alertmanager_webhook_token.get_secret_value()
        if self.alertmanager_webhook_token_file is not None:
            return self.alertmanager_webhook_token_file.read_text().strip() or None
        return None

    @model_validator(mode="after")
    def _refuse_weak_secret_when_deployed(self) -> Self:
        if self.environment in _LOCAL_ENVIRONMENTS:
            return self
        secret = self.jwt_secret.get_secret_value()
        if secret == DEFAULT_JWT_SECRET:
            raise ValueError(
                f"JWT_SECRET is the development default; set a real secret for ENVIRONMENT={self.environment}"
            )
        if len(secret.encode()) < MIN_JWT_SECRET_BYTES:
            raise ValueError(f"JWT_SECRET must be at least {MIN_JWT_SECRET_BYTES} bytes outside development")
        return self

    @property
    def is_sqlite(self) -> bool:
        """SQLite is the embedded default: migrated at start-up rather than by ``migrate``."""
        return make_url(self.database_url).get_backend_name() == "sqlite"


def _split(value: str) -> tuple[str, ...]:
    return tuple(item.strip().rstrip("/") for item in value.split(",") if item.strip())


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings; ``create_app`` accepts an explicit one for tests."""
    return Settings()
