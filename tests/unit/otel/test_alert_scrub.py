"""Credentials in free text are redacted; ordinary text, ids and URLs are left exactly as they were."""

from __future__ import annotations

import base64
import traceback

import pytest

from otel.alerts._scrub import REDACTED, is_secret_key, scrub, scrub_mapping

SECRET = "s3cr3t-CANARY-7f1d"
JWT = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
BASIC = base64.b64encode(f"alice:{SECRET}".encode()).decode()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"Authorization: Bearer {SECRET}", f"Authorization: Bearer {REDACTED}"),
        (f"authorization: Basic {BASIC}", f"authorization: Basic {REDACTED}"),
        (f"Proxy-Authorization: {SECRET}", f"Proxy-Authorization: {REDACTED}"),
        (f'{{"Authorization": "Bearer {SECRET}"}}', f'{{"Authorization": "{REDACTED}"}}'),
        (f"sent header Bearer {SECRET} upstream", f"sent header Bearer {REDACTED} upstream"),
        (f"Cookie: session={SECRET}; theme=dark\nHost: x", f"Cookie: {REDACTED}\nHost: x"),
        (f"Set-Cookie: sid={SECRET}; HttpOnly", f"Set-Cookie: {REDACTED}"),
        (f"GET /api/v1/sessions?token={SECRET}&page=2", f"GET /api/v1/sessions?token={REDACTED}&page=2"),
        (f"?access_token={SECRET}&api_key={SECRET}", f"?access_token={REDACTED}&api_key={REDACTED}"),
        (f"user=bob&password={SECRET}&remember=1", f"user=bob&password={REDACTED}&remember=1"),
        (f"client_secret={SECRET} grant=x", f"client_secret={REDACTED} grant=x"),
        (f'{{"user": "bob", "password": "{SECRET}"}}', f'{{"user": "bob", "password": "{REDACTED}"}}'),
        (f'{{"password": "a \\" {SECRET}", "n": 1}}', f'{{"password": "{REDACTED}", "n": 1}}'),
        ('{"pin_password": 123456}', f'{{"pin_password": "{REDACTED}"}}'),
        (f"{{'secret': '{SECRET}'}}", f"{{'secret': '{REDACTED}'}}"),
        (f'password="{SECRET} with spaces" next=1', f'password="{REDACTED}" next=1'),
        (f"X-Api-Key: {SECRET}", f"X-Api-Key: {REDACTED}"),
        (f"token: {SECRET}", f"token: {REDACTED}"),
        (f"the jwt {JWT} expired", f"the jwt {REDACTED} expired"),
        (f"slack token xoxb-1234-5678-{SECRET}", f"slack token {REDACTED}"),
        ("hook https://hooks.slack.com/services/T0/B0/abcDEF", f"hook https://hooks.slack.com/services/{REDACTED}"),
        (f"dsn https://{SECRET}@o1.ingest.sentry.io/42", f"dsn https://{REDACTED}@o1.ingest.sentry.io/42"),
        (f"postgresql+psycopg://app:{SECRET}@db:5432/x", f"postgresql+psycopg://app:{REDACTED}@db:5432/x"),
        ("using api key 3f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c now", f"using api key {REDACTED} now"),
        ("ghp_abcdefghijklmnopqrstuvwxyz0123456789", REDACTED),
        ("AKIAABCDEFGHIJKLMNOP", REDACTED),
        ("-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY-----", REDACTED),
    ],
)
def test_secrets_are_redacted(text: str, expected: str) -> None:
    assert scrub(text) == expected


def test_asgi_header_pairs_lose_their_values() -> None:
    scope_headers = str([(b"authorization", f"Bearer {SECRET}".encode()), (b"cookie", f"sid={SECRET}".encode())])
    scrubbed = scrub(scope_headers)
    assert SECRET not in scrubbed
    assert "b'authorization'" in scrubbed
    assert "b'cookie'" in scrubbed


