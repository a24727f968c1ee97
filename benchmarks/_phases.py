"""The benchmark's three measurements: A/B throughput per route, the paced no-drop run, RSS growth.

A/B throughput is measured two ways, on the same two services. Alternating: bare, then instrumented (or
the other way round), each alone on its core for a few seconds, as the issue asks. Then in turns: both
under their own wrk at once, the two taking turns on the core every 100 ms (``benchmarks._turns``), so
each sees the same mix of the machine's fast and slow moments. This machine's speed flips between two
levels about 1.6x apart from one second to the next; the alternating ratio of a 4 s round therefore
swings by tens of percent, the one of a round in turns by a few hundredths.

The rounds in turns run back to back, after an uncounted one, not between the alternating ones: the
instrumented service exports a run's last spans up to ``OTEL_BSP_SCHEDULE_DELAY`` after the run, and a
round placed right after its alternating run would pay for that export too, while one after the bare
service's would not. Back to back, each round carries its predecessor's leftover, as a service under
steady load does.

Each starts its own services (fresh database, fresh process) against the one Collector, so the
Collector's receiver counters, read before a service starts and after it has exited (and so
flushed), are that service's alone.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks._load import LoadResult, checked, paced, run_wrk
from benchmarks._procs import BenchError, Collector, Service, cpu_seconds, rss_kib
from benchmarks._routes import Route
from benchmarks._stats import median_interval
from benchmarks._turns import load_in_turns


@dataclass(frozen=True)
class Layout:
    """Where things run: the services on one CPU set, wrk and the Collector on the other."""

    workdir: Path
    jwt_secret: str
    service_cpus: str | None
    load_cpus: str | None
    service_env: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Delivery:
    """What the instrumented service's SDK was handed, and what the Collector's OTLP receiver accepted."""

    spans_emitted: int
    spans_accepted: int
    logs_emitted: int
    logs_accepted: int
    refused_or_failed: int

    @property
    def spans_dropped(self) -> int:
        return self.spans_emitted - self.spans_accepted

    @property
    def logs_dropped(self) -> int:
        return self.logs_emitted - self.logs_accepted

    @property
    def lossless(self) -> bool:
        return self.spans_dropped == 0 and self.logs_dropped == 0 and self.refused_or_failed == 0


@dataclass(frozen=True)
class Pair:
    bare: LoadResult
    instrumented: LoadResult
    # CPU time the service process spent per response during the run (all threads), microseconds.
    bare_cpu_us: float
    instrumented_cpu_us: float


@dataclass(frozen=True)
class TurnsPair:
    """Both services under load in the same seconds, taking turns on one core."""

    bare: LoadResult
    instrumented: LoadResult
    # CPU seconds each process got during the run: a fair split is what makes the rate ratio a cost ratio.
    bare_cpu_s: float
    instrumented_cpu_s: float

    @property
    def ratio(self) -> float:
        return self.instrumented.rate / self.bare.rate

    @property
    def instrumented_share(self) -> float:
        total = self.bare_cpu_s + self.instrumented_cpu_s
        return self.instrumented_cpu_s / total if total else 0.0


@dataclass(frozen=True)
class RouteResult:
    route: Route
    rounds: list[Pair]
    rss_kib: dict[str, int]
    delivery: Delivery
    turns: list[TurnsPair] = field(default_factory=list)

    def median(self, metric: Callable[[LoadResult], float], side: str) -> float:
        return statistics.median(metric(getattr(pair, side)) for pair in self.rounds)

    def ratios(self, metric: Callable[[LoadResult], float]) -> list[float]:
        """Instrumented/bare per alternating round, each round's pair taken back to back."""
        return [metric(p.instrumented) / metric(p.bare) for p in self.rounds if metric(p.bare)]

    def ratio(self, metric: Callable[[LoadResult], float]) -> float:
        return statistics.median(self.ratios(metric))

    def throughput_interval(self) -> tuple[float, float]:
        """95 % interval of the alternating rounds' median throughput ratio."""
        return median_interval(self.ratios(lambda r: r.rate))

    def turns_ratio(self) -> float | None:
        """Median throughput ratio of the rounds in turns; None when there were none."""
        return statistics.median(pair.ratio for pair in self.turns) if self.turns else None

    def turns_interval(self) -> tuple[float, float] | None:
        return median_interval(pair.ratio for pair in self.turns) if self.turns else None


