"""Several configurations of the service side by side, to see what each part of the telemetry costs.

``python -m benchmarks.variants --route read --variant no-logs LOG_LEVEL=WARNING --variant ...`` starts
the bare service, the instrumented one, and one instrumented service per variant (its extra
environment), then drives each with wrk in rotating order for a few rounds. It prints the median
throughput and the median CPU time the service process spent per request (all threads, exporters
included).

``--turns`` drives every service at the same time instead, the services taking turns on their one
core every 100 ms (``benchmarks._turns``): each sees the same mix of the machine's fast and slow moments,
so with two services the ratios of single rounds agree within a few hundredths (taken in turns of
seconds, they swing by tens of percent on this machine). Each service added makes its turn come round
less often, and the rounds spread more: about ±0.05 with seven. Then the ratio to bare is the figure to
compare variants by; the share column says whether the turns were even.
"""

from __future__ import annotations

import argparse
import secrets
import shutil
import statistics
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from benchmarks._load import LoadResult, Request, checked, run_wrk
from benchmarks._options import add_variant_option, variant_envs
from benchmarks._procs import BenchError, Collector, Service, collector_binary
from benchmarks._routes import ROUTES
from benchmarks._turns import load_in_turns


@dataclass
class _Figures:
    """Per counted round, for one service: requests per second, CPU microseconds per request, core share."""

    rates: list[float] = field(default_factory=list)
    cpu_us: list[float] = field(default_factory=list)
    shares: list[float] = field(default_factory=list)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.variants", description=__doc__.split("\n\n")[0])
    parser.add_argument("--route", default="read", choices=sorted(ROUTES))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=8.0)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--turns", action="store_true", help="drive every service at once, taking 100 ms turns")
    add_variant_option(parser)
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE", help="for every service")
    return parser


def _measure(
    services: dict[str, Service], requests: dict[str, Request], args: argparse.Namespace, workdir: Path
) -> dict[str, _Figures]:
    figures = {name: _Figures() for name in services}
    names = list(services)

    def drive(name: str, seconds: float) -> LoadResult:
        result = run_wrk(
            requests[name], workdir=workdir / f"wrk-{name}", duration_s=seconds, connections=args.connections, cpus="1"
        )
        return checked(result, name)

    for index in range(args.rounds + 1):  # the first round warms up and is not counted
        seconds = args.duration if index else 2
        order = names[index % len(names) :] + names[: index % len(names)]
        measured: dict[str, tuple[LoadResult, float]] = {}
        for group in [order] if args.turns else [[name] for name in order]:
            pids = {name: services[name].pid for name in group}
            measured.update(load_in_turns(pids, partial(drive, seconds=seconds)))
        if not index:
            continue
        total_cpu = sum(spent for _, spent in measured.values())
        for name, (result, spent) in measured.items():
            figures[name].rates.append(result.rate)
            figures[name].cpu_us.append(spent * 1e6 / result.requests)
            figures[name].shares.append(spent / total_cpu if total_cpu else 0.0)
        done = (f"{name} {f.rates[-1]:.0f}/s {f.cpu_us[-1]:.0f}us" for name, f in figures.items())
        print(f"round {index}: " + ", ".join(done))
    return figures


def _print(route: str, figures: dict[str, _Figures], *, in_turns: bool) -> None:
    bare = figures["bare"]
    bare_cpu, bare_rate = statistics.median(bare.cpu_us), statistics.median(bare.rates)
    share_column = f" {'core share':>10}" if in_turns else ""
    header = f"{'variant':<24} {'req/s':>7} {'vs bare':>8} {'CPU us/req':>11} {'+us vs bare':>11}{share_column}"
    print(f"\n{route}: {header}")
    for name, measured in figures.items():
        rate, used = statistics.median(measured.rates), statistics.median(measured.cpu_us)
        # In turns, the per-round ratio cancels the machine's speed; the ratio of the medians would not.
        ratio = (
            statistics.median(r / b for r, b in zip(measured.rates, bare.rates, strict=True))
            if in_turns
            else rate / bare_rate
        )
        share = f" {statistics.median(measured.shares):10.3f}" if in_turns else ""
        indent = " " * (len(route) + 2)
        print(f"{indent}{name:<24} {rate:7.0f} {ratio:8.3f} {used:11.0f} {used - bare_cpu:+11.0f}{share}")


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    common = dict(item.split("=", 1) for item in args.env)
    variants: dict[str, tuple[bool, dict[str, str]]] = {"bare": (False, common), "instrumented": (True, common)}
    for name, extra in variant_envs(args):
        variants[name] = (True, {**common, **extra})
    workdir = Path(tempfile.mkdtemp(prefix="mindhit-variants-"))
    secret = secrets.token_hex(32)
    collector = Collector.create(collector_binary(), workdir / "collector", cpus="1")
    services: dict[str, Service] = {}
    try:
        collector.up()
        for name, (instrumented, env) in variants.items():
            services[name] = Service.create(
                name,
                workdir / name,
                instrumented=instrumented,
                otlp_endpoint=collector.otlp_http_url,
                jwt_secret=secret,
                cpus="0",
                extra_env={key: collector.expand(value) for key, value in env.items()},
            )
            services[name].up()
        requests = {name: ROUTES[args.route].prepare(service.url, secret) for name, service in services.items()}
        _print(args.route, _measure(services, requests, args, workdir), in_turns=args.turns)
        return 0
    except BenchError as exc:
        print(f"failed: {exc}")
        return 1
    finally:
        for service in services.values():
            service.stop()
        collector.stop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
