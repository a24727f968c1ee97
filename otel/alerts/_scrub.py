"""Redaction of credentials in free text, before it becomes part of an alert.

An alert quotes what went wrong: exception messages, log lines, stack traces. Those quote requests,
and requests carry credentials. Every sink (the outbox, Slack, Sentry) stores or sends an alert as it
is, so secrets are removed once, here, before an ``Alert`` is built, and again by the channels as a
second line of defence.

Secrets are recognised by their context (a secret-ish name before the value, an ``Authorization`` or
``Cookie`` header, credentials inside a URL) or by a vendor's unmistakable shape (JWTs, Slack, GitHub
and AWS tokens). A long random string with no such context is left alone: trace ids, UUIDs and hashes
look exactly like keys, and an alert without its trace id is useless.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable, Mapping
from typing import Any, Final

REDACTED: Final = "[REDACTED]"

# Words that make a name secret-ish: "password", "X-Api-Key", "access_token", "client_secret", ...
_WORDS: Final = (
    r"passw(?:or)?d|passphrase|pwd|secret|token|api[-_]?key|apikey|credential|private[-_]?key"
    r"|signature|session[-_]?(?:id|key)|sessionid|authorization|cookie|dsn|jwt"
)
_KEY: Final = rf"[\w.-]*(?:{_WORDS})[\w.-]*|auth|pass|sig"
_KEY_RE: Final = re.compile(rf"(?i)^(?:{_KEY})$")
# Authorization has its own rule that keeps the scheme; the generic name rules must not rewrite it.
_NOT_AUTH: Final = r"(?!(?:proxy-)?authorization\b)"
_FRESH: Final = r"(?!\[REDACTED\])"  # so that scrubbing scrubbed text changes nothing
_QUOTED: Final = r""""(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*'"""
_TOKEN68: Final = r"A-Za-z0-9\-._~+/"  # RFC 7235 credential characters

Replacement = str | Callable[[re.Match[str]], str]


def _quoted(match: re.Match[str]) -> str:
    quote = match.group(2)[0]
    return f"{match.group(1)}{quote}{REDACTED}{quote}"


def _bearer(match: re.Match[str]) -> str:
    token = match.group(2)
    # "Bearer authentication" is prose; a credential is long or mixes in digits and punctuation.
    looks_random = len(token) >= 16 or re.search(r"[\d\-._~+/=]", token) is not None
    return f"{match.group(1)}{REDACTED}" if len(token) >= 8 and looks_random else match.group(0)


def _basic(match: re.Match[str]) -> str:
    # "Basic" is a common word; only a base64 "user:password" pair is a credential.
    try:
        decoded = base64.b64decode(match.group(2), validate=True)
    except (binascii.Error, ValueError):
        return match.group(0)
    return f"{match.group(1)}{REDACTED}" if b":" in decoded else match.group(0)


def _userinfo(match: re.Match[str]) -> str:
    scheme, user, password = match.group(1), match.group(2), match.group(3)
    # With a password the user name is kept (postgresql://app:...@db); alone it is the key (a DSN).
    return f"{scheme}{user}:{REDACTED}@" if password is not None else f"{scheme}{REDACTED}@"


def _long_value(match: re.Match[str]) -> str:
    return f"{match.group(1)}{REDACTED}" if re.search(r"\d", match.group(2)) else match.group(0)


