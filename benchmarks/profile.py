"""Profile the instrumented service under wrk load with py-spy, and say where its CPU goes.

``python -m benchmarks.profile --route read --seconds 20`` starts the Collector and one instrumented
service (as the benchmark does), loads it with wrk, and records with ``py-spy record --gil`` (only the
thread holding the GIL is sampled: with one core's worth of Python that is where time goes). It writes
the collapsed stacks (``--out``, for flamegraph tools or speedscope) and prints the share of samples
under each part of the telemetry, and the functions with the most samples of their own.
"""

from __future__ import annotations

import argparse
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from benchmarks._load import LoadResult, run_wrk
from benchmarks._procs import REPO_ROOT, BenchError, Collector, Service, collector_binary
from benchmarks._routes import ROUTES

# Each sample goes to the part of its innermost frame that is not generic standard library code (threading,
# queue, json, re...: those are charged to their caller); the order below decides between overlapping names.
PARTS: tuple[tuple[str, str], ...] = (
    (
        "OTLP export: batch workers, encoding, HTTP",
        r"opentelemetry/exporter/|opentelemetry/sdk/_shared_internal/|urllib3/|requests/|otel/_otlp_",
    ),
    (
        "SDK metrics (record, collect)",
        r"opentelemetry/sdk/metrics/|opentelemetry/exporter/prometheus/|prometheus_client/",
    ),
    ("SDK spans (start, end, attributes, processors)", r"opentelemetry/sdk/trace/|opentelemetry/sdk/resources/"),
    ("SDK logs (records, processors)", r"opentelemetry/sdk/_logs/"),
    ("OTel API, context, attributes, propagation", r"opentelemetry/"),
    ("kit logging bridge + console (otel/_logging.py, logging)", r"otel/_logging\.py|/logging/"),
    (
        "kit request middleware: server span, HTTP metrics, request log (otel/_asgi.py, _http.py, _context.py)",
        r"otel/_asgi\.py|otel/_http\.py|otel/_context\.py",
    ),
    ("kit SQLAlchemy hooks (otel/_sqlalchemy.py)", r"otel/_sqlalchemy\.py"),
    ("alerts (otel/alerts)", r"otel/alerts/"),
    (
        "kit batch processors, export redaction, drop counting",
        r"otel/_batch\.py|otel/_redaction\.py|otel/_memo\.py|otel/_export_health\.py",
    ),
    ("FastAPI native telemetry (fastapi/telemetry)", r"fastapi/telemetry/"),
    ("service middleware (service/middleware.py)", r"service/middleware\.py"),
    ("application: FastAPI, Starlette, pydantic, service", r"fastapi/|starlette/|pydantic|service/|jwt/|annotated_doc"),
    ("SQLAlchemy + sqlite3", r"sqlalchemy/|sqlite3"),
    ("uvicorn, httptools, asyncio, anyio", r"uvicorn/|httptools|asyncio/|anyio/|uvloop"),
)
_FRAME = re.compile(r"^(?P<func>.+?) \((?P<file>[^()]+?)(?::(?P<line>\d+))?\)$")
_STDLIB = re.compile(r"/lib/python3\.\d+/(?!site-packages/)")


def _short(path: str) -> str:
    for marker in ("site-packages/", str(REPO_ROOT) + "/", "/lib/python3.11/"):
        if marker in path:
            return path.split(marker, 1)[1]
    return path


def _part(files: list[str]) -> str:
    """The part of the innermost frame that is not generic standard library code."""
    for path in reversed(files):
        if _STDLIB.search(path) and "/logging/" not in path and "/asyncio/" not in path and "sqlite3" not in path:
            continue
        for name, pattern in PARTS:
            if re.search(pattern, path):
                return name
        return "other"
    return "standard library only (thread waits, GIL handoff)"


