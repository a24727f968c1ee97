"""``python -m service``: token, migrate, serve, and a clear refusal of bad configuration."""

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest

from service import cli
from service.config import DEFAULT_JWT_SECRET, get_settings


@pytest.fixture(autouse=True)
def isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    # No developer .env and no inherited settings; a fresh read of the environment per test.
    monkeypatch.chdir(tmp_path)
    for name in ("ENVIRONMENT", "DATABASE_URL", "JWT_SECRET", "HOST", "PORT", "LOG_LEVEL"):
        monkeypatch.delenv(name, raising=False)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_token_prints_a_usable_jwt(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["token", "--user", "alice", "--ttl", "60"]) == 0
    token = capsys.readouterr().out.splitlines()[-1]
    claims = jwt.decode(token, DEFAULT_JWT_SECRET, algorithms=["HS256"])
    assert claims["sub"] == "alice"
    assert claims["exp"] - claims["iat"] == 60


@pytest.mark.parametrize("argv", [["token"], ["token", "--user", "u", "--ttl", "0"], ["token", "--user", "x" * 256]])
def test_token_refuses_bad_arguments(argv: list[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        cli.main(argv)
    assert exc.value.code == 2


def test_bad_configuration_is_reported_without_a_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ENVIRONMENT", "production")
    assert cli.main(["token", "--user", "alice"]) == 2
    error = capsys.readouterr().err
    assert error.startswith("invalid configuration:")
    assert "JWT_SECRET is the development default" in error
    assert "Traceback" not in error


def test_migrate_brings_the_database_to_head(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    assert cli.main(["migrate"]) == 0
    # Only the last line is ours: other tests may have left a logging handler on stdout.
    assert capsys.readouterr().out.endswith("database schema at revision 0002\n")
    assert (tmp_path / "cli.db").exists()


def test_serve_runs_the_app_factory(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[tuple[Any, ...], dict[str, Any]]] = []
    monkeypatch.setattr("uvicorn.run", lambda *args, **kwargs: calls.append((args, kwargs)))
    monkeypatch.setenv("PORT", "8123")
    assert cli.main(["--reload"]) == 0
    (args, kwargs) = calls[0]
    assert args == ("service.app:create_app",)
    assert kwargs["factory"] is True
    assert (kwargs["host"], kwargs["port"], kwargs["reload"]) == ("127.0.0.1", 8123, True)
    assert kwargs["log_config"] is None
    assert any(path.endswith("service") for path in kwargs["reload_dirs"])
    assert kwargs["access_log"] is False


def test_serve_flags_override_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr("uvicorn.run", lambda *args, **kwargs: calls.append(kwargs))
    assert cli.main(["--host", "0.0.0.0", "--port", "9000"]) == 0  # noqa: S104
    assert (calls[0]["host"], calls[0]["port"], calls[0]["reload"]) == ("0.0.0.0", 9000, False)  # noqa: S104
