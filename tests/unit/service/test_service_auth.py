"""Access tokens: what is accepted, and that everything else is a 401."""

from datetime import UTC, datetime, timedelta

import jwt
import pytest

from service.auth import create_access_token, decode_access_token
from service.errors import Unauthorized

SECRET = "unit-test-secret-long-enough-for-hs256-0123"
ALGORITHM = "HS256"


def mint(claims: dict[str, object], secret: str = SECRET, algorithm: str = ALGORITHM) -> str:
    return jwt.encode(claims, secret, algorithm=algorithm)


def decode(token: str) -> str:
    return decode_access_token(token=token, secret=SECRET, algorithm=ALGORITHM)


def test_round_trip_returns_the_subject() -> None:
    token = create_access_token(subject="user-1", secret=SECRET, algorithm=ALGORITHM, ttl=timedelta(minutes=5))
    assert decode(token) == "user-1"


def test_token_carries_expiry_from_ttl() -> None:
    now = datetime(2030, 1, 1, tzinfo=UTC)
    token = create_access_token(subject="u", secret=SECRET, algorithm=ALGORITHM, ttl=timedelta(seconds=90), now=now)
    claims = jwt.decode(token, SECRET, algorithms=[ALGORITHM], options={"verify_exp": False, "verify_iat": False})
    assert claims["exp"] - claims["iat"] == 90
    assert claims["exp"] == int(now.timestamp()) + 90


def test_expired_token_is_refused() -> None:
    past = datetime.now(UTC) - timedelta(hours=2)
    token = create_access_token(subject="u", secret=SECRET, algorithm=ALGORITHM, ttl=timedelta(hours=1), now=past)
    with pytest.raises(Unauthorized, match="expired"):
        decode(token)


def test_wrong_signature_is_refused() -> None:
    token = create_access_token(
        subject="u", secret="another-secret-that-is-long-enough-0123", algorithm=ALGORITHM, ttl=timedelta(minutes=5)
    )
    with pytest.raises(Unauthorized, match="invalid"):
        decode(token)


@pytest.mark.parametrize(
    "claims",
    [
        pytest.param({"sub": "u"}, id="no-exp"),
        pytest.param({"exp": datetime.now(UTC) + timedelta(minutes=5)}, id="no-sub"),
        pytest.param({"sub": "", "exp": datetime.now(UTC) + timedelta(minutes=5)}, id="empty-sub"),
        pytest.param({"sub": "x" * 256, "exp": datetime.now(UTC) + timedelta(minutes=5)}, id="long-sub"),
    ],
)
def test_incomplete_claims_are_refused(claims: dict[str, object]) -> None:
    with pytest.raises(Unauthorized):
        decode(mint(claims))


def test_unsigned_token_is_refused() -> None:
    token = jwt.encode({"sub": "u", "exp": datetime.now(UTC) + timedelta(minutes=5)}, None, algorithm="none")
    with pytest.raises(Unauthorized):
        decode(token)


def test_garbage_is_refused() -> None:
    with pytest.raises(Unauthorized):
        decode("not.a.jwt")


def test_unauthorized_asks_for_a_bearer_token() -> None:
    assert Unauthorized.status_code == 401
    assert Unauthorized.headers == {"WWW-Authenticate": "Bearer"}


@pytest.mark.parametrize("subject", ["", "x" * 256])
def test_minting_refuses_unusable_subjects(subject: str) -> None:
    with pytest.raises(ValueError, match="user id"):
        create_access_token(subject=subject, secret=SECRET, algorithm=ALGORITHM, ttl=timedelta(minutes=5))
