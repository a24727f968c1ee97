"""scripts/stack-up.sh and stack-down.sh, for real: start the stack on free loopback ports, check
every component's health endpoint and one trace through the Collector into both trace backends, then
stop it and check that none of its processes is left.

The first run fetches Zipkin (~135 MB) and builds Jaeger and the Collector (minutes each); later
runs reuse the cache (STACK_CACHE_DIR, OTELCOL_CACHE_DIR).
"""

import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from _stack import READY_TIMEOUT_S, REPO_ROOT, SCRIPTS, need_tools, read_env_file, stack_environment, wait_for
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

pytestmark = pytest.mark.e2e

# A cold cache builds Jaeger and the Collector; a warm one starts the stack in well under a minute.
BUILD_TIMEOUT_S = 1800
INTERVALS = {"STACK_SCRAPE_INTERVAL": "2s", "STACK_EVALUATION_INTERVAL": "2s"}


def run_script(name: str, env: dict[str, str], *args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603  (our own scripts, no shell)
        [str(SCRIPTS / name), *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def recorded_processes(stack_dir: Path) -> dict[str, tuple[int, str]]:
    """name -> (pid, start time) from the PID files stack-up.sh wrote."""
    recorded = {}
    for path in (stack_dir / "pids").glob("*.pid"):
        pid, start, _name = path.read_text().split()
        recorded[path.stem] = (int(pid), start)
    return recorded


def still_running(pid: int, start: str) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    fields = stat.rsplit(")", 1)[1].split()
    return fields[19] == start and fields[0] != "Z"


def processes_inside(stack_dir: Path) -> list[str]:
    """Processes whose working directory is in the stack's folder: every component runs in its own."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cwd = os.readlink(proc / "cwd")
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if cwd == str(stack_dir) or cwd.startswith(f"{stack_dir}/"):
            found.append(f"{proc.name}: {cmdline.strip()}")
    return found


@pytest.fixture(scope="module")
def built() -> None:
    """The trace backends and the Collector, fetched or built once (cached across runs)."""
    need_tools("prometheus", "prometheus-alertmanager", "java", "curl", "setsid")
    need_tools("mvn", "go")
    for command in (["fetch-trace-backends.sh"], ["build-collector.sh"]):
        result = run_script(command[0], dict(os.environ), *command[1:], timeout=BUILD_TIMEOUT_S)
        assert result.returncode == 0, f"{command[0]} failed:\n{result.stderr[-4000:]}"
    if not (REPO_ROOT / "collector-config.yaml").is_file():
        pytest.fail("collector-config.yaml is missing")


@pytest.fixture(scope="module")
def stack(built: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[dict[str, str], Path]]:
    stack_dir = tmp_path_factory.mktemp("stack")
    env = stack_environment(stack_dir, **INTERVALS)
    up = run_script("stack-up.sh", env, timeout=READY_TIMEOUT_S * 8)
    try:
        assert up.returncode == 0, f"stack-up.sh failed:\n{up.stderr[-6000:]}"
        assert "Stack is up" in up.stdout
        yield env, stack_dir
    finally:
        # Whatever the assertions said, leave nothing running behind.
        run_script("stack-down.sh", env, timeout=120)


@pytest.mark.timeout(BUILD_TIMEOUT_S + 600)
def test_stack_up_starts_every_component_healthy_and_stack_down_leaves_nothing(
    stack: tuple[dict[str, str], Path],
) -> None:
    env, stack_dir = stack
    urls = read_env_file(stack_dir / "stack.env")
    recorded = recorded_processes(stack_dir)
    assert set(recorded) == {"alertmanager", "prometheus", "jaeger", "zipkin", "collector"}
    assert "SERVICE_URL" not in urls  # STACK_SKIP_SERVICE=1

    wait_for(f"{urls['PROMETHEUS_URL']}/-/ready", timeout=10)
    wait_for(f"{urls['ALERTMANAGER_URL']}/-/ready", timeout=10)
    wait_for(urls["OTELCOL_HEALTH_URL"], timeout=10)
    wait_for(urls["OTELCOL_TELEMETRY_URL"], timeout=10)
    wait_for(f"{urls['JAEGER_QUERY_URL']}/api/services", timeout=10)
    wait_for(f"http://127.0.0.1:{env['JAEGER_HEALTH_PORT']}/status", timeout=10)
    wait_for(f"{urls['ZIPKIN_URL']}/health", timeout=10)
    assert urls["PROMETHEUS_URL"].endswith(f":{env['PROMETHEUS_PORT']}")

    # Prometheus got the rendered config: it scrapes the Collector's own telemetry on the test's port.
    assert scraped_target_health(urls["PROMETHEUS_URL"], job="otelcol") == (
        f"http://127.0.0.1:{env['OTELCOL_TELEMETRY_PORT']}/metrics",
        "up",
    )

    # One trace through the Collector reaches both trace backends.
    trace_id = send_one_trace(urls["OTELCOL_OTLP_HTTP_URL"])
    _, jaeger = wait_for(f"{urls['JAEGER_QUERY_URL']}/api/traces/{trace_id}", timeout=30)
    assert b"stack-scripts-probe" in jaeger
    _, zipkin = wait_for(f"{urls['ZIPKIN_URL']}/api/v2/trace/{trace_id}", timeout=30)
    assert b"stack-scripts-probe" in zipkin

    down = run_script("stack-down.sh", env, timeout=120)
    assert down.returncode == 0, down.stderr
    for name, (pid, start) in recorded.items():
        assert not still_running(pid, start), f"{name} (pid {pid}) survived stack-down.sh"
    assert processes_inside(stack_dir) == []
    assert not list((stack_dir / "pids").glob("*.pid"))

    again = run_script("stack-down.sh", env, timeout=60)
    assert again.returncode == 0, again.stderr


def scraped_target_health(prometheus_url: str, *, job: str, timeout: float = 30) -> tuple[str, str]:
    """The scrape URL and health of ``job``'s target, once Prometheus has scraped it (or at timeout)."""
    deadline = time.monotonic() + timeout
    while True:
        _, body = wait_for(f"{prometheus_url}/api/v1/targets?state=active", timeout=10)
        targets = [t for t in json.loads(body)["data"]["activeTargets"] if t["labels"].get("job") == job]
        assert len(targets) == 1, targets
        if targets[0]["health"] == "up" or time.monotonic() > deadline:
            return targets[0]["scrapeUrl"], targets[0]["health"]
        time.sleep(1)


def send_one_trace(otlp_http_url: str) -> str:
    """A span sent with a private provider (the global one is not touched); its trace id in hex."""
    provider = TracerProvider(resource=Resource.create({"service.name": "stack-scripts-e2e"}))
    provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=f"{otlp_http_url}/v1/traces")))
    try:
        with provider.get_tracer("tests.e2e").start_as_current_span("stack-scripts-probe") as span:
            trace_id = span.get_span_context().trace_id
    finally:
        provider.shutdown()
    return f"{trace_id:032x}"


