#!/usr/bin/env bash
# Stop every component scripts/stack-up.sh started in STACK_DIR, newest first (the service, then the
# Collector so it flushes to the backends, then the backends): SIGTERM to each one's process group,
# SIGKILL after STACK_STOP_GRACE seconds. Only PIDs recorded by stack-up, and only while the PID still
# names the process it recorded, are signalled. Safe to run twice, or with nothing running.
#
# Environment:
#   STACK_DIR          state folder [<repo>/.cache/stack]
#   STACK_STOP_GRACE   seconds between SIGTERM and SIGKILL, per component [15]
# Data, logs and secrets stay in STACK_DIR for inspection; delete the folder to start afresh.
set -euo pipefail
STACK_SCRIPT=stack-down
# shellcheck source=scripts/_stack_common.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/_stack_common.sh"

: "${STACK_STOP_GRACE:=15}"
pids=$STACK_DIR/pids

if [[ ! -d $pids ]]; then
    stack_log "nothing to stop in $STACK_DIR"
    exit 0
fi

# Start order, reversed and deduplicated, then any PID file the order list does not know about.
declare -A seen=()
names=()
if [[ -f $pids/order ]]; then
    while read -r name; do
        [[ -n $name && -z ${seen[$name]:-} ]] || continue
        seen[$name]=1
        names+=("$name")
    done < <(tac -- "$pids/order")
fi
for file in "$pids"/*.pid; do
    [[ -e $file ]] || continue
    name=$(basename -- "$file" .pid)
    [[ -n ${seen[$name]:-} ]] || names+=("$name")
done

for name in "${names[@]}"; do
    stack_stop "$name" "$STACK_STOP_GRACE"
done

left=()
for name in "${names[@]}"; do
    if stack_running_pid "$name" >/dev/null; then left+=("$name"); fi
done
((${#left[@]} == 0)) || stack_die "still running after SIGKILL: ${left[*]}"
rm -f -- "$pids/order"
stack_log "stopped (${names[*]:-nothing was running}); data and logs kept in $STACK_DIR"
