"""CPU cost of one request, the app called in-process: the figure to attribute a change by.

``python -m benchmarks.inprocess --route read`` runs the service's ASGI app without a server, bare
(``OTEL_SDK_DISABLED=true``), instrumented (exporting over OTLP to our Collector) and one more
instrumented copy per ``--variant NAME VAR=VALUE...``, each in a process of its own, all at once. A
trial is a number of requests in a row followed by a flush of the span and log batch processors, so
the export work (encoding, HTTP) of those requests is inside the trial; its CPU time
(``time.process_time``: every thread of the process) divided by the requests is the cost per request.
The processes take turns, one trial each, so the trials compared are seconds apart: on a machine whose
speed drifts with other people's work, the per-round difference to the bare side is the stable figure.
The last column is the time spent in the garbage collector per request (mean over trials).
A variant can also leave parts of the telemetry out, to price each: ``BENCH_WITHOUT=db-histogram,alerts``
(the parts are listed in ``benchmarks/_without.py``).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from benchmarks._options import add_variant_option, add_worker_options, variant_envs
from benchmarks._procs import REPO_ROOT, BenchError, Collector, collector_binary
from benchmarks._without import leave_out

Message = dict[str, Any]
_MARK = "@@inprocess "
# The routes ``InProcessApp`` knows how to call (alerts needs a scoped token it does not mint).
IN_PROCESS_ROUTES = ("read", "ingest", "list")


async def _lifespan(app: Any, event: str) -> Any:
    """Drive one lifespan phase; returns the task that keeps the lifespan running."""
    queue: asyncio.Queue[Message] = asyncio.Queue()
    done: asyncio.Queue[Message] = asyncio.Queue()
    await queue.put({"type": f"lifespan.{event}"})

    async def receive() -> Message:
        return await queue.get()

    async def send(message: Message) -> None:
        await done.put(message)

    task = asyncio.ensure_future(app({"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}, receive, send))
    reply = await done.get()
    if not reply["type"].endswith(".complete"):
        raise BenchError(f"lifespan {event}: {reply}")
    return queue, task


async def _request(app: Any, method: str, path: str, headers: list[tuple[bytes, bytes]], body: bytes) -> int:
    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 40000),
        "server": ("127.0.0.1", 8000),
        "state": {},
    }
    sent_body = False
    status = 0

    async def receive() -> Message:
        nonlocal sent_body
        if sent_body:
            await asyncio.sleep(3600)
        sent_body = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: Message) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await app(scope, receive, send)
    return status


def flush() -> None:
    """Export what the span and log batch processors hold, on this thread."""
    from opentelemetry import _logs, trace

    for provider in (trace.get_tracer_provider(), _logs.get_logger_provider()):
        force_flush = getattr(provider, "force_flush", None)
        if force_flush is not None:
            force_flush()


class _CollectorClock:
    """Time spent in the garbage collector, from ``gc.callbacks``: telemetry's queued items drive it."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._started = 0.0
        gc.callbacks.append(self._callback)

    def _callback(self, phase: str, _info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.seconds += time.perf_counter() - self._started


class InProcessApp:
    """The service's ASGI app started in this process, with one route's request ready to repeat."""

    def __init__(
        self,
        app: Any,
        lifespan: tuple[asyncio.Queue[Message], Any],
        request: tuple[str, str, bytes],
        headers: list[tuple[bytes, bytes]],
    ) -> None:
        self.app, (self._queue, self._task) = app, lifespan
        self.method, self.path, self.body = request
        self.headers = headers

    @classmethod
    async def start(cls, route: str, secret: str) -> InProcessApp:
        from benchmarks._routes import API, event_batch, token
        from service import crud
        from service.app import create_app

        leave_out()  # a variant's BENCH_WITHOUT parts
        app = create_app()
        lifespan = await _lifespan(app, "startup")
        with app.state.session_factory() as db:
            session_id = crud.create_session(db=db, user_id="bench-user", title="benchmark").id
        request = {
            "read": ("GET", f"{API}/sessions/{session_id}", b""),
            "ingest": ("POST", f"{API}/sessions/{session_id}/events", event_batch()),
            "list": ("GET", f"{API}/sessions", b""),
        }[route]
        headers = [
            (b"host", b"127.0.0.1:8000"),
            (b"authorization", f"Bearer {token(secret)}".encode()),
            (b"user-agent", b"benchmarks.inprocess"),
            (b"content-type", b"application/json"),
        ]
        return cls(app, lifespan, request, headers)

    async def requests(self, count: int) -> None:
        for _ in range(count):
            status = await _request(self.app, self.method, self.path, self.headers, self.body)
            if status >= 300:
                raise BenchError(f"{self.method} {self.path} answered {status}")

    async def stop(self) -> None:
        await self._queue.put({"type": "lifespan.shutdown"})
        await self._task


async def _worker(route: str, secret: str, per_trial: int) -> None:
    """Set the app up, then run one trial per ``trial`` line on stdin, printing its costs as JSON."""
    started = await InProcessApp.start(route, secret)
    loop = asyncio.get_running_loop()
    collector = _CollectorClock()
    print(_MARK + json.dumps({"ready": True}), flush=True)
    while (await loop.run_in_executor(None, sys.stdin.readline)).strip() == "trial":
        started_cpu, started_wall, started_gc = time.process_time(), time.perf_counter(), collector.seconds
        await started.requests(per_trial)
        flush()
        cpu_us = (time.process_time() - started_cpu) * 1e6 / per_trial
        wall_us = (time.perf_counter() - started_wall) * 1e6 / per_trial
        # The app logs JSON lines to stdout too: the mark tells this process's answers apart.
        gc_us = (collector.seconds - started_gc) * 1e6 / per_trial
        print(_MARK + json.dumps({"cpu_us": cpu_us, "wall_us": wall_us, "gc_us": gc_us}), flush=True)
    await started.stop()


def side_envs(
    args: argparse.Namespace, collector: Collector, secret: str, workdir: Path, common: Mapping[str, str] | None = None
) -> dict[str, dict[str, str]]:
    """The environment of each measured process: bare, instrumented and one per ``--variant``, each with its
    own SQLite file, all exporting to ``collector`` as the production service does; ``common`` goes to all."""
    base = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": str(REPO_ROOT),
        "ENVIRONMENT": "production",
        "LOG_LEVEL": "INFO",
        "JWT_SECRET": secret,
        "OTEL_EXPORTER_OTLP_ENDPOINT": collector.otlp_http_url,
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
        "OTEL_TRACES_SAMPLER": "always_on",
        **(common or {}),
    }
    configs = [("bare", {"OTEL_SDK_DISABLED": "true"}), ("instrumented", {}), *variant_envs(args)]
    return {
        name: {
            **base,
            "DATABASE_URL": f"sqlite:///{workdir / name}.db",
            **{key: collector.expand(value) for key, value in env.items()},
        }
        for name, env in configs
    }


