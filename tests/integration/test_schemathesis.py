"""Property-based requests generated from the service's own OpenAPI document: no 5xx, no response that breaks it.

Schemathesis reads ``/openapi.json`` from the running service and, for every operation, generates
valid and invalid requests (wrong types, missing or extra fields, odd strings, boundary numbers), sent
with the right credentials for the operation. Its default checks then hold every response to the
document: never a 5xx, a documented status, a matching schema and content type, invalid input
refused, valid input accepted, and authentication enforced (it replays requests without or with wrong
credentials). A real process, so those replays reach the service as any client's would. Bounded:
hypothesis is derandomized, ``MAX_EXAMPLES`` per operation and mode.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from service_process import ServiceProcess, base_environment, running_service, token

MAX_EXAMPLES = 30
METRICS_TOKEN = "schemathesis-metrics-token"
WEBHOOK_TOKEN = "schemathesis-webhook-token"
# Each operation outside the user-authenticated API has credentials of its own.
TOKENS = {"/metrics": METRICS_TOKEN, "/api/v1/alerts/alertmanager": WEBHOOK_TOKEN}


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    workdir = tmp_path_factory.mktemp("schemathesis")
    # Deployed as it should be: /metrics and the webhook each behind their own token.
    env = base_environment(
        workdir, METRICS_TOKEN=METRICS_TOKEN, ALERTMANAGER_WEBHOOK_TOKEN=WEBHOOK_TOKEN, LOG_LEVEL="WARNING"
    )
    with running_service(workdir, env) as running:
        yield running


def _operations(service: ServiceProcess) -> list[schemathesis.APIOperation]:
    schema = schemathesis.openapi.from_dict(httpx.get(f"{service.url}/openapi.json", timeout=10).json())
    return [result.ok() for result in schema.get_all_operations()]


@pytest.mark.parametrize("mode", [schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE])
def test_every_operation_answers_within_its_contract(
    service: ServiceProcess, mode: schemathesis.GenerationMode
) -> None:
    operations = _operations(service)
    assert len(operations) >= 9, [op.label for op in operations]
    user = token("schemathesis")
    for operation in operations:
        _exercise(service, operation, mode, {"Authorization": f"Bearer {TOKENS.get(operation.path, user)}"})


def _exercise(
    service: ServiceProcess,
    operation: schemathesis.APIOperation,
    mode: schemathesis.GenerationMode,
    headers: dict[str, str],
) -> None:
    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    def check(case: schemathesis.Case) -> None:
        case.call_and_validate(base_url=service.url, headers=headers)

    try:
        check()
    except Unsatisfiable:
        # No input to get wrong (GET /health takes none): only the positive mode applies.
        assert mode is schemathesis.GenerationMode.NEGATIVE, operation.label


def test_the_service_logged_no_server_error(service: ServiceProcess) -> None:
    # Runs after (or without) the generated requests; any 5xx or unhandled error would show here too.
    httpx.get(f"{service.url}/health", timeout=5)
    assert '"http.response.status_code": 5' not in service.output()
    assert "Traceback" not in service.output()