def summarise(collapsed: Path, *, top: int = 25, us_per_sample: float = 0.0) -> str:
    """Samples by part, and the functions with the most samples of their own.

    With ``us_per_sample`` (sampling interval / requests served) each share is also given as GIL time
    per request, the figure to compare between two profiles.
    """
    total = 0
    parts: Counter[str] = Counter()
    own: Counter[str] = Counter()
    for line in collapsed.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        matches = [_FRAME.match(frame.strip()) for frame in stack.split(";")]
        frames = [(m["func"], m["file"]) for m in matches if m]
        if not frames:
            continue
        parts[_part([file for _, file in frames])] += count
        func, file = frames[-1]
        own[f"{func} ({_short(file)})"] += count
    if not total:
        return "no samples"
    per_request = f", {total * us_per_sample:.0f} us of GIL time per request" if us_per_sample else ""
    lines = [f"{total} samples (GIL holder only){per_request}", "", "share by part (innermost non-stdlib frame):"]
    lines += [
        f"  {count / total:6.1%}  {f'{count * us_per_sample:6.0f} us  ' if us_per_sample else ''}{name}"
        for name, count in parts.most_common()
    ]
    lines += ["", f"top {top} functions by own samples:"]
    lines += [f"  {count / total:6.1%}  {name}" for name, count in own.most_common(top)]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.profile", description=__doc__.split("\n\n")[0])
    parser.add_argument("--route", default="read", choices=sorted(ROUTES))
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--rate", type=int, default=250, help="py-spy samples per second")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--out", type=Path, default=REPO_ROOT / ".cache" / "bench" / "profile.txt")
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE")
    parser.add_argument("--bare", action="store_true", help="profile the service with OTEL_SDK_DISABLED=true")
    args = parser.parse_args(argv)
    py_spy = shutil.which("py-spy") or shutil.which("py-spy", path=str(Path(sys.executable).parent))
    if py_spy is None:
        print("py-spy is not installed: .venv/bin/pip install py-spy")
        return 1
    workdir = Path(tempfile.mkdtemp(prefix="mindhit-profile-"))
    secret = secrets.token_hex(32)
    collector = Collector.create(collector_binary(), workdir / "collector", cpus="1")
    service = Service.create(
        "profiled",
        workdir / "service",
        instrumented=not args.bare,
        otlp_endpoint=collector.otlp_http_url,
        jwt_secret=secret,
        cpus="0",
        extra_env=dict(item.split("=", 1) for item in args.env),
    )
    try:
        collector.up()
        service.up()
        request = ROUTES[args.route].prepare(service.url, secret)
        run_wrk(request, workdir=workdir / "wrk", duration_s=3, connections=args.connections, cpus="1")
        results: list[LoadResult] = []
        load = threading.Thread(
            target=lambda: results.append(
                run_wrk(
                    request, workdir=workdir / "wrk", duration_s=args.seconds, connections=args.connections, cpus="1"
                )
            )
        )
        load.start()
        args.out.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(  # noqa: S603  (py-spy with arguments we built)
            [
                py_spy,
                "record",
                "--pid",
                str(service.pid),
                "--duration",
                str(args.seconds),
                "--rate",
                str(args.rate),
                "--gil",
                "--full-filenames",
                "--nonblocking",
                "--format",
                "raw",
                "--output",
                str(args.out),
            ],
            check=True,
            capture_output=True,
        )
        load.join()
        # wrk and py-spy ran over the same seconds: samples per request from wrk's count.
        served = results[0].requests if results else 0
        us_per_sample = 1e6 / args.rate / served if served else 0.0
        print(f"{args.route}, {'bare' if args.bare else 'instrumented'}: {results[0].rate:.0f} req/s under py-spy")
        print(summarise(args.out, us_per_sample=us_per_sample))
        print(f"\ncollapsed stacks: {args.out}")
        return 0
    except (BenchError, subprocess.CalledProcessError) as exc:
        print(f"profile failed: {exc}")
        return 1
    finally:
        service.stop()
        collector.stop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