class _Side:
    """One worker process, driven trial by trial over its stdin and stdout."""

    def __init__(self, name: str, env: dict[str, str], args: argparse.Namespace, workdir: Path) -> None:
        self.name = name
        self.cpu_us: list[float] = []
        self.gc_us: list[float] = []
        command = [sys.executable, "-m", "benchmarks.inprocess", "--worker", args.route]
        command += ["--per-trial", str(args.per_trial), "--secret", env["JWT_SECRET"]]
        if args.cpus and shutil.which("taskset"):
            command = ["taskset", "-c", args.cpus, *command]
        self.log = (workdir / f"{name}.log").open("wb")
        self.process = subprocess.Popen(  # noqa: S603  (this module, fixed arguments)
            command, cwd=workdir, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log, text=True
        )
        self._read()

    def _read(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        while line := self.process.stdout.readline():
            if line.startswith(_MARK):
                data: dict[str, Any] = json.loads(line[len(_MARK) :])
                return data
        raise BenchError(f"{self.name} worker ended; see its log")

    def trial(self) -> float:
        assert self.process.stdin is not None
        self.process.stdin.write("trial\n")
        self.process.stdin.flush()
        answer = self._read()
        cpu_us = float(answer["cpu_us"])
        self.cpu_us.append(cpu_us)
        self.gc_us.append(float(answer["gc_us"]))
        return cpu_us

    def close(self) -> None:
        if self.process.poll() is None and self.process.stdin is not None:
            self.process.stdin.write("quit\n")
            self.process.stdin.flush()
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self.log.close()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.inprocess", description=__doc__.split("\n\n")[0])
    parser.add_argument("--route", default="read", choices=IN_PROCESS_ROUTES)
    parser.add_argument("--trials", type=int, default=15, help="rounds; each runs one trial per side, in turn")
    parser.add_argument("--per-trial", type=int, default=150)
    add_variant_option(parser)
    parser.add_argument("--cpus", default="0", help="taskset CPU list for the measured processes")
    add_worker_options(parser)
    args = parser.parse_args(argv)
    if args.worker:
        asyncio.run(_worker(args.worker, args.secret, args.per_trial))
        return 0
    workdir = Path(tempfile.mkdtemp(prefix="mindhit-inprocess-"))
    collector = Collector.create(collector_binary(), workdir / "collector", cpus="1")
    secret = secrets.token_hex(32)
    sides: list[_Side] = []
    try:
        collector.up()
        for name, env in side_envs(args, collector, secret, workdir).items():
            sides.append(_Side(name, env, args, workdir))
        for side in sides:  # warm-up, not counted
            side.trial()
            side.cpu_us.clear()
            side.gc_us.clear()
        for index in range(args.trials):
            for side in sides[index % len(sides) :] + sides[: index % len(sides)]:
                side.trial()
        bare = sides[0].cpu_us
        print(
            f"{args.route}: CPU us per request, in-process; {args.trials} rounds of {args.per_trial} requests per side"
        )
        print(f"  {'side':<24} {'median':>7} {'min':>7} {'+us vs bare':>12} {'bare/side':>10} {'GC us':>7}")
        for side in sides:
            extra = statistics.median(s - b for s, b in zip(side.cpu_us, bare, strict=True))
            ratio = statistics.median(b / s for s, b in zip(side.cpu_us, bare, strict=True))
            median = statistics.median(side.cpu_us)
            collected = statistics.mean(side.gc_us)
            figures = f"{median:7.0f} {min(side.cpu_us):7.0f} {extra:+12.0f} {ratio:10.2f} {collected:7.1f}"
            print(f"  {side.name:<24} {figures}")
        return 0
    except BenchError as exc:
        print(f"failed: {exc}")
        return 1
    finally:
        for side in sides:
            side.close()
        collector.stop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