@dataclass(frozen=True)
class SoakResult:
    route: Route
    target_rate: float
    load: LoadResult
    delivery: Delivery
    dropped_in_log: int  # "telemetry dropped: ..." summaries the kit logged (otel._export_health)


@dataclass(frozen=True)
class RssResult:
    route: Route
    checkpoints: list[tuple[int, int]]  # (responses so far, RSS KiB)

    @property
    def growth_kib(self) -> int:
        return self.checkpoints[-1][1] - self.checkpoints[0][1]


def _accepted(collector: Collector) -> dict[str, float]:
    """The receiver counters once they stop moving (an exited service has flushed everything)."""
    previous = collector.accepted()
    for _ in range(20):
        time.sleep(0.5)
        current = collector.accepted()
        if current == previous:
            return current
        previous = current
    return previous


def _delivery(service: Service, before: Mapping[str, float], after: Mapping[str, float]) -> Delivery:
    def delta(name: str) -> int:
        return round(after.get(name, 0.0) - before.get(name, 0.0))

    counts = service.counts()
    if not counts:
        raise BenchError(f"{service.name} wrote no counts (did it shut down cleanly?):\n{service.log_tail()}")
    refused = sum(
        delta(f"otelcol_receiver_{kind}_{item}")
        for kind in ("refused", "failed")
        for item in ("spans", "log_records", "metric_points")
    )
    return Delivery(
        spans_emitted=counts["spans"],
        spans_accepted=delta("otelcol_receiver_accepted_spans"),
        logs_emitted=counts["log_records"],
        logs_accepted=delta("otelcol_receiver_accepted_log_records"),
        refused_or_failed=refused,
    )


@contextmanager
def _running(services: list[Service]) -> Iterator[None]:
    try:
        for service in services:
            service.up()
        yield
    finally:
        for service in services:
            service.stop()


def _service(layout: Layout, collector: Collector, name: str, *, instrumented: bool) -> Service:
    return Service.create(
        name,
        layout.workdir / name,
        instrumented=instrumented,
        otlp_endpoint=collector.otlp_http_url,
        jwt_secret=layout.jwt_secret,
        cpus=layout.service_cpus,
        extra_env=layout.service_env,
    )


def throughput(
    route: Route,
    layout: Layout,
    collector: Collector,
    *,
    rounds: int,
    duration_s: float,
    warmup_s: float,
    connections: int,
    log: Callable[[str], None],
) -> RouteResult:
    """Bare and instrumented side by side: ``rounds`` of wrk on each in turn (the order alternating every
    round), then ``rounds`` of wrk on both at once, the two services taking turns on the core."""
    bare = _service(layout, collector, f"{route.key}-bare", instrumented=False)
    instrumented = _service(layout, collector, f"{route.key}-instrumented", instrumented=True)
    before = _accepted(collector)
    with _running([bare, instrumented]):
        requests = {
            "bare": route.prepare(bare.url, layout.jwt_secret),
            "instrumented": route.prepare(instrumented.url, layout.jwt_secret),
        }

        pids = {"bare": bare.pid, "instrumented": instrumented.pid}
        cpu_us: dict[str, float] = {}

        def drive(side: str, seconds: float) -> LoadResult:
            return checked(
                run_wrk(
                    requests[side],
                    workdir=layout.workdir / f"wrk-{route.key}-{side}",
                    duration_s=seconds,
                    connections=connections,
                    cpus=layout.load_cpus,
                ),
                f"{route.key} {side}",
            )

        def load(side: str, seconds: float) -> LoadResult:
            before_cpu = cpu_seconds(pids[side])
            result = drive(side, seconds)
            cpu_us[side] = (cpu_seconds(pids[side]) - before_cpu) * 1e6 / result.requests
            return result

        def in_turns() -> TurnsPair:
            measured = load_in_turns(pids, lambda side: drive(side, duration_s))
            bare_load, bare_cpu_s = measured["bare"]
            instrumented_load, instrumented_cpu_s = measured["instrumented"]
            return TurnsPair(bare_load, instrumented_load, bare_cpu_s, instrumented_cpu_s)

        for side in requests:
            load(side, warmup_s)
        pairs = []
        for index in range(rounds):
            order = ("bare", "instrumented") if index % 2 == 0 else ("instrumented", "bare")
            results = {side: load(side, duration_s) for side in order}
            pair = Pair(results["bare"], results["instrumented"], cpu_us["bare"], cpu_us["instrumented"])
            log(
                f"  {route.key} round {index + 1}/{rounds}: bare {pair.bare.rate:.0f} req/s "
                f"p99 {pair.bare.p99_ms:.1f} ms {pair.bare_cpu_us:.0f} us CPU/req | instrumented "
                f"{pair.instrumented.rate:.0f} req/s p99 {pair.instrumented.p99_ms:.1f} ms "
                f"{pair.instrumented_cpu_us:.0f} us CPU/req | ratio {pair.instrumented.rate / pair.bare.rate:.3f}"
            )
            pairs.append(pair)
        in_turns()  # the warm-up: the first counted round starts in the steady state
        turns = []
        for index in range(rounds):
            turn = in_turns()
            log(
                f"  {route.key} in turns {index + 1}/{rounds}: bare {turn.bare.rate:.0f} req/s, "
                f"instrumented {turn.instrumented.rate:.0f} req/s | ratio {turn.ratio:.3f}, instrumented's "
                f"CPU share {turn.instrumented_share:.3f}"
            )
            turns.append(turn)
        rss = {"bare": rss_kib(bare.pid), "instrumented": rss_kib(instrumented.pid)}
    delivery = _delivery(instrumented, before, _accepted(collector))
    return RouteResult(route, pairs, rss, delivery, turns)


