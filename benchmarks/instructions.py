"""Instructions per request, counted by callgrind: a figure that does not move with the machine's load.

``python -m benchmarks.instructions --route read`` runs the service's ASGI app in-process (as
``benchmarks.inprocess`` does, no HTTP server), bare (``OTEL_SDK_DISABLED=true``), instrumented
(exporting over OTLP to our Collector) and one more instrumented copy per ``--variant NAME VAR=VALUE...``,
each under ``valgrind --tool=callgrind``. It counts the instructions of every thread of the process over
``--requests`` requests and the flush that exports them, after a warm-up, and prints them per request.
A variant can also leave parts of the telemetry out, to price each: ``BENCH_WITHOUT=db-histogram,alerts``
(the parts are listed in ``benchmarks/_without.py``).

Why: on this machine's shared vCPUs, wall-clock and CPU-time figures drift by 10-30 % between minutes,
so a change worth a few percent of the telemetry's cost needs many interleaved rounds to show. The
instruction count of the same work repeats within about 1 % whatever else the machine does (thread
interleavings move it a little), so one run tells what a change bought. Instructions are not time:
cache misses, system calls and waiting are not in them. The wire benchmark (``python -m benchmarks``)
stays the judge of the issue's targets; this tool attributes.

The spans and log records are exported in full batches, as under load: valgrind runs the code about
fifty times slower, so the batch processors' timers (5 s for spans, 1 s for logs) would otherwise send
many small exports and charge each request a share of an HTTP request that the real service spreads
over hundreds. The schedule delays are therefore raised; a full batch or the final flush exports.
The same goes for the work a timer starts whatever the traffic (the metric push every 60 s, the alert
outbox's poll every 2 s): fifty times slower, a run of 300 requests would be charged for as many of them
as the service does in 15,000 requests, and for a number that varies from run to run. Their timers are
set to an hour, so the count is the requests' own work.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from benchmarks._options import add_variant_option, add_worker_options
from benchmarks._procs import BenchError, Collector, collector_binary
from benchmarks.inprocess import IN_PROCESS_ROUTES, InProcessApp, flush, side_envs

WARM_UP_REQUESTS = 50
_TOTAL = re.compile(r"^(?:summary|totals):\s+(\d+)", re.MULTILINE)


async def _worker(route: str, secret: str, requests: int) -> None:
    """Warm up, then run the measured part between two ``sched_yield`` calls: callgrind dumps its counters
    before each (``--dump-before=sched_yield``), so the second dump holds exactly the measured part."""
    started = await InProcessApp.start(route, secret)
    await started.requests(WARM_UP_REQUESTS)
    flush()
    os.sched_yield()
    await started.requests(requests)
    flush()
    os.sched_yield()
    sys.stdout.flush()
    os._exit(0)  # the shutdown is not measured: skip it rather than wait for it under valgrind


def _count(name: str, env: dict[str, str], args: argparse.Namespace, workdir: Path) -> float:
    """Instructions per request of one configuration, run under callgrind."""
    out = workdir / f"{name}.callgrind"
    command = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", "--dump-before=sched_yield"]
    command += ["--dump-instr=no", sys.executable, "-m", "benchmarks.instructions", "--worker", args.route]
    command += ["--requests", str(args.requests), "--secret", env["JWT_SECRET"]]
    with (workdir / f"{name}.log").open("wb") as log:
        result = subprocess.run(command, cwd=workdir, env=env, stdout=log, stderr=subprocess.STDOUT, check=False)  # noqa: S603
    measured = Path(f"{out}.2")
    if result.returncode != 0 or not measured.exists():
        raise BenchError(f"{name}: the run under valgrind failed; see {workdir / name}.log")
    match = _TOTAL.search(measured.read_text(errors="replace"))
    if match is None:
        raise BenchError(f"{name}: no instruction total in {measured}")
    requests: int = args.requests
    return int(match.group(1)) / requests


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.instructions", description=__doc__.split("\n\n")[0])
    parser.add_argument("--route", default="read", choices=IN_PROCESS_ROUTES)
    parser.add_argument("--requests", type=int, default=300, help="measured requests per configuration")
    add_variant_option(parser)
    parser.add_argument("--parallel", type=int, default=os.cpu_count() or 1, help="configurations run at once")
    add_worker_options(parser)
    args = parser.parse_args(argv)
    if args.worker:
        asyncio.run(_worker(args.worker, args.secret, args.requests))
        return 0
    if shutil.which("valgrind") is None:
        print("failed: valgrind is not installed (apt-get install valgrind)")
        return 1
    workdir = Path(tempfile.mkdtemp(prefix="mindhit-instructions-"))
    collector = Collector.create(collector_binary(), workdir / "collector", cpus=None)
    try:
        collector.up()
        envs = side_envs(
            args,
            collector,
            secrets.token_hex(32),
            workdir,
            {
                "PYTHONHASHSEED": "0",  # the same dict and set layouts in every run
                "OTEL_BSP_SCHEDULE_DELAY": "3600000",
                "OTEL_BLRP_SCHEDULE_DELAY": "3600000",
                "OTEL_METRIC_EXPORT_INTERVAL": "3600000",
                "ALERT_POLL_SECONDS": "3600",
            },
        )
        with ThreadPoolExecutor(max_workers=max(1, args.parallel)) as pool:
            counts = dict(zip(envs, pool.map(lambda name: _count(name, envs[name], args, workdir), envs), strict=True))
        bare = counts["bare"]
        print(f"{args.route}: instructions per request (callgrind, every thread), {args.requests} requests each")
        print(f"  {'configuration':<24} {'per request':>12} {'+ vs bare':>11} {'bare/this':>10}")
        for name, count in counts.items():
            print(f"  {name:<24} {count:12,.0f} {count - bare:+11,.0f} {bare / count:10.3f}")
        return 0
    except BenchError as exc:
        print(f"failed: {exc}")
        return 1
    finally:
        collector.stop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
