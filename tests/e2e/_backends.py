"""Read-only clients for what the pipeline feeds: Prometheus, Alertmanager, Jaeger, Zipkin and the
Collector's log file; and ``eventually``, the one bounded poll every end-to-end assertion goes through.

Every failure message ends with what the backend last answered, so a red test says what it saw.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from pprint import pformat
from typing import Any, TypeVar

import httpx
import pytest

T = TypeVar("T")
HTTP_TIMEOUT_S = 5.0


def eventually(probe: Callable[[], T], accept: Callable[[T], bool], *, timeout: float, what: str) -> T:
    """Call ``probe`` until ``accept`` likes its answer; fail after ``timeout`` showing the last answer.

    A probe that raises an HTTP or OS error counts as "not yet" (a backend still starting); the last
    such error is what the failure shows.
    """
    deadline = time.monotonic() + timeout
    last: object = "no answer"
    while True:
        try:
            value = probe()
        except (httpx.HTTPError, OSError) as exc:
            last = f"{type(exc).__name__}: {exc}"
        else:
            if accept(value):
                return value
            last = value
        if time.monotonic() >= deadline:
            shown = last if isinstance(last, str) else pformat(last, width=120)
            pytest.fail(f"{what}: not within {timeout:.0f} s. Last answer:\n{shown}", pytrace=False)
        time.sleep(0.5)


def get_json(url: str, **params: str) -> Any:
    response = httpx.get(url, params=params, timeout=HTTP_TIMEOUT_S)
    response.raise_for_status()
    return response.json()


# ------------------------------------------------------------------------------------- Prometheus


@dataclass(frozen=True)
class Sample:
    """One element of an instant vector."""

    labels: Mapping[str, str]
    value: float

    def __repr__(self) -> str:
        return f"{dict(self.labels)} = {self.value:g}"


@dataclass(frozen=True)
class Prometheus:
    url: str

    def query(self, expr: str) -> list[Sample]:
        """An instant query at "now". A query Prometheus refuses (bad PromQL) fails the test at once."""
        response = httpx.get(f"{self.url}/api/v1/query", params={"query": expr}, timeout=HTTP_TIMEOUT_S)
        if response.status_code >= 500:
            response.raise_for_status()  # not yet: eventually() tries again
        body = response.json()
        if body.get("status") != "success":
            pytest.fail(f"Prometheus refused {expr!r}: {body.get('errorType')}: {body.get('error')}", pytrace=False)
        result = body["data"]["result"]
        if body["data"]["resultType"] == "scalar":
            return [Sample({}, float(result[1]))]
        return [Sample(item["metric"], float(item["value"][1])) for item in result]

    def values(self, expr: str, *keys: str) -> dict[tuple[str, ...], float]:
        """``expr``'s samples keyed by the values of ``keys`` (missing labels read as "")."""
        return {tuple(sample.labels.get(key, "") for key in keys): sample.value for sample in self.query(expr)}

    def wait_for_values(
        self, expr: str, keys: tuple[str, ...], expected: Mapping[tuple[str, ...], float], *, timeout: float = 30
    ) -> None:
        """Poll until ``values(expr, *keys)`` is exactly ``expected``."""
        eventually(
            lambda: self.values(expr, *keys),
            lambda found: found == expected,
            timeout=timeout,
            what=f"{expr}\n  by {keys} should be exactly {dict(expected)}",
        )

    def wait_for_samples(self, expr: str, *, timeout: float = 30, what: str = "") -> list[Sample]:
        """Poll until ``expr`` returns at least one sample."""
        return eventually(lambda: self.query(expr), bool, timeout=timeout, what=what or f"{expr} returned no data")

    def rules(self) -> list[dict[str, Any]]:
        data = get_json(f"{self.url}/api/v1/rules")["data"]
        return [rule for group in data["groups"] for rule in group["rules"]]

    def alerts(self) -> list[dict[str, Any]]:
        alerts: list[dict[str, Any]] = get_json(f"{self.url}/api/v1/alerts")["data"]["alerts"]
        return alerts

    def alertmanagers(self) -> list[str]:
        """URLs of the Alertmanagers Prometheus currently sends alerts to."""
        data = get_json(f"{self.url}/api/v1/alertmanagers")["data"]
        return [item["url"] for item in data["activeAlertmanagers"]]

    def active_targets(self) -> list[dict[str, Any]]:
        targets: list[dict[str, Any]] = get_json(f"{self.url}/api/v1/targets")["data"]["activeTargets"]
        return targets


