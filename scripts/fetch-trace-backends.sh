#!/usr/bin/env bash
# Fetch Zipkin's executable jar (Maven Central, with mvn) and build Jaeger v2 (Go module proxy, with
# go) into the cache, or reuse what is there. Prints ZIPKIN_JAR=<path> and JAEGER_BIN=<path> on
# stdout, one line per backend asked for; progress goes to stderr.
#
# Usage: scripts/fetch-trace-backends.sh [zipkin] [jaeger]      (default: both)
#
# Environment:
#   STACK_CACHE_DIR  cache root (default: <repo>/.cache); CI points it outside the clone.
#   MVN, GO          the Maven and Go binaries (default: from PATH; Go also /usr/local/go/bin/go).
#
# Each artefact is made in a temporary folder and renamed into place, so a killed run never leaves
# half a jar or binary behind; a lock serialises parallel callers (pytest workers).
set -euo pipefail
STACK_SCRIPT=fetch-trace-backends
# shellcheck source=scripts/_stack_common.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/_stack_common.sh"

temp_dirs=()
cleanup() { ((${#temp_dirs[@]} == 0)) || rm -rf -- "${temp_dirs[@]}"; }
trap cleanup EXIT

fetch_zipkin() {
    local dir work mvn_bin
    if [[ -f $ZIPKIN_JAR ]]; then
        printf 'ZIPKIN_JAR=%s\n' "$ZIPKIN_JAR"
        return 0
    fi
    mvn_bin=${MVN:-$(command -v mvn || true)}
    [[ -n $mvn_bin ]] || stack_die "Maven (mvn) not found; install it or set MVN="
    dir=$(dirname -- "$ZIPKIN_JAR")
    mkdir -p -- "$(dirname -- "$dir")"
    work=$(mktemp -d "$(dirname -- "$dir")/.tmp-XXXXXX")
    temp_dirs+=("$work")
    stack_log "fetching io.zipkin:zipkin-server:$ZIPKIN_VERSION:exec into $dir"
    local start=$SECONDS
    # dependency:copy resolves through the local Maven repository, so checksums are verified and a
    # warm ~/.m2 makes this a copy. The plugin is pinned: no floating plugin resolution.
    if ! "$mvn_bin" -B -q -ntp \
        org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy \
        "-Dartifact=io.zipkin:zipkin-server:$ZIPKIN_VERSION:jar:exec" \
        "-DoutputDirectory=$work" >"$work/mvn.log" 2>&1; then
        cat -- "$work/mvn.log" >&2
        stack_die "mvn could not fetch zipkin-server $ZIPKIN_VERSION"
    fi
    rm -f -- "$work/mvn.log"
    [[ -f $work/$(basename -- "$ZIPKIN_JAR") ]] || stack_die "mvn did not produce $(basename -- "$ZIPKIN_JAR")"
    rm -rf -- "$dir"
    mv -T -- "$work" "$dir"
    stack_log "zipkin-server $ZIPKIN_VERSION fetched in $((SECONDS - start)) s"
    printf 'ZIPKIN_JAR=%s\n' "$ZIPKIN_JAR"
}

build_jaeger() {
    local dir work go_bin src
    if [[ -x $JAEGER_BIN ]]; then
        printf 'JAEGER_BIN=%s\n' "$JAEGER_BIN"
        return 0
    fi
    go_bin=${GO:-$(command -v go || true)}
    [[ -n $go_bin ]] || go_bin=/usr/local/go/bin/go
    [[ -x $go_bin ]] || stack_die "no Go toolchain (looked for go on PATH and /usr/local/go/bin/go; set GO=)"
    # Local toolchain only, no workspace, no VCS stamping, a static binary.
    export GOTOOLCHAIN=local GOWORK=off GOFLAGS=-buildvcs=false GO111MODULE=on CGO_ENABLED=0

    dir=$(dirname -- "$JAEGER_BIN")
    mkdir -p -- "$(dirname -- "$dir")"
    work=$(mktemp -d "$(dirname -- "$dir")/.tmp-XXXXXX")
    temp_dirs+=("$work")
    local start=$SECONDS
    stack_log "building Jaeger $JAEGER_VERSION ($JAEGER_MODULE@$JAEGER_MODULE_VERSION) into $dir; the first build takes minutes"
    # `go install module/cmd/jaeger@version` refuses modules whose go.mod has replace directives (Jaeger
    # has one), so build the downloaded module as the main module instead, with its own go.sum.
    src=$("$go_bin" mod download -json "$JAEGER_MODULE@$JAEGER_MODULE_VERSION" \
        | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
    [[ -n $src && -d $src ]] || stack_die "go mod download gave no source folder for $JAEGER_MODULE@$JAEGER_MODULE_VERSION"
    cp -R -- "$src" "$work/src"
    chmod -R u+w -- "$work/src"
    (
        cd -- "$work/src"
        "$go_bin" build -trimpath \
            -ldflags "-s -w -X $JAEGER_MODULE/internal/version.latestVersion=$JAEGER_VERSION" \
            -o "$work/out/jaeger" ./cmd/jaeger
    ) >&2 || stack_die "building Jaeger failed"
    "$work/out/jaeger" --help >/dev/null 2>&1 || stack_die "the new Jaeger binary does not run"
    rm -rf -- "$dir"
    mv -T -- "$work/out" "$dir"
    stack_log "Jaeger $JAEGER_VERSION built in $((SECONDS - start)) s"
    printf 'JAEGER_BIN=%s\n' "$JAEGER_BIN"
}

main() {
    local want=("$@") item
    ((${#want[@]})) || want=(zipkin jaeger)
    stack_ensure_dir "$STACK_CACHE_DIR"
    exec 9>"$STACK_CACHE_DIR/.trace-backends.lock"
    if command -v flock >/dev/null; then
        flock 9
    fi
    for item in "${want[@]}"; do
        case $item in
            zipkin) fetch_zipkin ;;
            jaeger) build_jaeger ;;
            *) stack_die "unknown backend '$item' (expected zipkin or jaeger)" ;;
        esac
    done
}

main "$@"
