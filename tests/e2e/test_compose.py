"""docker-compose.yml and the Dockerfile, checked without a Docker engine.

Debian's docker-compose 1.29 validates and renders a compose file on its own; the rest are static
checks on the parsed YAML: mounts that exist, pinned images, health checks, and no secret in the file.
"""

import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from _stack import REPO_ROOT, need_tools

pytestmark = pytest.mark.e2e

COMPOSE_FILE = REPO_ROOT / "docker-compose.yml"
# Every variable the file requires with ${VAR:?...}; each gets a dummy value (files for *_FILE).
REQUIRED_VALUES = ("POSTGRES_PASSWORD", "JWT_SECRET", "GRAFANA_ADMIN_PASSWORD")
REQUIRED_FILES = ("ALERTMANAGER_WEBHOOK_TOKEN_FILE", "SLACK_WEBHOOK_URL_FILE", "PAGERDUTY_ROUTING_KEY_FILE")
SECRET_KEY = re.compile(r"PASSWORD|SECRET|TOKEN|API_?KEY|ROUTING_KEY|WEBHOOK_URL|CREDENTIAL", re.IGNORECASE)
SECRET_LOOKING = (
    re.compile(r"\b[0-9a-f]{32,}\b", re.IGNORECASE),  # hex keys
    # base64 / urlsafe keys: long, with letters and digits (paths and slugs have no such runs)
    re.compile(r"(?<![\w/.-])(?=[\w+-]*\d)(?=[\w+-]*[A-Za-z])[\w+-]{32,}={0,2}"),
    re.compile(r"hooks\.slack\.com/services/"),
    re.compile(r"\b(xox[abpr]|sk|ghp|glpat)-[A-Za-z0-9-]{10,}"),
    re.compile(r"://[^/\s:@]+:[^@\s$]+@"),  # a URL with a literal password (not ${...})
)


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded = yaml.safe_load(COMPOSE_FILE.read_text())
    assert isinstance(loaded, dict)
    return loaded


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found = compose["services"]
    assert isinstance(found, dict)
    assert found
    return found


@pytest.fixture
def compose_env(tmp_path: Path) -> dict[str, str]:
    """A minimal environment with dummy values for every required variable, and no .env file."""
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(tmp_path)}
    env.update({name: f"dummy-{name.lower()}" for name in REQUIRED_VALUES})
    for name in REQUIRED_FILES:
        path = tmp_path / name.lower()
        path.write_text("dummy\n")
        env[name] = str(path)
    return env