# ------------------------------------------------------------------------------------ Alertmanager


def alertmanager_alerts(url: str, alertname: str) -> list[dict[str, Any]]:
    """Alerts Alertmanager holds under that name (API v2)."""
    alerts: list[dict[str, Any]] = get_json(f"{url}/api/v2/alerts", filter=f'alertname="{alertname}"')
    return alerts


# ------------------------------------------------------------------------------------------ traces


@dataclass(frozen=True)
class TraceSpan:
    """A span as a trace backend returned it, reduced to what the tests compare."""

    span_id: str
    parent_id: str | None
    name: str
    kind: str  # "server", "client", ... (lower case in both backends)


def jaeger_trace(url: str, trace_id: str) -> list[TraceSpan]:
    """The spans Jaeger's query API has for ``trace_id``; empty while it does not know the trace."""
    response = httpx.get(f"{url}/api/traces/{trace_id}", timeout=HTTP_TIMEOUT_S)
    if response.status_code == 404:
        return []
    response.raise_for_status()
    spans = []
    for trace in response.json().get("data") or []:
        for span in trace["spans"]:
            parents = [ref["spanID"] for ref in span.get("references", []) if ref["refType"] == "CHILD_OF"]
            tags = {tag["key"]: tag["value"] for tag in span.get("tags", [])}
            spans.append(
                TraceSpan(span["spanID"], parents[0] if parents else None, span["operationName"], tags["span.kind"])
            )
    return spans


def zipkin_trace(url: str, trace_id: str) -> list[TraceSpan]:
    """The spans Zipkin has for ``trace_id``. Zipkin stores span names in lower case."""
    response = httpx.get(f"{url}/api/v2/trace/{trace_id}", timeout=HTTP_TIMEOUT_S)
    if response.status_code == 404:
        return []
    response.raise_for_status()
    return [
        TraceSpan(span["id"], span.get("parentId"), span.get("name", ""), span.get("kind", "").lower())
        for span in response.json()
    ]


def server_span_with_db_child(spans: list[TraceSpan], server_name: str, db_name: str) -> TraceSpan | None:
    """The server span named ``server_name`` if a client span named ``db_name`` is its child (names
    compared case-insensitively, for Zipkin)."""
    for server in spans:
        if server.kind != "server" or server.name.lower() != server_name.lower():
            continue
        if any(
            span.kind == "client" and span.name.lower() == db_name.lower() and span.parent_id == server.span_id
            for span in spans
        ):
            return server
    return None


# -------------------------------------------------------------------------------------------- logs


@dataclass(frozen=True)
class LogRecord:
    trace_id: str
    span_id: str
    severity: str
    body: str
    resource: Mapping[str, str]


def _string_attributes(attributes: list[dict[str, Any]]) -> dict[str, str]:
    return {item["key"]: str(next(iter(item["value"].values()), "")) for item in attributes if item.get("value")}


def exported_log_records(path: Path) -> Iterator[LogRecord]:
    """Records in the Collector's ``file`` exporter output: OTLP/JSON, one export request per line.

    OTLP/JSON writes trace and span ids in hex. A line still being written is skipped.
    """
    if not path.exists():
        return
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            request = json.loads(line)
        except json.JSONDecodeError:
            continue
        for resource_logs in request.get("resourceLogs", []):
            resource = _string_attributes(resource_logs.get("resource", {}).get("attributes", []))
            for scope_logs in resource_logs.get("scopeLogs", []):
                for record in scope_logs.get("logRecords", []):
                    yield LogRecord(
                        trace_id=record.get("traceId", ""),
                        span_id=record.get("spanId", ""),
                        severity=record.get("severityText", ""),
                        body=str(record.get("body", {}).get("stringValue", "")),
                        resource=resource,
                    )
