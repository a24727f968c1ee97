"""wrk, driven from Python: one request shape per run, results read from a Lua ``done`` hook as JSON.

Two ways to run it: closed loop for a duration (maximum throughput), and paced (a fixed request rate,
for the no-drop test; wrk's ``delay()`` hook spaces each connection's requests, calibrated against the
rate actually reached).
"""

from __future__ import annotations

import json
import math
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from benchmarks._procs import BenchError, pinned

_MARK = "BENCH_RESULT "
_DONE_HOOK = """
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '%s{"requests":%d,"duration_us":%d,"non_2xx":%d,"connect":%d,"read":%d,"write":%d,"timeout":%d,'
    .. '"p50_us":%d,"p90_us":%d,"p99_us":%d,"mean_us":%.1f,"max_us":%d}\\n',
    "MARK", summary.requests, summary.duration, e.status, e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.mean, latency.max))
end
""".replace("MARK", _MARK)


@dataclass(frozen=True)
class Request:
    """One request, repeated: method, absolute URL, bearer token, optional JSON body."""

    method: str
    url: str
    token: str
    body: bytes | None = None


@dataclass(frozen=True)
class LoadResult:
    requests: int
    duration_s: float
    non_2xx: int
    socket_errors: int
    p50_ms: float
    p90_ms: float
    p99_ms: float
    mean_ms: float

    @property
    def rate(self) -> float:
        return self.requests / self.duration_s if self.duration_s else 0.0

    @property
    def errors(self) -> int:
        return self.non_2xx + self.socket_errors


# Saturated, 16 writers queue for SQLite's one write lock: once in a few thousand requests one waits out
# its busy timeout and gets a 503. Reported, tolerated up to this share; beyond it the figures are void.
MAX_ERROR_SHARE = 0.002


def checked(result: LoadResult, what: str) -> LoadResult:
    """``result``, unless it served nothing or failed more than ``MAX_ERROR_SHARE`` of its requests."""
    if not result.requests or result.errors > MAX_ERROR_SHARE * result.requests:
        raise BenchError(f"{what}: {result.requests} requests, {result.non_2xx} non-2xx, {result.socket_errors} socket")
    return result


def _lua(request: Request, workdir: Path, *, delay_ms: int) -> Path:
    lines = [f'wrk.method = "{request.method}"', f'wrk.headers["Authorization"] = "Bearer {request.token}"']
    if request.body is not None:
        body_file = workdir / "body.json"
        body_file.write_bytes(request.body)
        lines += [
            'wrk.headers["Content-Type"] = "application/json"',
            f'local f = assert(io.open("{body_file}", "rb")); wrk.body = f:read("*a"); f:close()',
        ]
    if delay_ms:
        lines.append(f"function delay() return {delay_ms} end")
    script = workdir / "request.lua"
    script.write_text("\n".join(lines) + "\n" + _DONE_HOOK, encoding="utf-8")
    return script


def run_wrk(
    request: Request,
    *,
    workdir: Path,
    duration_s: float,
    connections: int,
    cpus: str | None,
    delay_ms: int = 0,
) -> LoadResult:
    """One wrk run (one thread) for ``duration_s`` (whole seconds); ``delay_ms`` paces each connection."""
    if shutil.which("wrk") is None:
        raise BenchError("wrk is not installed (Debian package wrk)")
    workdir.mkdir(parents=True, exist_ok=True)
    script = _lua(request, workdir, delay_ms=delay_ms)
    command = [
        "wrk",
        "-t1",
        f"-c{connections}",
        f"-d{max(1, math.ceil(duration_s))}s",
        "--timeout",
        "10s",
        "-s",
        str(script),
        request.url,
    ]
    result = subprocess.run(  # noqa: S603  (wrk with arguments we built)
        pinned(command, cpus), capture_output=True, text=True, timeout=duration_s + 60, check=False
    )
    found = [line for line in result.stdout.splitlines() if line.startswith(_MARK)]
    if result.returncode != 0 or not found:
        raise BenchError(f"wrk failed ({result.returncode}): {result.stderr.strip()}\n{result.stdout[-1500:]}")
    data = json.loads(found[-1][len(_MARK) :])
    return LoadResult(
        requests=data["requests"],
        duration_s=data["duration_us"] / 1e6,
        non_2xx=data["non_2xx"],
        socket_errors=data["connect"] + data["read"] + data["write"] + data["timeout"],
        p50_ms=data["p50_us"] / 1000,
        p90_ms=data["p90_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
        mean_ms=data["mean_us"] / 1000,
    )


def paced(
    request: Request, *, workdir: Path, rate: float, duration_s: float, cpus: str | None, probe_s: float = 3.0
) -> LoadResult:
    """About ``rate`` requests per second for ``duration_s``: connections x 1/(delay + latency) = rate.

    Short probes measure the latency each request adds to the delay and correct the delay (at most
    three, until within 5 %); the result says what rate was actually reached.
    """
    # At least 25 ms per connection cycle, so wrk's 1 ms delay resolution is a small error.
    connections = max(2, math.ceil(rate * 0.025))
    delay_ms = max(1, round(connections * 1000 / rate))
    for _ in range(3):
        probe = run_wrk(
            request, workdir=workdir, duration_s=probe_s, connections=connections, cpus=cpus, delay_ms=delay_ms
        )
        if probe.rate and abs(probe.rate - rate) <= 0.05 * rate:
            break
        latency_ms = max(0.0, connections * 1000 / probe.rate - delay_ms) if probe.rate else 0.0
        delay_ms = max(1, round(connections * 1000 / rate - latency_ms))
    return run_wrk(
        request, workdir=workdir, duration_s=duration_s, connections=connections, cpus=cpus, delay_ms=delay_ms
    )
