#!/usr/bin/env bash
# Installs what the end-to-end tests start for real: Prometheus, Alertmanager and PostgreSQL from
# Debian's packages, the Collector built from our manifest, and the trace backends.
# Without REQUIRE_STACK=1 a part that cannot be had is reported and skipped (its tests skip);
# with REQUIRE_STACK=1 it is an error, so CI cannot pass by skipping.
set -euo pipefail
cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.."

require=${REQUIRE_STACK:-0}
problem() {
    if [[ $require == 1 ]]; then
        echo "install-stack: $*" >&2
        exit 1
    fi
    echo "install-stack: warning: $* (end-to-end tests that need it will skip)" >&2
}

packages=()
command -v prometheus >/dev/null || packages+=(prometheus)
command -v prometheus-alertmanager >/dev/null || packages+=(prometheus-alertmanager)
command -v docker-compose >/dev/null || packages+=(docker-compose)
command -v wrk >/dev/null || packages+=(wrk)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || packages+=(postgresql)
if ((${#packages[@]})); then
    if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
        echo "install-stack: apt-get install ${packages[*]}" >&2
        { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${packages[@]}"; } >/dev/null ||
            problem "apt-get install ${packages[*]} failed"
    else
        problem "missing ${packages[*]}: install them with apt-get as root"
    fi
fi

if command -v go >/dev/null; then
    scripts/build-collector.sh >/dev/null || problem "the Collector build failed"
else
    problem "Go is not installed: cannot build the Collector"
fi
scripts/fetch-trace-backends.sh >/dev/null || problem "fetching the trace backends failed"
