"""Stable ids and times: the whole capture as dicts or as a tree, equal run after run."""

from __future__ import annotations

import logging

from opentelemetry import trace
from opentelemetry.trace import Link, NonRecordingSpan, SpanContext, SpanKind, StatusCode, TraceFlags

from otel.testing import MASKED, TelemetryCapture

tracer = trace.get_tracer("tests.snapshot")
log = logging.getLogger("tests.snapshot")


def _request_with_two_queries() -> None:
    with tracer.start_as_current_span("GET /a", kind=SpanKind.SERVER, attributes={"http.route": "/a"}):
        with tracer.start_as_current_span("SELECT a", kind=SpanKind.CLIENT):
            log.info("reading a")
        with tracer.start_as_current_span("INSERT b", kind=SpanKind.CLIENT) as insert:
            insert.add_event("retry", {"attempt": 2})


def test_spans_as_dicts_numbers_ids_and_instants_in_order(capotel: TelemetryCapture) -> None:
    _request_with_two_queries()

    assert capotel.spans_as_dicts() == [
        {
            "name": "GET /a",
            "kind": "SERVER",
            "trace_id": 1,
            "span_id": 1,
            "parent_id": None,
            "start": 1,
            "end": 8,
            "status": "UNSET",
            "attributes": {"http.route": "/a"},
        },
        {
            "name": "SELECT a",
            "kind": "CLIENT",
            "trace_id": 1,
            "span_id": 2,
            "parent_id": 1,
            "start": 2,
            "end": 4,
            "status": "UNSET",
            "attributes": {},
        },
        {
            "name": "INSERT b",
            "kind": "CLIENT",
            "trace_id": 1,
            "span_id": 3,
            "parent_id": 1,
            "start": 5,
            "end": 7,
            "status": "UNSET",
            "attributes": {},
            "events": [{"name": "retry", "time": 6, "attributes": {"attempt": 2}}],
        },
    ]
    assert capotel.logs_as_dicts() == [
        {
            "time": 3,
            "level": "INFO",
            "logger": "tests.snapshot",
            "body": "reading a",
            "attributes": {},
            "trace_id": 1,
            "span_id": 2,
        }
    ]


def test_the_same_test_body_gives_the_same_snapshot_every_time(capotel: TelemetryCapture) -> None:
    snapshots = []
    for _ in range(3):
        _request_with_two_queries()
        snapshots.append((capotel.spans_as_dicts(), capotel.logs_as_dicts(), capotel.span_tree(ids=True, times=True)))
        capotel.clear()

    assert snapshots[0] == snapshots[1] == snapshots[2]


def test_span_tree_with_ids_times_and_logs(capotel: TelemetryCapture) -> None:
    _request_with_two_queries()
    with tracer.start_as_current_span("background job"):
        pass
    log.warning("outside any span")

    assert capotel.span_tree(ids=True, times=True, logs=True) == (
        "[trace=1 span=1 t=1..8] GET /a (SERVER)\n"
        "    [span=2 t=2..4] SELECT a (CLIENT)\n"
        "        [t=3] log INFO tests.snapshot: 'reading a'\n"
        "    [span=3 t=5..7] INSERT b (CLIENT) events=['retry'@6]\n"
        "[trace=2 span=4 t=9..10] background job (INTERNAL)\n"
        "[t=11] log WARN tests.snapshot: 'outside any span'"
    )
    assert capotel.span_tree(attributes=("http.route",)) == (
        "GET /a (SERVER) http.route='/a'\n"
        "    SELECT a (CLIENT)\n"
        "    INSERT b (CLIENT) events=['retry']\n"
        "background job (INTERNAL)"
    )


def test_siblings_are_ordered_by_start_even_when_they_end_in_reverse(capotel: TelemetryCapture) -> None:
    with tracer.start_as_current_span("parent"):
        slow = tracer.start_span("slow")
        fast = tracer.start_span("fast")
        fast.end()
        slow.end()

    assert capotel.span_tree(times=True) == (
        "[t=1..6] parent (INTERNAL)\n    [t=2..5] slow (INTERNAL)\n    [t=3..4] fast (INTERNAL)"
    )
    assert [(s["name"], s["span_id"]) for s in capotel.spans_as_dicts()] == [("parent", 1), ("slow", 2), ("fast", 3)]


def test_ids_restart_from_one_after_clear_and_for_a_remote_parent(capotel: TelemetryCapture) -> None:
    with tracer.start_as_current_span("before clear"):
        pass
    capotel.clear()
    remote = SpanContext(0xABC, 0xDEF, is_remote=True, trace_flags=TraceFlags(TraceFlags.SAMPLED))
    parent = trace.set_span_in_context(NonRecordingSpan(remote))
    with tracer.start_as_current_span("continued", context=parent, links=[Link(remote, {"why": "retry"})]):
        pass

    [span] = capotel.spans_as_dicts()
    assert (span["trace_id"], span["span_id"], span["parent_id"]) == (1, 1, 2)
    assert span["links"] == [{"trace_id": 1, "span_id": 2, "attributes": {"why": "retry"}}]
    assert capotel.span_tree(ids=True) == "[trace=1 span=1 parent=2] continued (INTERNAL)"


def test_volatile_and_masked_attributes_and_stack_traces_are_stable(capotel: TelemetryCapture) -> None:
    try:
        with tracer.start_as_current_span(
            "work", attributes={"request_id": "3f0c…", "db.namespace": "notes.db", "tags": ("a", "b")}
        ):
            raise ValueError("bad input")
    except ValueError:
        pass

    [span] = capotel.spans_as_dicts(mask={"db.namespace"}, scope=True, resource=True)
    assert span["attributes"] == {"db.namespace": MASKED, "request_id": MASKED, "tags": ["a", "b"]}
    assert span["status"] == "ERROR"
    assert span["status_description"] == "ValueError: bad input"
    assert span["events"][0]["attributes"]["exception.stacktrace"] == "ValueError: bad input"
    assert span["scope"] == "tests.snapshot"
    assert span["resource"]["service.name"] == "pytest"
    assert span["resource"]["service.instance.id"] == MASKED


def test_a_span_started_before_clear_keeps_its_place(capotel: TelemetryCapture) -> None:
    with tracer.start_as_current_span("request"):
        with tracer.start_as_current_span("setup"):
            pass
        capotel.clear()
        with tracer.start_as_current_span("work") as work:
            work.set_status(StatusCode.OK)

    assert capotel.span_tree(ids=True, times=True) == (
        "[trace=1 span=1 t=1..4] request (INTERNAL)\n    [span=2 t=2..3] work (INTERNAL)"
    )
