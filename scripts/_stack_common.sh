# shellcheck shell=bash
# shellcheck disable=SC2034  # the variables are used by the scripts that source this file
# Shared by fetch-trace-backends.sh, stack-up.sh and stack-down.sh: pinned versions, paths, and the
# small process helpers (start in its own process group, record the PID, wait for HTTP, stop).
# Sourced, never run; the caller sets `set -euo pipefail` and STACK_SCRIPT (its name, for messages).

# --- pinned versions ------------------------------------------------------------------------------
# Zipkin's executable jar from Maven Central (io.zipkin:zipkin-server, classifier exec).
readonly ZIPKIN_VERSION=3.6.1
# Jaeger v2.13.0 is the same commit as the Go module tag v1.76.0: the repository's go.mod has no /v2
# suffix, so the Go module proxy serves v2 releases under their v1.x twin tags.
readonly JAEGER_VERSION=v2.13.0
readonly JAEGER_MODULE=github.com/jaegertracing/jaeger
readonly JAEGER_MODULE_VERSION=v1.76.0

# --- paths ----------------------------------------------------------------------------------------
STACK_ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
# Downloads and builds, keyed by version; CI points it outside the fresh clone to keep them.
STACK_CACHE_DIR=${STACK_CACHE_DIR:-$STACK_ROOT/.cache}
# Run-time state of one stack (data, logs, PIDs, generated secrets); one per checkout by default.
STACK_DIR=${STACK_DIR:-$STACK_ROOT/.cache/stack}

ZIPKIN_JAR=$STACK_CACHE_DIR/zipkin/$ZIPKIN_VERSION/zipkin-server-$ZIPKIN_VERSION-exec.jar
JAEGER_BIN=$STACK_CACHE_DIR/jaeger/$JAEGER_VERSION/jaeger

stack_log() { printf '%s: %s\n' "${STACK_SCRIPT:-stack}" "$*" >&2; }
stack_die() {
    stack_log "error: $*"
    exit 1
}

# A cache folder that ignores itself, so nothing under it is ever committed whatever .gitignore says.
stack_ensure_dir() {
    mkdir -p -- "$1"
    [[ -e $1/.gitignore ]] || printf '*\n' >"$1/.gitignore"
}

# --- processes ------------------------------------------------------------------------------------
# A PID file holds "<pid> <start time in clock ticks since boot>": the start time tells our process
# from an unrelated one that later got the same PID, so stack-down never signals a stranger.

_stack_proc_start_time() {
    local stat
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    # Field 22 of /proc/PID/stat, counted after the ")" that closes the (possibly spaced) command name.
    stat=${stat##*) }
    # shellcheck disable=SC2086  # word splitting is the point
    set -- $stat
    printf '%s\n' "${20}"
}

stack_pidfile() { printf '%s/pids/%s.pid\n' "$STACK_DIR" "$1"; }

# Prints the PID recorded for a component if that very process still runs; fails otherwise.
stack_running_pid() {
    local file pid recorded now
    file=$(stack_pidfile "$1")
    [[ -f $file ]] || return 1
    read -r pid recorded _ <"$file" || return 1
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    now=$(_stack_proc_start_time "$pid") || return 1
    [[ $now == "$recorded" ]] || return 1
    # A zombie has exited already; nothing to stop.
    [[ $(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null) != Z ]] || return 1
    printf '%s\n' "$pid"
}

# stack_start NAME LOGFILE WORKDIR CMD...: runs CMD in WORKDIR as the leader of a new session and
# process group (so stopping it reaches its children too), stdin closed, output appended to LOGFILE.
stack_start() {
    local name=$1 logfile=$2 workdir=$3 pid start
    shift 3
    mkdir -p -- "$STACK_DIR/pids" "$(dirname -- "$logfile")" "$workdir"
    printf '\n=== %s: starting %s ===\n' "$(date -u +%FT%TZ)" "$*" >>"$logfile"
    # Without job control a background child is not a group leader, so setsid(1) does not fork:
    # $! is the component's own PID and its process-group id.
    (cd -- "$workdir" && exec setsid "$@" </dev/null >>"$logfile" 2>&1) &
    pid=$!
    start=$(_stack_proc_start_time "$pid") || stack_die "$name exited at once; log: $logfile"
    printf '%s %s %s\n' "$pid" "$start" "$name" >"$(stack_pidfile "$name")"
    printf '%s\n' "$name" >>"$STACK_DIR/pids/order"
    stack_log "started $name (pid $pid), log $logfile"
}

stack_show_log_tail() {
    local logfile=$1 lines=${2:-40}
    [[ -f $logfile ]] || return 0
    printf -- '----- last %s lines of %s -----\n' "$lines" "$logfile" >&2
    tail -n "$lines" -- "$logfile" >&2
    printf -- '----- end of %s -----\n' "$logfile" >&2
}

# stack_wait_http NAME URL TIMEOUT LOGFILE: polls URL until it answers 2xx; fails early when the
# component's process is gone, and shows the tail of its log on failure.
stack_wait_http() {
    local name=$1 url=$2 timeout=$3 logfile=$4 deadline
    deadline=$((SECONDS + timeout))
    while ((SECONDS < deadline)); do
        if curl -fsS -o /dev/null --max-time 2 -- "$url" 2>/dev/null; then
            stack_log "$name is ready at $url ($((SECONDS - deadline + timeout)) s)"
            return 0
        fi
        if ! stack_running_pid "$name" >/dev/null; then
            stack_log "error: $name exited before it was ready ($url)"
            stack_show_log_tail "$logfile"
            return 1
        fi
        sleep 0.5
    done
    stack_log "error: $name not ready at $url after ${timeout} s"
    stack_show_log_tail "$logfile"
    return 1
}

# True when something accepts TCP connections on HOST:PORT.
stack_port_in_use() {
    (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null
}

# stack_stop NAME GRACE: SIGTERM to the component's process group, SIGKILL after GRACE seconds.
stack_stop() {
    local name=$1 grace=$2 pid deadline
    if ! pid=$(stack_running_pid "$name"); then
        rm -f -- "$(stack_pidfile "$name")"
        return 0
    fi
    stack_log "stopping $name (pid $pid)"
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM -- "$pid" 2>/dev/null || true
    deadline=$((SECONDS + grace))
    while ((SECONDS < deadline)) && stack_running_pid "$name" >/dev/null; do
        sleep 0.2
    done
    if stack_running_pid "$name" >/dev/null; then
        stack_log "$name did not stop within ${grace} s; sending SIGKILL"
        kill -KILL -- "-$pid" 2>/dev/null || kill -KILL -- "$pid" 2>/dev/null || true
        while stack_running_pid "$name" >/dev/null; do sleep 0.1; done
    fi
    # Children that left the group (none of ours do) would be out of reach; stragglers still in the
    # group after the leader exited get the same end.
    if pgrep -g "$pid" >/dev/null 2>&1; then
        kill -KILL -- "-$pid" 2>/dev/null || true
    fi
    rm -f -- "$(stack_pidfile "$name")"
}