# Order matters: a rule that knows the whole shape of a value runs before one that guesses its end.
_RULES: Final[tuple[tuple[re.Pattern[str], Replacement], ...]] = (
    (
        re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?(?:-----END [A-Z ]*PRIVATE KEY-----|\Z)", re.S),
        REDACTED,
    ),
    # Authorization: <scheme> <credentials>, in headers, JSON and Python reprs alike.
    (
        re.compile(rf"""(?i)\b((?:proxy-)?authorization["']?\s*[:=]\s*+b?+["']?+(?:[a-z]+\s+)?+){_FRESH}[^\r\n"']+"""),
        rf"\1{REDACTED}",
    ),
    (re.compile(rf"(?i)\b(bearer\s+)([{_TOKEN68}]+=*)"), _bearer),
    (re.compile(r"\b(Basic\s+)([A-Za-z0-9+/]{6,}={0,2})(?![A-Za-z0-9+/=])"), _basic),
    # "password": "x", 'token': 'x', (b'cookie', b'x'): JSON, Python reprs and ASGI header pairs.
    (re.compile(rf"""(?i)(b?["'](?:{_KEY})["']\s*[:,=]\s*b?)({_QUOTED})"""), _quoted),
    (re.compile(rf"""(?i)(["'](?:{_KEY})["']\s*:\s*)-?\d[\d.]*"""), rf'\1"{REDACTED}"'),
    # Cookie: a=b; c=d -- the whole header value, to the end of the line.
    (re.compile(rf"""(?i)(?<![\w"'-])((?:set-)?cookie\s*:\s*+){_FRESH}[^\r\n"']+"""), rf"\1{REDACTED}"),
    # password="x" (logfmt), then ?token=x&... and password=x (query strings, form bodies, logfmt).
    (re.compile(rf"(?i)(?<![\w.-]){_NOT_AUTH}((?:{_KEY})\s*=\s*)({_QUOTED})"), _quoted),
    (re.compile(rf"""(?i)(?<![\w.-]){_NOT_AUTH}((?:{_KEY})\s*=\s*+){_FRESH}[^\s&"'<>;,)\]}}]+"""), rf"\1{REDACTED}"),
    # X-Api-Key: x, secret: x (headers, YAML, log prose).
    (re.compile(rf"""(?i)(?<![\w.-]){_NOT_AUTH}((?:{_KEY})\s*:\s*+)(?!//){_FRESH}[^\s"',;}}\])]+"""), rf"\1{REDACTED}"),
    # "api key 3f9a...": a secret-ish word, then a long value that is not a plain word.
    (
        re.compile(r"(?i)\b((?:secret|token|password|api[ _-]?key|key)\s+(?:is\s+)?)([A-Za-z0-9+/_\-]{20,}={0,2})"),
        _long_value,
    ),
    # Credentials that give themselves away by their shape, wherever they appear.
    (re.compile(r"\beyJ[A-Za-z0-9_-]{8,}(?:\.[A-Za-z0-9_-]*){0,2}"), REDACTED),
    (re.compile(r"\bxox[abposer]-[A-Za-z0-9-]{8,}|\bxapp-\d-[A-Za-z0-9-]{8,}"), REDACTED),
    (re.compile(r"(?i)(https://hooks\.slack\.com/(?:services|workflows|triggers)/)[A-Za-z0-9/_-]+"), rf"\1{REDACTED}"),
    (re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,})"), REDACTED),
    (re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"), REDACTED),
    (re.compile(r"\b[rs]k_(?:live|test)_[A-Za-z0-9]{10,}"), REDACTED),
    (re.compile(r"\bsntr[ysu]_[A-Za-z0-9_=+/-]{20,}"), REDACTED),
    # scheme://user:password@host and scheme://key@host (Sentry DSNs, database URLs).
    (re.compile(r"""(?i)\b([a-z][a-z0-9+.-]*://)([^\s/?#@:"'<>]+)(?::([^\s/?#@"'<>]*))?@"""), _userinfo),
)


def scrub(text: str) -> str:
    """``text`` with every credential it recognises replaced by ``[REDACTED]``; applying it twice is harmless."""
    for pattern, replacement in _RULES:
        text = pattern.sub(replacement, text)
    return text


def is_secret_key(key: object) -> bool:
    """Whether a field, header or attribute named ``key`` holds a credential (``http.request.header.cookie``)."""
    return _KEY_RE.match(str(key)) is not None


_MAX_DEPTH: Final = 32


def scrub_mapping(data: Mapping[Any, Any]) -> dict[Any, Any]:
    """A copy of ``data`` with values under secret-ish keys redacted and all other text scrubbed.

    Nested mappings and sequences are followed; numbers, booleans and ``None`` under ordinary keys are
    kept as they are. Structure deeper than anything legitimate is redacted rather than walked.
    """
    return _scrub_mapping(data, 0)


def _scrub_mapping(data: Mapping[Any, Any], depth: int) -> dict[Any, Any]:
    return {
        key: REDACTED if is_secret_key(key) and holds_value(value) else _scrub_value(value, depth + 1)
        for key, value in data.items()
    }


def holds_value(value: Any) -> bool:
    # "password": None or "token_valid": True says nothing secret; keeping them keeps the record readable.
    return value is not None and value != "" and not isinstance(value, bool)


def _scrub_value(value: Any, depth: int) -> Any:
    if depth > _MAX_DEPTH:
        return REDACTED
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, Mapping):
        return _scrub_mapping(value, depth)
    if isinstance(value, list | tuple):
        return [_scrub_value(item, depth + 1) for item in value]
    return value
