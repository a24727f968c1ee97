"""``python -m benchmarks``: the telemetry overhead benchmark behind ``make bench``.

It starts our Collector, then per route two copies of the service identical but for
``OTEL_SDK_DISABLED=true``, and drives them with wrk in interleaved rounds; then a paced run at 70% of
the bare maximum (every span and log record must reach the Collector) and a memory run (RSS after
100,000 requests against RSS after the first 1,000). It writes the figures to docs/benchmarks.md and
docs/benchmarks.png (``--quick``: a smoke run, written under .cache/bench/ unless ``--out`` is given).
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from benchmarks._phases import Layout, RouteResult, RssResult, SoakResult, rss_growth, soak, throughput
from benchmarks._procs import REPO_ROOT, BenchError, Collector, collector_binary
from benchmarks._report import Conditions, write_report
from benchmarks._routes import DEFAULT_ROUTES, ROUTES


@dataclass(frozen=True)
class Plan:
    rounds: int
    duration_s: float
    warmup_s: float
    connections: int
    soak_s: float
    soak_fraction: float
    rss_first: int
    rss_total: int
    rss_steps: int


FULL = Plan(
    rounds=24,
    duration_s=4,
    warmup_s=5,
    connections=16,
    soak_s=60,
    soak_fraction=0.7,
    rss_first=1_000,
    rss_total=100_000,
    rss_steps=5,
)
QUICK = Plan(
    rounds=2,
    duration_s=4,
    warmup_s=2,
    connections=16,
    soak_s=10,
    soak_fraction=0.7,
    rss_first=1_000,
    rss_total=5_000,
    rss_steps=2,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--quick",
        action="store_true",
        default=os.environ.get("BENCH_QUICK") == "1",
        help="a smoke run: 2 short rounds, 10 s paced runs, 5,000 requests (also BENCH_QUICK=1)",
    )
    parser.add_argument("--routes", nargs="+", choices=sorted(ROUTES), default=list(DEFAULT_ROUTES))
    parser.add_argument("--rounds", type=int, help="interleaved A/B rounds per route")
    parser.add_argument("--duration", type=float, help="seconds of load per side per round")
    parser.add_argument("--connections", type=int, help="wrk connections (one wrk thread)")
    parser.add_argument(
        "--soak-routes", nargs="*", choices=sorted(ROUTES), help="routes of the paced run (default: all)"
    )
    parser.add_argument("--rss-route", default="read", choices=sorted(ROUTES), help="route of the memory run")
    parser.add_argument("--skip", nargs="*", default=[], choices=["soak", "rss"], help="phases to leave out")
    parser.add_argument("--service-cpus", default="0", help="taskset CPU list for the services ('' for none)")
    parser.add_argument("--load-cpus", default="1", help="taskset CPU list for wrk and the Collector ('' for none)")
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="extra environment for the services (repeatable), e.g. OTEL_BSP_SCHEDULE_DELAY=1000",
    )
    parser.add_argument(
        "--out", type=Path, help="folder for benchmarks.md and .png (default: docs/, or .cache/bench/quick)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the work folder (service and Collector logs)")
    return parser


def _plan(args: argparse.Namespace) -> Plan:
    base = QUICK if args.quick else FULL
    return Plan(
        **{
            **asdict(base),
            **{
                key: value
                for key, value in (
                    ("rounds", args.rounds),
                    ("duration_s", args.duration),
                    ("connections", args.connections),
                )
                if value is not None
            },
        }
    )


def _log(message: str) -> None:
    print(message, flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    plan = _plan(args)
    cpus = os.cpu_count() or 1
    service_cpus = args.service_cpus or None if cpus > 1 else None
    load_cpus = args.load_cpus or None if cpus > 1 else None
    extra_env = dict(item.split("=", 1) for item in args.env)
    out = args.out or (REPO_ROOT / ".cache" / "bench" / "quick" if args.quick else REPO_ROOT / "docs")
    workdir = Path(tempfile.mkdtemp(prefix="mindhit-bench-"))
    started = time.time()
    load_before = os.getloadavg()
    try:
        binary = collector_binary()
        collector = Collector.create(binary, workdir / "collector", cpus=load_cpus)
        layout = Layout(workdir, secrets.token_hex(32), service_cpus, load_cpus, extra_env)
        collector.up()
        try:
            results: list[RouteResult] = []
            for key in args.routes:
                _log(f"throughput: {key} ({plan.rounds} rounds of {plan.duration_s:g} s per side)")
                results.append(
                    throughput(
                        ROUTES[key],
                        layout,
                        collector,
                        rounds=plan.rounds,
                        duration_s=plan.duration_s,
                        warmup_s=plan.warmup_s,
                        connections=plan.connections,
                        log=_log,
                    )
                )
            soaks: list[SoakResult] = []
            if "soak" not in args.skip:
                for result in results:
                    if args.soak_routes is not None and result.route.key not in args.soak_routes:
                        continue
                    rate = plan.soak_fraction * result.median(lambda r: r.rate, "bare")
                    _log(f"paced: {result.route.key} at {rate:.0f} req/s for {plan.soak_s:g} s")
                    soaks.append(soak(result.route, layout, collector, rate=rate, duration_s=plan.soak_s, log=_log))
            rss: RssResult | None = None
            if "rss" not in args.skip:
                _log(f"memory: {args.rss_route}, {plan.rss_total} requests")
                rss = rss_growth(
                    ROUTES[args.rss_route],
                    layout,
                    collector,
                    first=plan.rss_first,
                    total=plan.rss_total,
                    steps=plan.rss_steps,
                    connections=plan.connections,
                    log=_log,
                )
        finally:
            collector.stop()
        conditions = Conditions.now(
            started=started,
            load_before=load_before,
            quick=args.quick,
            plan=asdict(plan),
            service_cpus=service_cpus,
            load_cpus=load_cpus,
            extra_env=extra_env,
            argv=list(argv) if argv is not None else sys.argv[1:],
        )
        written = write_report(out, conditions, results, soaks, rss)
        _log(f"wrote {', '.join(str(path) for path in written)}")
        return 0
    except BenchError as exc:
        _log(f"benchmark failed: {exc}")
        return 1
    finally:
        if args.keep:
            _log(f"work folder kept: {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
