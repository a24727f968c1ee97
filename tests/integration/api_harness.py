"""The in-process API under test, and how the tests act as a user of it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from fastapi.testclient import TestClient

from service.auth import create_access_token
from service.config import Settings

JWT_SECRET = "integration-tests-secret-that-is-long-enough"


def make_settings(database_url: str, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "environment": "test",
        "database_url": database_url,
        "jwt_secret": JWT_SECRET,
        # Frozen objects are never collected: hundreds of apps in one test process would pile up.
        "gc_freeze": False,
        "gc_gen0_threshold": 0,
        **overrides,
    }
    return Settings(_env_file=None, **values)  # type: ignore[arg-type]


@dataclass
class Api:
    """A running app, its settings, and a way to act as any user."""

    client: TestClient
    settings: Settings
    closed: bool = False

    def close(self) -> None:
        """Run the app's shutdown, once: what a process does when it stops."""
        if not self.closed:
            self.closed = True
            self.client.__exit__(None, None, None)

    def token(self, user: str = "alice", ttl: timedelta = timedelta(minutes=5)) -> str:
        return create_access_token(
            subject=user,
            secret=self.settings.jwt_secret.get_secret_value(),
            algorithm=self.settings.jwt_algorithm,
            ttl=ttl,
        )

    def auth(self, user: str = "alice") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(user)}"}


AppFactory = Callable[..., Api]