def run_compose_config(env: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    need_tools("docker-compose")
    empty_env_file = tmp_path / "empty.env"
    empty_env_file.touch()
    # A project .env (a developer's real secrets) must neither help nor leak into the output.
    return subprocess.run(  # noqa: S603  (fixed arguments, no shell)
        # S607: docker-compose is found on PATH, as it would be for the person running the tests.
        ["docker-compose", "--env-file", str(empty_env_file), "-f", str(COMPOSE_FILE), "config"],  # noqa: S607
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_docker_compose_config_accepts_the_file(compose_env: dict[str, str], tmp_path: Path) -> None:
    result = run_compose_config(compose_env, tmp_path)
    assert result.returncode == 0, result.stderr
    rendered = yaml.safe_load(result.stdout)
    assert set(rendered["services"]) >= {
        "api", "migrate", "postgres", "otel-collector", "prometheus", "alertmanager", "tempo", "loki", "grafana",
    }  # fmt: skip


def test_every_secret_is_required_not_defaulted() -> None:
    text = COMPOSE_FILE.read_text()
    for name in REQUIRED_VALUES + REQUIRED_FILES:
        assert f"${{{name}:?" in text, f"{name} must be required with ${{{name}:?message}}"
        assert f"${{{name}:-" not in text, f"{name} must not have a default"
        assert f"${{{name}}}" not in text, f"{name} must not be optional"


def test_docker_compose_refuses_to_run_without_a_required_secret(compose_env: dict[str, str], tmp_path: Path) -> None:
    del compose_env["JWT_SECRET"]
    result = run_compose_config(compose_env, tmp_path)
    assert result.returncode != 0
    assert "set JWT_SECRET in .env" in result.stderr


def bind_mounts(service: dict[str, Any]) -> Iterator[str]:
    for volume in service.get("volumes", []):
        if isinstance(volume, str):
            source = volume.split(":", 1)[0]
        elif volume.get("type") == "bind":
            source = volume["source"]
        else:
            continue
        if source.startswith((".", "/", "~")):
            yield source


def test_every_bind_mounted_host_path_exists_in_the_repository(services: dict[str, dict[str, Any]]) -> None:
    sources = [(name, source) for name, service in services.items() for source in bind_mounts(service)]
    assert sources, "expected configuration files to be bind-mounted"
    for name, source in sources:
        assert source.startswith("./"), f"{name}: {source} must be relative to the repository"
        assert (REPO_ROOT / source).exists(), f"{name}: {source} does not exist"


def test_every_build_context_has_a_dockerfile(services: dict[str, dict[str, Any]]) -> None:
    builds = [service["build"] for service in services.values() if "build" in service]
    assert builds
    for build in builds:
        context = build if isinstance(build, str) else build["context"]
        dockerfile = "Dockerfile" if isinstance(build, str) else build.get("dockerfile", "Dockerfile")
        assert (REPO_ROOT / context / dockerfile).is_file()


def test_every_image_is_pinned(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        image = service.get("image")
        assert image or "build" in service, f"{name} has neither image nor build"
        if image is None:
            continue
        reference = image.split("@", 1)[0]
        repository, _, tag = reference.rpartition(":")
        assert repository, f"{name}: {image} has no tag"
        assert "/" not in tag, f"{name}: {image} has no tag"
        assert tag not in {"latest", "main", "master", "nightly", "edge"}, f"{name}: {image} floats"
        if "build" not in service:
            assert re.search(r"\d+\.\d+", tag), f"{name}: {image} is not pinned to a version"


def test_the_collector_image_matches_our_collector_build(services: dict[str, dict[str, Any]]) -> None:
    manifest = (REPO_ROOT / "collector" / "builder-config.yaml").read_text()
    core = set(re.findall(r"go\.opentelemetry\.io/collector/\S+ v(0\.\d+\.\d+)", manifest))
    assert len(core) == 1, core
    image = services["otel-collector"]["image"]
    assert image == f"otel/opentelemetry-collector-contrib:{core.pop()}"


def one_shots(services: dict[str, dict[str, Any]]) -> set[str]:
    """Services others wait on to *finish*, and that are never restarted."""
    awaited = {
        dependency
        for service in services.values()
        for dependency, condition in (service.get("depends_on") or {}).items()
        if isinstance(condition, dict) and condition.get("condition") == "service_completed_successfully"
    }
    return {name for name in awaited if services[name].get("restart") == "no"}


def test_every_long_running_service_has_a_health_check(services: dict[str, dict[str, Any]]) -> None:
    finishing = one_shots(services)
    assert {"migrate", "init-volumes"} <= finishing
    for name, service in services.items():
        if name in finishing:
            assert "healthcheck" not in service
            continue
        check = service.get("healthcheck")
        assert check, f"{name} has no healthcheck"
        assert not check.get("disable"), f"{name} disables its healthcheck"
        assert check["test"][0] in {"CMD", "CMD-SHELL"}, f"{name}: {check['test']}"


def test_services_wait_for_what_they_need(services: dict[str, dict[str, Any]]) -> None:
    api = services["api"]["depends_on"]
    assert api["migrate"] == {"condition": "service_completed_successfully"}
    assert api["postgres"] == {"condition": "service_healthy"}
    assert services["migrate"]["command"] == ["python", "-m", "service", "migrate"]
    assert services["migrate"]["depends_on"]["postgres"] == {"condition": "service_healthy"}
    assert "postgres:5432" in services["api"]["environment"]["DATABASE_URL"]


def test_published_ports_are_loopback_only(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        for port in service.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port} on every interface"


def test_data_lives_in_named_volumes(compose: dict[str, Any], services: dict[str, dict[str, Any]]) -> None:
    declared = set(compose.get("volumes") or {})
    for name, service in services.items():
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0] if isinstance(volume, str) else volume.get("source", "")
            if source and not source.startswith((".", "/", "~")):
                assert source in declared, f"{name} uses undeclared volume {source}"
    assert {"postgres-data", "prometheus-data", "grafana-data", "tempo-data", "loki-data"} <= declared


def test_no_secret_is_written_in_the_file(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        environment = service.get("environment") or {}
        assert isinstance(environment, dict), f"{name}: use the mapping form of environment"
        for key, value in environment.items():
            if SECRET_KEY.search(key) and value not in (None, ""):
                text = str(value)
                assert text.startswith(("${", "/run/secrets/")), f"{name}: {key} is a literal"
    text = COMPOSE_FILE.read_text()
    for pattern in SECRET_LOOKING:
        assert not pattern.search(text), f"secret-looking text in docker-compose.yml: {pattern.pattern}"


def test_dockerfile_is_multi_stage_non_root_with_a_health_check() -> None:
    dockerfile = (REPO_ROOT / "Dockerfile").read_text()
    instructions = [line.split(None, 1) for line in dockerfile.splitlines() if line and not line.startswith("#")]
    froms = [args for keyword, *args in instructions if keyword == "FROM"]
    assert len(froms) >= 2
    users = [args[0] for keyword, *args in instructions if keyword == "USER"]
    assert users, "the image must drop root"
    assert users[-1].split(":")[0] not in {"root", "0"}
    assert any(keyword == "HEALTHCHECK" for keyword, *_ in instructions)
    assert "/health" in dockerfile
    assert "pip install" in dockerfile
    assert re.search(r"^ARG PYTHON_IMAGE=python:\d+\.\d+\.\d+-", dockerfile, re.MULTILINE)


def test_docker_build_context_leaves_local_state_out() -> None:
    ignore = (REPO_ROOT / ".dockerignore").read_text().splitlines()
    # An allow-list: everything is excluded first, then only what the build needs comes back.
    rules = [line.strip() for line in ignore if line.strip() and not line.startswith("#")]
    assert rules[0] == "*"
    allowed = {rule[1:].rstrip("/") for rule in rules if rule.startswith("!")}
    assert allowed == {"pyproject.toml", "README.md", "otel", "service"}


def test_hosts_named_by_mounted_configs_are_compose_services(services: dict[str, dict[str, Any]]) -> None:
    """Prometheus' compose targets, Grafana's datasources and Alertmanager's webhooks must name services
    of this file."""
    prometheus = yaml.safe_load((REPO_ROOT / "prometheus" / "prometheus.compose.yml").read_text())
    targets = [
        target
        for section in [*prometheus["scrape_configs"], *prometheus["alerting"]["alertmanagers"]]
        for static in section.get("static_configs", [])
        for target in static["targets"]
    ]
    datasources = [
        source["url"]
        for path in sorted((REPO_ROOT / "grafana" / "provisioning" / "datasources").glob("*.y*ml"))
        for source in yaml.safe_load(path.read_text()).get("datasources", [])
        if "url" in source
    ]
    alertmanager = yaml.safe_load((REPO_ROOT / "alertmanager" / "alertmanager.compose.yml").read_text())
    webhooks = [hook["url"] for receiver in alertmanager["receivers"] for hook in receiver.get("webhook_configs", [])]
    hosts = {target.rsplit(":", 1)[0] for target in targets}
    hosts |= {re.sub(r"^\w+://([^:/]+).*", r"\1", url) for url in datasources + webhooks}
    assert hosts
    assert hosts - {"localhost"} <= set(services), hosts - set(services)
