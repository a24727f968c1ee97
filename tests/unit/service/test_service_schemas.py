"""Request bodies: what a batch of events may contain."""

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from pydantic import ValidationError

from service.schemas import (
    MAX_BATCH_EVENTS,
    MAX_PAYLOAD_BYTES,
    EventBatch,
    EventIn,
    SessionCreate,
)


def event(**overrides: Any) -> dict[str, Any]:
    return {"type": "page_view", "url": "https://example.org/a?b=c", "occurred_at": "2030-01-01T12:00:00Z", **overrides}


def problems(exc: pytest.ExceptionInfo[ValidationError]) -> dict[str, str]:
    return {".".join(map(str, error["loc"])): error["msg"] for error in exc.value.errors()}


def test_valid_event_keeps_its_url_as_sent() -> None:
    parsed = EventIn.model_validate(event(title="A page", payload={"scroll": {"y": 120}}))
    assert parsed.url == "https://example.org/a?b=c"
    assert parsed.payload == {"scroll": {"y": 120}}


def test_occurred_at_is_normalised_to_utc() -> None:
    parsed = EventIn.model_validate(event(occurred_at="2030-01-01T14:00:00+02:00"))
    assert parsed.occurred_at == datetime(2030, 1, 1, 12, tzinfo=UTC)
    assert parsed.occurred_at.utcoffset() == timedelta(0)


def test_naive_occurred_at_is_refused() -> None:
    with pytest.raises(ValidationError) as exc:
        EventIn.model_validate(event(occurred_at="2030-01-01T12:00:00"))
    assert "occurred_at" in problems(exc)


def test_aware_datetime_objects_are_accepted() -> None:
    moment = datetime(2030, 1, 1, 7, tzinfo=timezone(timedelta(hours=-5)))
    assert EventIn.model_validate(event(occurred_at=moment)).occurred_at == datetime(2030, 1, 1, 12, tzinfo=UTC)


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("ftp://example.org/file", "http or https"),
        ("javascript:alert(1)", "http or https"),
        ("https://", "host"),
        ("https://exa mple.org/", "whitespace"),
        ("http://[::1", "valid URL"),
        ("", "at least 1 character"),
        ("https://example.org/" + "a" * 2048, "at most 2048"),
    ],
)
def test_bad_urls_are_refused(url: str, problem: str) -> None:
    with pytest.raises(ValidationError) as exc:
        EventIn.model_validate(event(url=url))
    assert problem in problems(exc)["url"]


def test_unknown_type_is_refused() -> None:
    with pytest.raises(ValidationError) as exc:
        EventIn.model_validate(event(type="keypress"))
    assert "page_view" in problems(exc)["type"]


def test_long_title_is_refused() -> None:
    with pytest.raises(ValidationError) as exc:
        EventIn.model_validate(event(title="t" * 501))
    assert "title" in problems(exc)


def test_unknown_fields_are_refused() -> None:
    with pytest.raises(ValidationError) as exc:
        EventIn.model_validate(event(colour="red"))
    assert problems(exc)["colour"] == "Extra inputs are not permitted"


def test_payload_must_be_an_object() -> None:
    with pytest.raises(ValidationError):
        EventIn.model_validate(event(payload=[1, 2, 3]))


def test_payload_over_the_size_limit_is_refused() -> None:
    with pytest.raises(ValidationError) as exc:
        EventIn.model_validate(event(payload={"text": "x" * MAX_PAYLOAD_BYTES}))
    assert f"at most {MAX_PAYLOAD_BYTES} bytes" in problems(exc)["payload"]


def test_payload_size_counts_utf8_bytes() -> None:
    # 1,400 three-byte characters: under 4,096 characters, over 4,096 bytes.
    with pytest.raises(ValidationError):
        EventIn.model_validate(event(payload={"text": "€" * 1400}))


def test_payload_nesting_is_limited() -> None:
    shallow: dict[str, Any] = {"a": {"b": {"c": {"d": {"e": 1}}}}}
    assert EventIn.model_validate(event(payload=shallow)).payload == shallow
    with pytest.raises(ValidationError) as exc:
        EventIn.model_validate(event(payload={"a": {"b": {"c": {"d": {"e": {"f": 1}}}}}}))
    assert "nest at most" in problems(exc)["payload"]


def test_payload_refuses_nan() -> None:
    with pytest.raises(ValidationError) as exc:
        EventIn.model_validate(event(payload={"ratio": float("nan")}))
    assert "NaN" in problems(exc)["payload"]


@pytest.mark.parametrize("size", [0, MAX_BATCH_EVENTS + 1])
def test_batch_size_is_bounded(size: int) -> None:
    with pytest.raises(ValidationError) as exc:
        EventBatch.model_validate({"events": [event()] * size})
    assert "events" in problems(exc)


def test_full_batch_is_accepted() -> None:
    assert len(EventBatch.model_validate({"events": [event()] * MAX_BATCH_EVENTS}).events) == MAX_BATCH_EVENTS


def test_errors_name_the_event_and_field() -> None:
    with pytest.raises(ValidationError) as exc:
        EventBatch.model_validate({"events": [event(), event(), event(), event(type="nope")]})
    assert list(problems(exc)) == ["events.3.type"]


def test_session_title_is_stripped_and_required() -> None:
    assert SessionCreate.model_validate({"title": "  Research  "}).title == "Research"
    with pytest.raises(ValidationError):
        SessionCreate.model_validate({"title": "   "})
    with pytest.raises(ValidationError):
        SessionCreate.model_validate({"title": "t" * 201})
