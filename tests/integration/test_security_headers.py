"""Every response carries the security headers; CORS stays closed unless origins are configured."""

from __future__ import annotations

import pytest
from api_harness import Api, AppFactory

EXTENSION = "chrome-extension://abcdefghijklmnopabcdefghijklmnop"


def _paths(api: Api) -> list[tuple[str, str, dict[str, str]]]:
    return [
        ("GET", "/health", {}),
        ("GET", "/ready", {}),
        ("GET", "/metrics", {}),
        ("GET", "/api/v1/sessions", api.auth()),
        ("GET", "/api/v1/sessions", {}),  # 401
        ("GET", "/api/v1/sessions/not-a-uuid", api.auth()),  # 422
        ("GET", "/api/v1/nowhere", api.auth()),  # 404
        ("POST", "/api/v1/sessions", {**api.auth(), "Content-Type": "text/plain"}),  # 415
    ]


def test_every_response_carries_the_security_headers(api: Api) -> None:
    for method, path, headers in _paths(api):
        response = api.client.request(method, path, headers=headers)
        assert response.headers["x-content-type-options"] == "nosniff", path
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["referrer-policy"] == "no-referrer"
        assert response.headers["cross-origin-resource-policy"] == "same-origin"
        assert response.headers["cache-control"] == "no-store"
        assert response.headers["content-security-policy"] == "default-src 'none'; frame-ancestors 'none'"
        assert "strict-transport-security" not in response.headers  # plain HTTP: meaningless, so not sent


def test_an_unhandled_error_response_carries_them_too(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    def explode(**_: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr("service.api.routes.sessions.crud.list_sessions", explode)

    response = api.client.get("/api/v1/sessions", headers=api.auth())

    assert response.status_code == 500
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["content-security-policy"].startswith("default-src 'none'")


def test_https_responses_add_strict_transport_security(api: Api) -> None:
    response = api.client.get("https://testserver/health")
    assert response.headers["strict-transport-security"] == "max-age=63072000; includeSubDomains"


def test_the_api_documentation_still_loads_its_scripts(api: Api) -> None:
    response = api.client.get("/docs")
    assert response.status_code == 200
    assert "content-security-policy" not in response.headers  # Swagger UI loads from a CDN
    assert response.headers["x-frame-options"] == "DENY"


def test_cors_is_closed_by_default(api: Api) -> None:
    preflight = api.client.options(
        "/api/v1/sessions",
        headers={
            "Origin": EXTENSION,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type",
        },
    )
    simple = api.client.get("/api/v1/sessions", headers={**api.auth(), "Origin": "https://evil.example"})

    assert preflight.status_code == 405
    assert not any(name.startswith("access-control-") for name in preflight.headers)
    assert simple.status_code == 200
    assert not any(name.startswith("access-control-") for name in simple.headers)


def test_cors_allows_exactly_the_configured_origins(make_api: AppFactory) -> None:
    api = make_api(cors_allow_origins=f"{EXTENSION}, https://app.mindhit.example")
    request_headers = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization"}

    allowed = api.client.options("/api/v1/sessions", headers={"Origin": EXTENSION, **request_headers})
    refused = api.client.options("/api/v1/sessions", headers={"Origin": "https://evil.example", **request_headers})
    simple = api.client.get("/api/v1/sessions", headers={**api.auth(), "Origin": EXTENSION})

    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == EXTENSION
    assert "POST" in allowed.headers["access-control-allow-methods"]
    assert "access-control-allow-credentials" not in allowed.headers
    assert refused.status_code == 400
    assert "access-control-allow-origin" not in refused.headers
    assert simple.headers["access-control-allow-origin"] == EXTENSION
    assert "x-request-id" in simple.headers["access-control-expose-headers"].lower()
    assert allowed.headers["x-content-type-options"] == "nosniff"  # a preflight's answer is hardened too


@pytest.mark.parametrize("value", ["*", "https://app.example/path", "not an origin"])
def test_a_wildcard_or_malformed_origin_is_refused_at_start(make_api: AppFactory, value: str) -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="CORS_ALLOW_ORIGINS"):
        make_api(cors_allow_origins=value)
