"""Settings: defaults, validation, and the refusal of the development secret when deployed."""

from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import ValidationError

from service.config import DEFAULT_JWT_SECRET, Settings, get_settings

_VARIABLES = (
    "ENVIRONMENT",
    "DATABASE_URL",
    "JWT_SECRET",
    "JWT_ALGORITHM",
    "HOST",
    "PORT",
    "METRICS_TOKEN",
    "MAX_BODY_BYTES",
    "LOG_LEVEL",
)
STRONG_SECRET = "a-real-secret-that-is-long-enough-0123456789"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in _VARIABLES:
        monkeypatch.delenv(name, raising=False)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def make(**values: Any) -> Settings:
    return Settings(_env_file=None, **values)


def test_defaults_suit_local_development() -> None:
    settings = make()
    assert settings.environment == "development"
    assert settings.database_url == "sqlite:///./mindhit.db"
    assert settings.is_sqlite
    assert settings.jwt_algorithm == "HS256"
    assert (settings.host, settings.port) == ("127.0.0.1", 8000)
    assert settings.max_body_bytes == 1024 * 1024
    assert settings.metrics_token is None


@pytest.mark.parametrize("environment", ["development", "test"])
def test_default_secret_is_accepted_locally(environment: str) -> None:
    assert make(environment=environment).jwt_secret.get_secret_value() == DEFAULT_JWT_SECRET


@pytest.mark.parametrize("environment", ["staging", "production"])
def test_default_secret_is_refused_when_deployed(environment: str) -> None:
    with pytest.raises(ValidationError, match="JWT_SECRET is the development default"):
        make(environment=environment)


def test_short_secret_is_refused_in_production() -> None:
    with pytest.raises(ValidationError, match="at least 32 bytes"):
        make(environment="production", jwt_secret="short")


def test_strong_secret_is_accepted_in_production() -> None:
    assert make(environment="production", jwt_secret=STRONG_SECRET).environment == "production"


def test_values_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENVIRONMENT", "production")
    monkeypatch.setenv("JWT_SECRET", STRONG_SECRET)
    monkeypatch.setenv("DATABASE_URL", "postgresql+psycopg://mindhit@localhost/mindhit")
    monkeypatch.setenv("PORT", "9000")
    monkeypatch.setenv("LOG_LEVEL", "debug")
    monkeypatch.setenv("METRICS_TOKEN", "scrape-me")
    settings = make()
    assert settings.port == 9000
    assert settings.log_level == "DEBUG"
    assert not settings.is_sqlite
    assert settings.metrics_token is not None
    assert settings.metrics_token.get_secret_value() == "scrape-me"


def test_blank_metrics_token_means_none() -> None:
    assert make(metrics_token="").metrics_token is None


def test_unparseable_database_url_is_refused() -> None:
    with pytest.raises(ValidationError, match="DATABASE_URL is not a valid SQLAlchemy URL"):
        make(database_url="not a url")


def test_algorithm_cannot_be_changed() -> None:
    with pytest.raises(ValidationError):
        make(jwt_algorithm="none")


def test_get_settings_reads_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PORT", "9001")
    first = get_settings()
    monkeypatch.setenv("PORT", "9002")
    assert get_settings() is first
    assert first.port == 9001
