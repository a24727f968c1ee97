#!/usr/bin/env bash
# The whole test suite, as the README's test command and CI run it: set-up, static checks, then
# pytest over unit, integration (SQLite and PostgreSQL) and end-to-end tests. Extra arguments go to pytest.
set -euo pipefail
cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.."

scripts/bootstrap.sh
scripts/install-stack.sh

echo "== lint and types" >&2
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy

if [[ -z ${TEST_DATABASE_URL:-} ]]; then
    if TEST_DATABASE_URL=$(scripts/postgres.sh start); then
        export TEST_DATABASE_URL
        trap 'scripts/postgres.sh stop' EXIT
    elif [[ ${REQUIRE_STACK:-0} == 1 ]]; then
        echo "test: could not start PostgreSQL" >&2
        exit 1
    else
        echo "test: warning: no PostgreSQL; the PostgreSQL variants will skip" >&2
    fi
fi

echo "== pytest" >&2
.venv/bin/python -m pytest "$@"
