"""Session fixtures of the pipeline tests (tests/e2e/test_pipeline_*.py): one real stack per session,
the service instances that feed it, and the traffic they served.

Every fixture here only ever adds what it records, so the tests may run in any order: what one test
asserts is fixed once the fixtures it asks for have run. Two things would otherwise fade while other
tests run: the stack's Collector keeps quiet series for the session (_pipeline.INTERVALS), and
``recent_outage`` renews the outage traffic that a firing alert needs within 5 minutes. Instances are kept
apart by ``deployment.environment.name`` (MAIN_ENVIRONMENT for the known traffic, OUTAGE_ENVIRONMENT
for the instance without a database), and the tests filter on it.

Every instance delivers the alerts it raises to a fake Slack (tests/support/fake_slack.py), which
accepts them, and to a Sentry DSN on a port nobody listens on, which fails them: the dashboards'
alert delivery panels need both outcomes.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from _backends import alertmanager_alerts, eventually
from _pipeline import (
    ALERTS_FILE,
    SHORT_FOR,
    SHORT_FOR_ALERT,
    Stack,
    load_rules_with_short_for,
    running_stack,
)
from _traffic import (
    OUTAGE_ENVIRONMENT,
    SESSIONS,
    AlertChannels,
    ErrorRecord,
    ServiceProcess,
    TrafficRecord,
    known_traffic,
    outage_traffic,
    running_service,
    service_environment,
)
from fake_slack import running_fake_slack
from loopback_ports import free_ports

# Requests per route before and after the outage instance's first series reach Prometheus: 40 in
# the rate5m window is 0.13 req/s, above the alert's 0.05 req/s traffic floor.
OUTAGE_FIRST_BURST = 3
OUTAGE_SECOND_BURST = 40
# A burst keeps the alert's 5-minute error ratio above its thresholds for about 5 minutes. A test that
# starts within this of the last burst has all of its wait for the alert (at most 120 s) inside them.
OUTAGE_FRESH_S = 150


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The stack, its Prometheus evaluating MindhitHighErrorRatio with a short `for:` (see
    test_pipeline_alerts.py) from before any traffic, so the alert's first notification is never
    lost to the reload."""
    with running_stack(tmp_path_factory.mktemp("stack")) as started:
        load_rules_with_short_for(started, file=ALERTS_FILE, alert=SHORT_FOR_ALERT, duration=SHORT_FOR)
        yield started


@pytest.fixture(scope="session")
def alert_channels() -> Iterator[AlertChannels]:
    (closed_port,) = free_ports(1)
    with running_fake_slack() as slack:
        yield AlertChannels(
            slack,
            {
                "SLACK_TOKEN": slack.token,
                "SLACK_CHANNEL": "#mindhit-e2e",
                "SLACK_API_URL": slack.api_url,
                "SENTRY_DSN": f"http://e2e@127.0.0.1:{closed_port}/1",
            },
        )


@pytest.fixture(scope="session")
def api_service(
    stack: Stack, alert_channels: AlertChannels, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServiceProcess]:
    """The instance on SERVICE_PORT (where Alertmanager's webhook points), on SQLite, OTLP to the stack."""
    workdir = tmp_path_factory.mktemp("service")
    env = service_environment(
        otlp_endpoint=stack.otlp_http_url,
        database_url=f"sqlite:///{workdir / 'mindhit.db'}",
        jwt_secret=stack.secret("jwt_secret"),
        webhook_token=stack.secret("webhook-token"),
        alert_channels=alert_channels.env,
    )
    with running_service("service", env, port=stack.service_port, workdir=workdir) as service:
        yield service


@pytest.fixture(scope="session")
def traffic(api_service: ServiceProcess) -> TrafficRecord:
    return known_traffic(api_service)


