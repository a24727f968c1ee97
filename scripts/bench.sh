#!/usr/bin/env bash
# What `make bench` runs: the bench extras (matplotlib, py-spy), wrk from Debian's packages and the
# Collector build, then the benchmark, which rewrites docs/benchmarks.md (BENCH_QUICK=1: a smoke run
# written to .cache/bench/quick/). Arguments go to `python -m benchmarks` (see its --help).
set -euo pipefail
cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.."

scripts/bootstrap.sh
stamp=.venv/.bench-$(sha256sum pyproject.toml | cut -c1-16)
if [[ ! -f $stamp ]]; then
    echo "bench: installing the bench extras into .venv" >&2
    .venv/bin/python -m pip install --quiet -e '.[dev,bench]'
    rm -f .venv/.bench-*
    touch "$stamp"
fi
if ! command -v wrk >/dev/null; then
    if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
        { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk; } >/dev/null
    else
        echo "bench: wrk is missing: apt-get install wrk (as root)" >&2
        exit 1
    fi
fi
scripts/build-collector.sh >/dev/null
exec .venv/bin/python -m benchmarks "$@"
