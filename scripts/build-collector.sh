#!/usr/bin/env bash
# Build the MindHit Collector (otelcol-mindhit) from collector/builder-config.yaml with ocb, or reuse
# the cached build. The binary's path is the last line of stdout; everything else goes to stderr.
#
# Environment:
#   OTELCOL_CACHE_DIR  where builds and the builder live (default: <repo>/.cache/otelcol). CI points it
#                      outside the clone, e.g. $HOME/.cache/mindhit/otelcol, so builds survive clones.
#   OTELCOL_MANIFEST   another ocb manifest (default: <repo>/collector/builder-config.yaml).
#   GO                 the Go binary (default: go on PATH, else /usr/local/go/bin/go).
#
# A build is keyed by the manifest's content, the Go version and this script's CACHE_SCHEMA, so an
# unchanged manifest costs one hash; any change builds afresh into a temporary folder that is then
# renamed into place, so a killed build never leaves a half-written binary behind.
set -euo pipefail

readonly CACHE_SCHEMA=1 # bump when the way a build is made changes
readonly DIST_NAME=otelcol-mindhit

log() { printf 'build-collector: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

repo_root=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
manifest=${OTELCOL_MANIFEST:-$repo_root/collector/builder-config.yaml}
cache_dir=${OTELCOL_CACHE_DIR:-$repo_root/.cache/otelcol}

go_bin=${GO:-$(command -v go || true)}
[[ -n $go_bin ]] || go_bin=/usr/local/go/bin/go
[[ -x $go_bin ]] || die "no Go toolchain (looked for go on PATH and /usr/local/go/bin/go; set GO=...)"
[[ -f $manifest ]] || die "manifest not found: $manifest"

# Keep the Go environment predictable whatever the caller exported: local toolchain only (no
# toolchain downloads), no workspace, no VCS stamping, module mode, static binary.
export GOTOOLCHAIN=local GOWORK=off GOFLAGS=-buildvcs=false GO111MODULE=on CGO_ENABLED=0

go_version=$("$go_bin" env GOVERSION GOOS GOARCH | tr '\n' ' ')
key=$({ printf 'schema=%s\ngo=%s\n' "$CACHE_SCHEMA" "$go_version"; cat -- "$manifest"; } \
    | sha256sum | cut -c1-16)
build_dir=$cache_dir/$DIST_NAME-$key
binary=$build_dir/$DIST_NAME

if [[ -x $binary ]]; then
    touch -- "$build_dir" 2>/dev/null || true # marks it used, for the pruning below
    printf '%s\n' "$binary"
    exit 0
fi

# The builder's version is the core beta version the manifest pins; all such lines must agree.
mapfile -t core_versions < <(
    grep -oE 'gomod: *go\.opentelemetry\.io/collector/[^ ]+ +v0\.[0-9]+\.[0-9]+' "$manifest" \
        | awk '{print $NF}' | sort -u
)
((${#core_versions[@]} == 1)) \
    || die "expected one core v0.x version in $manifest, found: ${core_versions[*]:-none}"
ocb_version=${core_versions[0]}

mkdir -p -- "$cache_dir"
# One build at a time per cache (parallel test workers may all ask at once).
exec 9>"$cache_dir/.lock"
if command -v flock >/dev/null; then
    flock 9
fi
if [[ -x $binary ]]; then # another process built it while we waited
    printf '%s\n' "$binary"
    exit 0
fi

work=$(mktemp -d "$cache_dir/.tmp-$key-XXXXXX")
trap 'rm -rf -- "$work"' EXIT

ocb=$cache_dir/tools/ocb-$ocb_version/builder
if [[ ! -x $ocb ]]; then
    log "installing ocb $ocb_version into $(dirname -- "$ocb")"
    GOBIN=$work/ocb "$go_bin" install "go.opentelemetry.io/collector/cmd/builder@$ocb_version" >&2
    mkdir -p -- "$(dirname -- "$ocb")"
    mv -f -- "$work/ocb/builder" "$ocb"
fi

# output_path and the Go binary belong to this machine, not to the manifest: add them to a copy.
awk -v out="$work/src" -v go="$go_bin" '
    { print }
    /^dist:[[:space:]]*$/ { printf "  output_path: \"%s\"\n  go: \"%s\"\n", out, go; n++ }
    END { if (n != 1) exit 1 }
' "$manifest" >"$work/manifest.yaml" || die "$manifest needs exactly one top-level 'dist:' block"

log "building $DIST_NAME (ocb $ocb_version, ${go_version% }) into $build_dir; the first build takes minutes"
start=$SECONDS
"$ocb" --config "$work/manifest.yaml" >&2
log "built in $((SECONDS - start)) s"

mkdir -p -- "$work/out"
mv -- "$work/src/$DIST_NAME" "$work/out/$DIST_NAME"
# Keep the resolved module versions beside the binary, for the curious and for bug reports.
cp -- "$work/src/go.mod" "$work/src/go.sum" "$work/out/"
cp -- "$manifest" "$work/out/builder-config.yaml"
"$work/out/$DIST_NAME" --version >/dev/null || die "the new binary does not run"
# rename(2) is atomic: the build is either absent or complete.
mv -T -- "$work/out" "$build_dir"

# Drop builds of other manifests unused for two weeks, and leftovers of killed builds.
find "$cache_dir" -mindepth 1 -maxdepth 1 \( -name "$DIST_NAME-*" -mtime +14 -o -name '.tmp-*' -mtime +1 \) \
    ! -name "$DIST_NAME-$key" -exec rm -rf -- {} + 2>/dev/null || true

printf '%s\n' "$binary"
