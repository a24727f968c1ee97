"""Browser-facing hardening: security headers on every response, and CORS closed unless configured.

The API speaks JSON to the MindHit extension and to scripts; nothing it returns should be framed,
sniffed into another type, cached by an intermediary or leak the page it was requested from. Swagger UI
and ReDoc (``/docs``, ``/redoc``) load their scripts from a CDN, so they are spared the strict
Content-Security-Policy and keep the other headers.
"""

from collections.abc import Iterable
from typing import Final

from fastapi import FastAPI
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

SECURITY_HEADERS: Final[tuple[tuple[bytes, bytes], ...]] = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-resource-policy", b"same-origin"),
    (b"cache-control", b"no-store"),
)
CONTENT_SECURITY_POLICY: Final = (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'")
STRICT_TRANSPORT_SECURITY: Final = (b"strict-transport-security", b"max-age=63072000; includeSubDomains")
# What the extension sends and reads across origins.
CORS_METHODS: Final = ("GET", "POST")
CORS_REQUEST_HEADERS: Final = ("Authorization", "Content-Type", "X-Request-ID")
CORS_EXPOSED_HEADERS: Final = ("X-Request-ID", "X-Trace-Id")


class SecurityHeadersMiddleware:
    """Adds the headers a response does not set itself; pure ASGI, so streaming stays untouched."""

    def __init__(self, app: ASGIApp, *, documentation_paths: Iterable[str] = ()) -> None:
        self.app = app
        self.documentation_paths = frozenset(documentation_paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = list(SECURITY_HEADERS)
        if scope["path"] not in self.documentation_paths:
            extra.append(CONTENT_SECURITY_POLICY)
        if scope.get("scheme") == "https":
            # Only over TLS: on plain HTTP the header is ignored, and behind a proxy the proxy sets it.
            extra.append(STRICT_TRANSPORT_SECURITY)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                present = {name.lower() for name, _ in headers}
                headers.extend((name, value) for name, value in extra if name not in present)
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def add_security_middleware(app: FastAPI, *, cors_allow_origins: Iterable[str]) -> None:
    """Security headers outermost, then CORS for the listed origins only (none: no CORS at all).

    Without CORS middleware a browser refuses every cross-origin call (no ``Access-Control-Allow-*``
    header is ever sent), and a preflight ``OPTIONS`` gets the usual 405.
    """
    origins = list(cors_allow_origins)
    if origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=origins,
            allow_methods=list(CORS_METHODS),
            allow_headers=list(CORS_REQUEST_HEADERS),
            expose_headers=list(CORS_EXPOSED_HEADERS),
            # Bearer tokens, not cookies: credentials mode stays off.
            allow_credentials=False,
            max_age=600,
        )
    documentation = [path for path in (app.docs_url, app.redoc_url, app.swagger_ui_oauth2_redirect_url) if path]
    app.add_middleware(SecurityHeadersMiddleware, documentation_paths=documentation)
