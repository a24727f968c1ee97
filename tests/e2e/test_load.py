"""A bounded load test: 60 s of mixed traffic on loopback with every signal and alert channel live.

Four users record sessions at a steady pace while a fifth client posts Alertmanager notifications (each
a new alert, so each is raised, stored and delivered) and a scraper reads ``/metrics``; OTLP goes to
the real Collector. Nothing may answer 5xx, resident memory must not grow once warm, and every alert
raised must be stored: ``mindhit.alerts.raised`` equals the alerts in the outbox, each with its
deliveries. The only long test of the suite: ``DURATION_S``.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from _collector import BASE_CONFIG, BUILD_TIMEOUT_S, CollectorPorts, collector_binary, running_collector
from _collector import trace_sink as running_trace_sink
from fake_slack import FakeSlack
from service_process import Load, base_environment, metric_value, running_service, scrape, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(BUILD_TIMEOUT_S + 240)]

DURATION_S = 60.0
WARM_S = 15.0
MAX_RSS_GROWTH_KIB = 24 * 1024
WEBHOOK_TOKEN = "load-test-webhook-token"
METRICS_TOKEN = "load-test-metrics-token"
FIRING = json.loads((Path(__file__).parents[1] / "integration" / "fixtures" / "alertmanager_firing.json").read_text())


def _notification(number: int) -> dict[str, Any]:
    payload = json.loads(json.dumps(FIRING))
    for alert in payload["alerts"]:
        alert["fingerprint"] = f"load{number:012d}"
        alert["labels"]["alertname"] = f"LoadTestAlert{number}"
    return payload


def test_sixty_seconds_of_mixed_traffic(tmp_path: Path, fake_slack: FakeSlack) -> None:
    ports = CollectorPorts.allocate()
    with running_trace_sink() as sink:
        collector_env = {
            **ports.env(),
            "OTELCOL_STORAGE_DIR": str(tmp_path / "storage"),
            "LOGS_FILE_PATH": str(tmp_path / "logs.jsonl"),
            "TRACES_OTLP_ENDPOINT": sink.endpoint,
        }
        with running_collector(
            collector_binary(),
            [BASE_CONFIG],
            env=collector_env,
            health_url=ports.health_url,
            log_path=tmp_path / "collector.log",
        ):
            env = base_environment(
                tmp_path,
                OTEL_EXPORTER_OTLP_ENDPOINT=ports.otlp_http_url,
                LOG_LEVEL="WARNING",
                METRICS_TOKEN=METRICS_TOKEN,
                ALERTMANAGER_WEBHOOK_TOKEN=WEBHOOK_TOKEN,
                SLACK_TOKEN=fake_slack.token,
                SLACK_CHANNEL="#load",
                SLACK_API_URL=fake_slack.api_url,
                ALERT_POLL_SECONDS="0.2",
                ALERT_RATE_LIMIT_PER_MINUTE="1000",
            )
            with running_service(tmp_path / "service", env) as service:
                rss: list[tuple[float, int]] = []
                notifications: list[int] = []
                scrapes: list[int] = []
                stop = threading.Event()

                def side_traffic() -> None:
                    with httpx.Client(base_url=service.url, timeout=15) as client:
                        number = 0
                        while not stop.wait(0.5):
                            number += 1
                            response = client.post(
                                "/api/v1/alerts/alertmanager",
                                json=_notification(number),
                                headers={"Authorization": f"Bearer {WEBHOOK_TOKEN}"},
                            )
                            notifications.append(response.status_code)
                            metrics = client.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
                            scrapes.append(metrics.status_code)

                side = threading.Thread(target=side_traffic, name="side-traffic", daemon=True)
                started = time.monotonic()
                load = Load(service.url, workers=4, rate=10, duration_s=DURATION_S, max_requests=4000).start()
                side.start()
                while time.monotonic() - started < DURATION_S:
                    rss.append((time.monotonic() - started, service.rss_kib()))
                    time.sleep(2.5)
                result = load.wait()
                stop.set()
                side.join(timeout=30)

                raised = wait_until(
                    lambda: _all_stored(service, tmp_path), timeout=30, what="every raised alert to be stored"
                )
                exposition = scrape(service, headers={"Authorization": f"Bearer {METRICS_TOKEN}"})

    statuses = result.statuses()
    assert sum(statuses.values()) > 1500, statuses
    assert not {s for s in statuses if s >= 500 or s == 0}, statuses
    assert set(notifications) == {200}
    assert set(scrapes) == {200}
    warm = [kib for at, kib in rss if at >= WARM_S]
    assert max(warm) - warm[0] <= MAX_RSS_GROWTH_KIB, rss
    stored, deliveries = raised
    assert stored == len(notifications)
    assert metric_value(exposition, "mindhit_alerts_raised_total") == stored
    assert deliveries == stored  # one Slack delivery row per stored alert (the only channel)
    assert fake_slack.requests


def _all_stored(service: Any, tmp_path: Path) -> tuple[int, int] | None:
    exposition = scrape(service, headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    raised = metric_value(exposition, "mindhit_alerts_raised_total")
    with sqlite3.connect(tmp_path / "mindhit.db") as db:
        stored = db.execute("SELECT COALESCE(SUM(count), 0) FROM alerts").fetchone()[0]
        deliveries = db.execute("SELECT COUNT(*) FROM alert_deliveries").fetchone()[0]
    return (int(stored), int(deliveries)) if raised and stored == raised else None