def test_a_formatted_traceback_keeps_its_frames_and_loses_the_secret() -> None:
    try:
        raise ConnectionError(f"refused: GET http://api.local/x?token={SECRET}")
    except ConnectionError as exc:
        text = "".join(traceback.format_exception(exc))

    scrubbed = scrub(text)

    def frames(lines: str) -> list[str]:
        return [line for line in lines.splitlines() if line.startswith("  File ")]

    assert SECRET not in scrubbed
    assert frames(scrubbed) == frames(text)
    assert scrubbed.splitlines()[-1] == f"ConnectionError: refused: GET http://api.local/x?token={REDACTED}"


@pytest.mark.parametrize(
    "text",
    [
        "GET /api/v1/sessions/8c6f3d7e-0f4b-4c8e-9d3a-2b1a0e9f8c7d/events failed",
        "trace 4bf92f3577b34da6a3ce929d0e0e4736 span 00f067aa0ba902b7",
        "https://grafana.example.com/explore?orgId=1&left=%7B%22datasource%22%3A%22tempo%22%7D",
        "http://localhost:8000/api/v1/sessions?page=2&limit=50",
        "sha256 e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "Basic authentication failed; Bearer authentication is next",
        'ERROR: password authentication failed for user "app"',
        "KeyError: 'password'",
        'File "/app/service/auth_token.py", line 10, in check_token',
        "mailto:ops@example.com and ops@example.com",
        "ValueError: invalid literal for int() with base 10: 'abc'",
        "",
    ],
)
def test_ordinary_text_is_untouched(text: str) -> None:
    assert scrub(text) == text


@pytest.mark.parametrize(
    "text",
    [
        f"Authorization: Bearer {SECRET}",
        f"Cookie: a={SECRET}",
        f'{{"password": "{SECRET}"}}',
        f"?token={SECRET}",
        f"X-Api-Key: {SECRET}",
        f"https://{SECRET}@sentry.io/1",
        f"postgresql://app:{SECRET}@db/x",
        f"authorization: Basic {BASIC}",
    ],
)
def test_scrubbing_twice_changes_nothing(text: str) -> None:
    once = scrub(text)
    assert scrub(once) == once


@pytest.mark.parametrize(
    ("key", "secret"),
    [
        ("password", True),
        ("http.request.header.authorization", True),
        ("http.request.header.cookie", True),
        ("X-Api-Key", True),
        ("client_secret", True),
        ("access_token", True),
        ("auth", True),
        ("author", False),
        ("trace_id", False),
        ("http.route", False),
        ("session_count", False),
    ],
)
def test_secret_keys(key: str, secret: bool) -> None:
    assert is_secret_key(key) is secret


def test_mappings_are_scrubbed_deeply_and_copied() -> None:
    data = {
        "http.request.header.cookie": f"sid={SECRET}",
        "nested": {"password": SECRET, "note": f"token={SECRET}", "count": 3},
        "list": [f"Bearer {SECRET}", {"api_key": SECRET}],
        "token_valid": True,
        "password": None,
        "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736",
    }

    scrubbed = scrub_mapping(data)

    assert SECRET not in repr(scrubbed)
    assert scrubbed["http.request.header.cookie"] == REDACTED
    assert scrubbed["nested"] == {"password": REDACTED, "note": f"token={REDACTED}", "count": 3}
    assert scrubbed["list"] == [f"Bearer {REDACTED}", {"api_key": REDACTED}]
    assert scrubbed["token_valid"] is True
    assert scrubbed["password"] is None
    assert scrubbed["trace_id"] == data["trace_id"]
    assert data["nested"]["password"] == SECRET  # the input is not modified


def test_absurdly_deep_structures_are_cut_off() -> None:
    deep: dict[str, object] = {"leaf": SECRET}
    for _ in range(100):
        deep = {"child": deep}
    assert SECRET not in repr(scrub_mapping(deep))
