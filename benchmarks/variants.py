"""Several configurations of the service side by side, to see what each part of the telemetry costs.

``python -m benchmarks.variants --route read --variant no-logs LOG_LEVEL=WARNING --variant ...`` starts
the bare service, the instrumented one, and one instrumented service per variant (its extra
environment), then drives each with wrk in rotating order for a few rounds. It prints the median
throughput and the median CPU time the service process spent per request (all threads, exporters
included): the CPU figure moves little with the load of other processes on the machine, so it is the
one to compare variants by.
"""

from __future__ import annotations

import argparse
import secrets
import shutil
import statistics
import tempfile
from collections.abc import Sequence
from pathlib import Path

from benchmarks._load import run_wrk
from benchmarks._options import add_variant_option, variant_envs
from benchmarks._procs import BenchError, Collector, Service, collector_binary, cpu_seconds
from benchmarks._routes import ROUTES


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.variants", description=__doc__.split("\n\n")[0])
    parser.add_argument("--route", default="read", choices=sorted(ROUTES))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=8.0)
    parser.add_argument("--connections", type=int, default=16)
    add_variant_option(parser)
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE", help="for every service")
    args = parser.parse_args(argv)
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
        rates: dict[str, list[float]] = {name: [] for name in services}
        cpu: dict[str, list[float]] = {name: [] for name in services}
        names = list(services)
        for index in range(args.rounds + 1):  # the first round warms up and is not counted
            order = names[index % len(names) :] + names[: index % len(names)]
            for name in order:
                pid = services[name].pid
                before = cpu_seconds(pid)
                result = run_wrk(
                    requests[name],
                    workdir=workdir / f"wrk-{name}",
                    duration_s=args.duration if index else 2,
                    connections=args.connections,
                    cpus="1",
                )
                if result.errors:
                    raise BenchError(f"{name}: {result.errors} errors")
                if index:
                    rates[name].append(result.rate)
                    cpu[name].append((cpu_seconds(pid) - before) * 1e6 / result.requests)
            if index:
                print(f"round {index}: " + ", ".join(f"{n} {rates[n][-1]:.0f}/s {cpu[n][-1]:.0f}us" for n in names))
        bare_cpu = statistics.median(cpu["bare"])
        bare_rate = statistics.median(rates["bare"])
        print(f"\n{args.route}: {'variant':<24} {'req/s':>7} {'vs bare':>8} {'CPU us/req':>11} {'+us vs bare':>11}")
        for name in names:
            rate, used = statistics.median(rates[name]), statistics.median(cpu[name])
            indent = " " * (len(args.route) + 2)
            print(f"{indent}{name:<24} {rate:7.0f} {rate / bare_rate:8.2f} {used:11.0f} {used - bare_cpu:+11.0f}")
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
