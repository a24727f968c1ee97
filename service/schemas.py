"""Request and response bodies, kept apart from the ORM models.

Inputs forbid unknown fields: a typo in an extension build fails loudly instead of losing data.
"""

import json
import re
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, Generic, Literal, TypeVar
from urllib.parse import urlsplit
from uuid import UUID

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, JsonValue

MAX_BATCH_EVENTS = 500
MAX_URL_LENGTH = 2048
MAX_EVENT_TITLE_LENGTH = 500
MAX_SESSION_TITLE_LENGTH = 200
MAX_PAYLOAD_BYTES = 4096
MAX_PAYLOAD_DEPTH = 5

EventType = Literal["page_view", "click", "scroll", "highlight", "tab_switch"]
ItemT = TypeVar("ItemT")


class SessionStatus(StrEnum):
    ACTIVE = "active"
    STOPPED = "stopped"


# What an event URL may be, also published in the OpenAPI document so that clients (and generated
# tests) know the exact rule: http(s), an optional user, a host name (no bracketed IP literals), an
# optional numeric port, then printable ASCII. Browsers serialize every URL that way (``URL.href``
# percent-encodes paths and punycodes hosts), so the extension never sends anything else.
HTTP_URL_PATTERN = (
    r'^[Hh][Tt][Tt][Pp][Ss]?://(?:[!"$-.0-9:->A-Z\\^-~]*@)?[!"$-.0-9;->A-Z\\^-~]+(?::[0-9]*)?(?:[/?#][!-~]*)?$'
)
_HTTP_URL = re.compile(HTTP_URL_PATTERN)


def _http_url(value: str) -> str:
    try:
        parts = urlsplit(value)
    except ValueError:
        raise ValueError("must be a valid URL") from None
    if parts.scheme.lower() not in {"http", "https"}:
        raise ValueError("must be an http or https URL")
    if not parts.hostname:
        raise ValueError("must include a host")
    if any(char.isspace() or ord(char) < 32 for char in value):
        raise ValueError("must not contain whitespace or control characters")
    if not value.isascii():
        raise ValueError("must be ASCII: percent-encode other characters, as browsers do")
    if not _HTTP_URL.match(value):
        raise ValueError("must be a valid URL")
    return value


def _as_utc(value: datetime) -> datetime:
    # Stored and compared in UTC: SQLite keeps no offset, so mixed offsets would sort wrongly.
    return value.astimezone(UTC)


def _json_depth(value: Any) -> int:
    depth, level = 0, [value]
    while level:
        containers = [item for item in level if isinstance(item, dict | list)]
        if not containers:
            break
        depth += 1
        level = [child for item in containers for child in (item.values() if isinstance(item, dict) else item)]
    return depth


def _small_json_object(value: dict[str, JsonValue]) -> dict[str, JsonValue]:
    if _json_depth(value) > MAX_PAYLOAD_DEPTH:
        raise ValueError(f"must nest at most {MAX_PAYLOAD_DEPTH} levels of objects or arrays")
    try:
        encoded = json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()
    except ValueError:
        raise ValueError("must not contain NaN or Infinity") from None
    if len(encoded) > MAX_PAYLOAD_BYTES:
        raise ValueError(f"must be at most {MAX_PAYLOAD_BYTES} bytes as JSON, got {len(encoded)}")
    return value


HttpUrlText = Annotated[
    str,
    Field(min_length=1, max_length=MAX_URL_LENGTH, json_schema_extra={"pattern": HTTP_URL_PATTERN}),
    AfterValidator(_http_url),
]
UtcDatetime = Annotated[AwareDatetime, AfterValidator(_as_utc)]
Payload = Annotated[dict[str, JsonValue], AfterValidator(_small_json_object)]


class ErrorDetail(BaseModel):
    field: str
    problem: str


class ErrorBody(BaseModel):
    code: str = Field(examples=["not_found"])
    message: str
    details: list[ErrorDetail] = Field(default_factory=list)


class ErrorResponse(BaseModel):
    error: ErrorBody


class Page(BaseModel, Generic[ItemT]):
    items: list[ItemT]
    total: int
    limit: int
    offset: int


class SessionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    title: str = Field(min_length=1, max_length=MAX_SESSION_TITLE_LENGTH)


class SessionPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: UUID
    title: str
    status: SessionStatus
    started_at: datetime
    stopped_at: datetime | None
    event_count: int


class EventIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: EventType
    url: HttpUrlText
    title: str | None = Field(default=None, max_length=MAX_EVENT_TITLE_LENGTH)
    occurred_at: UtcDatetime
    payload: Payload | None = None


class EventBatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    events: list[EventIn] = Field(min_length=1, max_length=MAX_BATCH_EVENTS)


class EventPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    type: EventType
    url: str
    title: str | None
    occurred_at: datetime
    received_at: datetime
    payload: dict[str, Any] | None


class EventsStored(BaseModel):
    stored: int


class HealthStatus(BaseModel):
    status: Literal["ok"] = "ok"


class ReadyStatus(BaseModel):
    status: Literal["ready"] = "ready"


class AlertDeliveryPublic(BaseModel):
    channel: str
    status: str
    attempts: int
    delivered_at: datetime | None
    last_error: str | None


class AlertPublic(BaseModel):
    id: UUID
    fingerprint: str
    source: str
    severity: str
    status: str
    title: str
    message: str
    service: str
    environment: str
    route: str | None
    exception_type: str | None
    stacktrace: str | None
    trace_id: str | None
    span_id: str | None
    trace_url: str | None
    count: int
    first_seen_at: datetime
    last_seen_at: datetime
    resolved_at: datetime | None
    deliveries: list[AlertDeliveryPublic]

    @classmethod
    def from_row(cls, row: Any) -> "AlertPublic":
        fields = {name: getattr(row, name) for name in cls.model_fields if name != "deliveries"}
        deliveries = [AlertDeliveryPublic.model_validate(d, from_attributes=True) for d in row.deliveries]
        return cls(**fields, deliveries=deliveries)