@pytest.fixture(scope="session")
def outage_service(
    stack: Stack, alert_channels: AlertChannels, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServiceProcess]:
    """An instance whose DATABASE_URL names a PostgreSQL port nobody listens on: /ready and every API
    call answer 503. Same service name, its own deployment environment."""
    (closed_port,) = free_ports(1)
    env = service_environment(
        otlp_endpoint=stack.otlp_http_url,
        database_url=f"postgresql+psycopg://mindhit@127.0.0.1:{closed_port}/mindhit?connect_timeout=2",
        jwt_secret=stack.secret("jwt_secret"),
        webhook_token=stack.secret("webhook-token"),
        alert_channels=alert_channels.env,
        environment=OUTAGE_ENVIRONMENT,
    )
    (port,) = free_ports(1)
    workdir = tmp_path_factory.mktemp("outage-service")
    with running_service("outage-service", env, port=port, workdir=workdir, ready_path="/health") as service:
        yield service


@pytest.fixture(scope="session")
def outage(stack: Stack, api_service: ServiceProcess, outage_service: ServiceProcess) -> ErrorRecord:
    """5xx traffic from the outage instance, visible in Prometheus before its second burst.

    The main instance runs first: the alert this traffic raises is delivered to its webhook, and
    Alertmanager backs off for up to a minute after a refused connection.
    """
    first_burst = (
        f'http_server_request_duration_seconds_count{{deployment_environment_name="{OUTAGE_ENVIRONMENT}",'
        f'http_route="{SESSIONS}", http_response_status_code="503"}}'
    )
    return outage_traffic(
        outage_service,
        first=OUTAGE_FIRST_BURST,
        then=OUTAGE_SECOND_BURST,
        between=lambda: _wait_for_two_series(stack, first_burst),
    )


@pytest.fixture
def recent_outage(outage: ErrorRecord) -> ErrorRecord:
    """The session's outage with a burst at most OUTAGE_FRESH_S old, so its alert is firing (or about
    to) for the whole test.

    The tests run in random order: minutes of other tests may pass after the session's outage traffic,
    long enough for the error ratio to fall and the alert to resolve. Then the outage instance sends
    another burst; its series exist already, so rate() sees all of it.
    """
    if time.monotonic() - outage.last_burst_at > OUTAGE_FRESH_S:
        outage.burst(OUTAGE_SECOND_BURST)
    return outage


def _wait_for_two_series(stack: Stack, expr: str) -> None:
    eventually(
        lambda: stack.prometheus.query(expr),
        lambda samples: len(samples) == 2,
        timeout=30,
        what=f"the first 503s (GET and POST) never reached Prometheus: {expr}",
    )


@pytest.fixture(scope="session")
def alert_notified(
    stack: Stack, api_service: ServiceProcess, alert_channels: AlertChannels, outage: ErrorRecord
) -> None:
    """The outage's alert reached Alertmanager, which called the main instance's webhook with it, and the
    service posted it to the fake Slack (test_pipeline_alerts.py asserts each step; this only waits).

    Waited for by the Slack message, which names the alert: the webhook counter would also count other
    alerts (MindhitTelemetryAbsent fires once series of other tests' instances go quiet), and the message
    stays after the alert resolves and leaves Alertmanager, as it may have when minutes of other tests
    ran since the outage traffic (the tests run in random order).
    """

    def delivered() -> bool:
        return any(SHORT_FOR_ALERT in text for text in alert_channels.slack_texts())

    eventually(
        lambda: delivered() or bool(alertmanager_alerts(stack.alertmanager_url, SHORT_FOR_ALERT)),
        bool,
        timeout=120,  # bounded; Prometheus and Alertmanager lag on a loaded 2-core machine
        what=f"{SHORT_FOR_ALERT} never reached Alertmanager",
    )
    eventually(
        delivered,
        bool,
        timeout=120,  # bounded; Prometheus and Alertmanager lag on a loaded 2-core machine
        what=f"the service never posted {SHORT_FOR_ALERT}, from Alertmanager's webhook call, to the (fake) Slack",
    )