def soak(
    route: Route,
    layout: Layout,
    collector: Collector,
    *,
    rate: float,
    duration_s: float,
    log: Callable[[str], None],
) -> SoakResult:
    """The instrumented service at a fixed rate for ``duration_s``: does every span and record arrive?"""
    service = _service(layout, collector, f"{route.key}-soak", instrumented=True)
    before = _accepted(collector)
    with _running([service]):
        request = route.prepare(service.url, layout.jwt_secret)
        result = checked(
            paced(
                request,
                workdir=layout.workdir / f"wrk-{route.key}-soak",
                rate=rate,
                duration_s=duration_s,
                cpus=layout.load_cpus,
            ),
            f"{route.key} soak",
        )
    delivery = _delivery(service, before, _accepted(collector))
    dropped_lines = sum("telemetry dropped:" in line for line in service.log_tail(10**9).splitlines())
    log(
        f"  {route.key} soak: {result.rate:.0f} req/s (target {rate:.0f}) for {result.duration_s:.0f} s; spans "
        f"{delivery.spans_emitted}/{delivery.spans_accepted}, logs {delivery.logs_emitted}/{delivery.logs_accepted}"
    )
    return SoakResult(route, rate, result, delivery, dropped_lines)


def rss_growth(
    route: Route,
    layout: Layout,
    collector: Collector,
    *,
    first: int,
    total: int,
    steps: int,
    connections: int,
    log: Callable[[str], None],
) -> RssResult:
    """RSS after the first ``first`` responses, then at ``steps`` points up to ``total``.

    wrk cannot stop after a number of requests (a stopped thread still waits out the duration), so
    each stretch runs for the time the last measured rate says it needs, in runs of at most a minute,
    until the count is reached; the checkpoints are the counts actually served.
    """
    service = _service(layout, collector, f"{route.key}-rss", instrumented=True)
    with _running([service]):
        request = route.prepare(service.url, layout.jwt_secret)
        done = 0
        rate = 1000.0  # an optimistic first guess (a one-second run); every run corrects it
        checkpoints = []
        targets = [first] + [first + (total - first) * step // steps for step in range(1, steps + 1)]
        for target in targets:
            while done < target:
                seconds = min(60.0, max(1.0, (target - done) / rate))
                result = checked(
                    run_wrk(
                        request,
                        workdir=layout.workdir / f"wrk-{route.key}-rss",
                        duration_s=seconds,
                        connections=connections,
                        cpus=layout.load_cpus,
                    ),
                    f"{route.key} rss",
                )
                done += result.requests
                rate = max(result.rate, 1.0)
            checkpoints.append((done, rss_kib(service.pid)))
            log(f"  {route.key} RSS after {done} responses: {checkpoints[-1][1] / 1024:.1f} MiB")
    return RssResult(route, checkpoints)
