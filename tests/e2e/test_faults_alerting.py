"""Slack hanging and Sentry failing while alerts pour in under load: requests do not notice.

The alerting issue proved each channel failure on its own (tests/integration/test_alerting.py); here
they happen together, under steady mixed load on the real process, with an injected failure in every
round of every user (each a new alert: no cooldown). Healthy and broken-channel segments alternate on
the same process; every alert raised is stored whatever its deliveries did.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import httpx
import pytest
from fake_sentry import FakeSentry, SentryMode
from fake_slack import FakeSlack, SlackMode
from service_process import (
    Load,
    LoadResult,
    Sample,
    base_environment,
    metric_value,
    running_service,
    scrape,
    wait_until,
)

pytestmark = pytest.mark.e2e

SEGMENT_S = 2.5
ROUNDS = 6
P99_RATIO = 1.2
P99_NOISE_FLOOR_S = 0.075  # see test_faults_collector.py
FAULT = """
import service.crud as crud
_list_sessions = crud.list_sessions
def list_sessions(**kwargs):
    if kwargs.get("offset") == 7:
        raise RuntimeError("injected failure")
    return _list_sessions(**kwargs)
crud.list_sessions = list_sessions
"""


def _failing(client: httpx.Client, _round: int) -> tuple[str, httpx.Response]:
    return "injected", client.get("/api/v1/sessions?offset=7")


def test_broken_alert_channels_do_not_slow_requests_under_load(
    tmp_path: Path, fake_slack: FakeSlack, fake_sentry: FakeSentry
) -> None:
    env = base_environment(
        tmp_path,
        LOG_LEVEL="WARNING",
        OTEL_TRACES_EXPORTER="none",
        OTEL_LOGS_EXPORTER="none",
        OTEL_METRICS_EXPORTER="none",
        SLACK_TOKEN=fake_slack.token,
        SLACK_CHANNEL="#alerts",
        SLACK_API_URL=fake_slack.api_url,
        SENTRY_DSN=fake_sentry.dsn,
        ALERT_COOLDOWN_SECONDS="0",
        ALERT_POLL_SECONDS="0.2",
        ALERT_CHANNEL_TIMEOUT_SECONDS="2",
        ALERT_RATE_LIMIT_PER_MINUTE="600",
    )
    healthy: list[list[Sample]] = []  # a segment per round
    broken: list[list[Sample]] = []
    threads_healthy: list[int] = []
    threads_broken: list[int] = []
    with running_service(tmp_path, env, fault=FAULT) as service:
        Load(service.url, workers=4, rate=7.5, duration_s=3, additional=_failing).start().wait()  # warm-up
        for _ in range(ROUNDS):
            for mode, samples, threads in (("ok", healthy, threads_healthy), ("broken", broken, threads_broken)):
                fake_slack.set_mode(SlackMode.OK if mode == "ok" else SlackMode.HANG)
                fake_sentry.set_mode(SentryMode.OK if mode == "ok" else SentryMode.SERVER_ERROR)
                if mode == "ok":
                    fake_slack.release()
                load = Load(service.url, workers=4, rate=7.5, duration_s=SEGMENT_S, additional=_failing).start()
                threads.append(service.threads())
                samples.append(load.wait().samples)
                threads.append(service.threads())
        fake_slack.set_mode(SlackMode.OK)
        fake_slack.release()
        fake_sentry.set_mode(SentryMode.OK)
        raised = wait_until(lambda: _raised_and_stored(service, tmp_path), timeout=30, what="every alert stored")

    for segment in [*healthy, *broken]:
        assert not [s for s in segment if s.label != "injected" and (s.status >= 500 or s.status == 0)]
        assert {s.status for s in segment if s.label == "injected"} == {500}
    good = LoadResult.typical_p99([[s for s in segment if s.label != "injected"] for segment in healthy])
    bad = LoadResult.typical_p99([[s for s in segment if s.label != "injected"] for segment in broken])
    assert bad <= max(P99_RATIO * good, good + P99_NOISE_FLOOR_S), (good, bad)
    assert max(threads_broken) <= max(threads_healthy) + 1, (threads_healthy, threads_broken)
    assert raised >= 2 * ROUNDS
    assert fake_slack.requests
    assert fake_sentry.envelopes


def _raised_and_stored(service: object, tmp_path: Path) -> int | None:
    raised = metric_value(scrape(service), "mindhit_alerts_raised_total")  # type: ignore[arg-type]
    with sqlite3.connect(tmp_path / "mindhit.db") as db:
        stored = db.execute("SELECT COALESCE(SUM(count), 0) FROM alerts").fetchone()[0]
    time.sleep(0.1)
    return int(raised) if raised and stored == raised else None
