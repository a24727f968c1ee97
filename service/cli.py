"""``python -m service``: serve (default), ``token`` and ``migrate``."""

import argparse
import sys
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

import uvicorn
from pydantic import ValidationError

import otel
import service
from service.auth import create_access_token
from service.config import Settings, get_settings
from service.db import create_db_engine
from service.migrate import upgrade_to_head

DEFAULT_TOKEN_TTL_SECONDS = 3600


def _positive_int(value: str) -> int:
    number = int(value)
    if number <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive number, got {value}")
    return number


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m service", description="The MindHit recording API. Without a command, serve it."
    )
    parser.add_argument("--host", help="interface to listen on (default: HOST, else 127.0.0.1)")
    parser.add_argument("--port", type=_positive_int, help="port to listen on (default: PORT, else 8000)")
    parser.add_argument("--reload", action="store_true", help="restart on code changes (development only)")
    parser.add_argument(
        "--workers",
        type=_positive_int,
        default=1,
        help="worker processes (default: 1); each configures its own telemetry, with its own service.instance.id",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    token = commands.add_parser("token", help="print a signed access token for local use")
    token.add_argument("--user", required=True, help="the user id to put in the token's subject")
    token.add_argument("--scope", action="append", default=[], help="a scope to grant, e.g. alerts:read (repeatable)")
    token.add_argument(
        "--ttl", type=_positive_int, default=DEFAULT_TOKEN_TTL_SECONDS, help="lifetime in seconds (default: 3600)"
    )
    commands.add_parser("migrate", help="apply the database migrations up to the latest revision")
    return parser


def serve(settings: Settings, *, host: str | None, port: int | None, reload: bool, workers: int = 1) -> None:
    # Watch the code, wherever the command is run from (uvicorn would watch the working directory).
    code_dirs = [str(Path(package.__file__ or "").parent) for package in (service, otel)]
    uvicorn.run(
        "service.app:create_app",
        factory=True,
        host=host or settings.host,
        port=port or settings.port,
        reload=reload,
        reload_dirs=code_dirs if reload else None,
        # Each worker runs the lifespan, and so configures telemetry of its own: nothing is shared or reset.
        workers=workers,
        # The telemetry kit owns logging and writes the access log; uvicorn must not do either.
        log_config=None,
        access_log=False,
        log_level=settings.log_level.lower(),
    )


def issue_token(settings: Settings, *, user: str, ttl_seconds: int, scopes: Sequence[str] = ()) -> str:
    return create_access_token(
        scopes=scopes,
        subject=user,
        secret=settings.jwt_secret.get_secret_value(),
        algorithm=settings.jwt_algorithm,
        ttl=timedelta(seconds=ttl_seconds),
    )


def migrate(settings: Settings) -> str | None:
    engine = create_db_engine(settings)
    try:
        return upgrade_to_head(engine=engine, settings=settings)
    finally:
        engine.dispose()


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; the exit status is 0 on success, 2 on bad input or configuration."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = get_settings()
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'settings'}: {e['msg']}" for e in exc.errors())
        sys.stderr.write(f"invalid configuration: {problems}\n")
        return 2
    if args.command == "token":
        try:
            sys.stdout.write(issue_token(settings, user=args.user, ttl_seconds=args.ttl, scopes=args.scope) + "\n")
        except ValueError as exc:
            parser.error(str(exc))
        return 0
    if args.command == "migrate":
        revision = migrate(settings)
        sys.stdout.write(f"database schema at revision {revision}\n")
        return 0
    if args.reload and args.workers > 1:
        parser.error("--reload runs a single worker; leave out --workers")
    serve(settings, host=args.host, port=args.port, reload=args.reload, workers=args.workers)
    return 0