def test_stack_down_with_nothing_started_is_a_no_op(tmp_path: Path) -> None:
    env = dict(os.environ, STACK_DIR=str(tmp_path / "never-started"))
    for _ in range(2):
        result = run_script("stack-down.sh", env, timeout=30)
        assert result.returncode == 0, result.stderr
        assert "nothing to stop" in result.stderr


def test_stack_down_never_signals_a_process_that_reused_a_recorded_pid(tmp_path: Path) -> None:
    # A live process of ours whose PID file records a different start time: a stranger to stack-down.
    stranger = subprocess.Popen(["sleep", "60"])  # noqa: S607  (coreutils on PATH)
    try:
        (tmp_path / "pids").mkdir()
        (tmp_path / "pids" / "zipkin.pid").write_text(f"{stranger.pid} 1 zipkin\n")
        result = run_script("stack-down.sh", dict(os.environ, STACK_DIR=str(tmp_path)), timeout=30)
        assert result.returncode == 0, result.stderr
        assert stranger.poll() is None, "stack-down.sh killed a process it did not start"
    finally:
        stranger.send_signal(signal.SIGKILL)
        stranger.wait()


def test_stack_up_refuses_a_port_in_use_before_starting_anything(tmp_path: Path) -> None:
    need_tools("prometheus", "prometheus-alertmanager", "java", "curl", "setsid")
    if not (REPO_ROOT / "collector-config.yaml").is_file():
        pytest.fail("collector-config.yaml is missing")
    env = stack_environment(tmp_path / "stack", **INTERVALS)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        env["PROMETHEUS_PORT"] = str(taken.getsockname()[1])
        result = run_script("stack-up.sh", env, timeout=60)
    assert result.returncode == 1
    assert f"127.0.0.1:{env['PROMETHEUS_PORT']} (for prometheus) is already in use" in result.stderr
    assert not list((tmp_path / "stack").glob("pids/*.pid"))
