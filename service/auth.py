"""Bearer JWTs: minted by ``python -m service token`` for local use, checked on every API call."""

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import jwt

from service.errors import Unauthorized

# The subject becomes sessions.user_id, a VARCHAR(255).
MAX_SUBJECT_LENGTH = 255


def create_access_token(
    *,
    subject: str,
    secret: str,
    algorithm: str,
    ttl: timedelta,
    now: datetime | None = None,
    scopes: Sequence[str] = (),
) -> str:
    """A signed token for ``subject`` that expires after ``ttl``; ``scopes`` go in the OAuth2 ``scope`` claim."""
    if not subject or len(subject) > MAX_SUBJECT_LENGTH:
        raise ValueError(f"the user id must be 1 to {MAX_SUBJECT_LENGTH} characters")
    issued_at = now if now is not None else datetime.now(UTC)
    claims: dict[str, object] = {"sub": subject, "iat": issued_at, "exp": issued_at + ttl}
    if scopes:
        claims["scope"] = " ".join(scopes)
    return jwt.encode(claims, secret, algorithm=algorithm)


def token_scopes(*, token: str, secret: str, algorithm: str) -> frozenset[str]:
    """The scopes of a token already accepted by ``decode_access_token``."""
    claims = jwt.decode(token, secret, algorithms=[algorithm], options={"require": ["exp", "sub"]})
    scope = claims.get("scope", "")
    return frozenset(scope.split()) if isinstance(scope, str) else frozenset()


def decode_access_token(*, token: str, secret: str, algorithm: str) -> str:
    """The user id (``sub``) of a valid token; ``Unauthorized`` for anything else.

    ``exp`` and ``sub`` are required and only ``algorithm`` is accepted, so an unsigned
    (``alg: none``) or algorithm-confused token is refused before its claims are trusted.
    """
    try:
        claims = jwt.decode(token, secret, algorithms=[algorithm], options={"require": ["exp", "sub"]})
    except jwt.ExpiredSignatureError:
        raise Unauthorized("The access token has expired.") from None
    except jwt.InvalidTokenError:
        raise Unauthorized("The access token is invalid.") from None
    subject = claims["sub"]
    if not isinstance(subject, str) or not subject or len(subject) > MAX_SUBJECT_LENGTH:
        raise Unauthorized("The access token is invalid.")
    return subject
