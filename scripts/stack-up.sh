#!/usr/bin/env bash
# Start the local observability stack on loopback, each component in its own folder under STACK_DIR
# (data, log, PID), and wait until every one answers its readiness endpoint:
#   Alertmanager, Prometheus, the trace backends (Jaeger v2, Zipkin), the Collector, then the service.
# On failure it prints the tail of the failing component's log, stops what it started, exits 1.
# Stop with scripts/stack-down.sh (same STACK_DIR). Used by `make stack-up` and the e2e fixtures.
#
# Environment (defaults in brackets; every listener is on 127.0.0.1):
#   STACK_DIR                   state folder [<repo>/.cache/stack]
#   STACK_CACHE_DIR             downloads and builds [<repo>/.cache]
#   STACK_SKIP_SERVICE=1        do not start the service (the e2e tests start their own)
#   STACK_TRACE_BACKENDS        which trace backends to start: "jaeger zipkin", one of them, or "none"
#                               ["jaeger zipkin"]; with zipkin, collector/traces-zipkin.yaml is added
#   STACK_TIMEOUT               seconds each component may take to become ready [120]
#   STACK_SCRAPE_INTERVAL       Prometheus scrape (and scrape timeout) interval [as in prometheus.yml]
#   STACK_EVALUATION_INTERVAL   Prometheus rule evaluation interval [as in prometheus.yml]
#   STACK_KEEP_ON_FAILURE=1     leave started components running when a later one fails
#   COLLECTOR_BIN               the Collector binary [last line of scripts/build-collector.sh]
#   COLLECTOR_CONFIG            [collector-config.yaml]; COLLECTOR_OVERLAYS: more --config files
#   OTELCOL_OTLP_GRPC_ENDPOINT [127.0.0.1:4317]  OTELCOL_OTLP_HTTP_ENDPOINT [127.0.0.1:4318]
#   OTELCOL_PROMETHEUS_ENDPOINT [127.0.0.1:8889] OTELCOL_TELEMETRY_PORT [8888]
#   OTELCOL_HEALTH_ENDPOINT    [127.0.0.1:13133] OTELCOL_HEALTH_PATH [/]
#   OTELCOL_ZPAGES_ENDPOINT    [127.0.0.1:55679] OTELCOL_PPROF_ENDPOINT [127.0.0.1:1777]
#   PROMETHEUS_PORT [9090]  ALERTMANAGER_PORT [9093]  ZIPKIN_PORT [9411]  SERVICE_PORT [8000]
#   JAEGER_QUERY_PORT [16686]  JAEGER_QUERY_GRPC_PORT [16685]  JAEGER_OTLP_GRPC_PORT [14317]
#   JAEGER_OTLP_HTTP_PORT [14318]  JAEGER_HEALTH_PORT [14133]  JAEGER_METRICS_PORT [14269]
#   PROMETHEUS_BIN [prometheus]  ALERTMANAGER_BIN [prometheus-alertmanager, else alertmanager]
#   JAVA [java]  ZIPKIN_HEAP [256m]  SERVICE_PYTHON [<repo>/.venv/bin/python]
#   SLACK_WEBHOOK_URL           written to the Slack URL secret file [a loopback address that refuses]
#
# Writes STACK_DIR/stack.env (URLs and endpoints, sourceable) and prints the URLs at the end.
set -euo pipefail
STACK_SCRIPT=stack-up
# shellcheck source=scripts/_stack_common.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/_stack_common.sh"

readonly HOST=127.0.0.1
: "${STACK_SKIP_SERVICE:=0}" "${STACK_TRACE_BACKENDS:=jaeger zipkin}" "${STACK_TIMEOUT:=120}"
: "${STACK_KEEP_ON_FAILURE:=0}" "${STACK_SCRAPE_INTERVAL:=}" "${STACK_EVALUATION_INTERVAL:=}"
: "${OTELCOL_OTLP_GRPC_ENDPOINT:=$HOST:4317}" "${OTELCOL_OTLP_HTTP_ENDPOINT:=$HOST:4318}"
: "${OTELCOL_PROMETHEUS_ENDPOINT:=$HOST:8889}" "${OTELCOL_TELEMETRY_PORT:=8888}"
: "${OTELCOL_HEALTH_ENDPOINT:=$HOST:13133}" "${OTELCOL_HEALTH_PATH:=/}"
: "${OTELCOL_ZPAGES_ENDPOINT:=$HOST:55679}" "${OTELCOL_PPROF_ENDPOINT:=$HOST:1777}"
: "${PROMETHEUS_PORT:=9090}" "${ALERTMANAGER_PORT:=9093}" "${ZIPKIN_PORT:=9411}" "${SERVICE_PORT:=8000}"
: "${JAEGER_QUERY_PORT:=16686}" "${JAEGER_QUERY_GRPC_PORT:=16685}" "${JAEGER_OTLP_GRPC_PORT:=14317}"
: "${JAEGER_OTLP_HTTP_PORT:=14318}" "${JAEGER_HEALTH_PORT:=14133}" "${JAEGER_METRICS_PORT:=14269}"
: "${COLLECTOR_CONFIG:=$STACK_ROOT/collector-config.yaml}" "${COLLECTOR_OVERLAYS:=}"
: "${PROMETHEUS_BIN:=prometheus}" "${JAVA:=java}" "${ZIPKIN_HEAP:=256m}"
: "${SERVICE_PYTHON:=$STACK_ROOT/.venv/bin/python}"
if [[ -z ${ALERTMANAGER_BIN:-} ]]; then
    ALERTMANAGER_BIN=$(command -v prometheus-alertmanager || command -v alertmanager || echo prometheus-alertmanager)
fi

want_jaeger=0 want_zipkin=0
for backend in $STACK_TRACE_BACKENDS; do
    case $backend in
        jaeger) want_jaeger=1 ;;
        zipkin) want_zipkin=1 ;;
        none) ;;
        *) stack_die "STACK_TRACE_BACKENDS: unknown backend '$backend' (jaeger, zipkin or none)" ;;
    esac
done

# --- preflight: fail before starting anything -------------------------------------------------------
need_tool() { command -v "$1" >/dev/null || stack_die "$1 not found ($2)"; }
need_tool curl "used to wait for readiness"
need_tool setsid "util-linux"
need_tool "$PROMETHEUS_BIN" "Debian package prometheus, or set PROMETHEUS_BIN"
need_tool "$ALERTMANAGER_BIN" "Debian package prometheus-alertmanager, or set ALERTMANAGER_BIN"
((want_zipkin == 0)) || need_tool "$JAVA" "Zipkin needs Java 17+, or set JAVA"
[[ $STACK_SKIP_SERVICE == 1 || -x $SERVICE_PYTHON ]] \
    || stack_die "no Python at $SERVICE_PYTHON (create the venv, or set SERVICE_PYTHON)"
[[ -f $COLLECTOR_CONFIG ]] || stack_die "Collector config not found: $COLLECTOR_CONFIG"
[[ -f $STACK_ROOT/prometheus/prometheus.yml ]] || stack_die "missing prometheus/prometheus.yml"
[[ -f $STACK_ROOT/alertmanager/alertmanager.yml ]] || stack_die "missing alertmanager/alertmanager.yml"

mkdir -p -- "$STACK_DIR"
if [[ -d $STACK_DIR/pids ]]; then
    for file in "$STACK_DIR"/pids/*.pid; do
        [[ -e $file ]] || continue
        name=$(basename -- "$file" .pid)
        if stack_running_pid "$name" >/dev/null; then
            stack_die "a stack is already running in $STACK_DIR ($name); run scripts/stack-down.sh first"
        fi
    done
    rm -rf -- "$STACK_DIR/pids"
fi
stack_ensure_dir "$STACK_ROOT/.cache"
stack_ensure_dir "$STACK_DIR"

# Every port we will bind, checked up front so a clash names the port rather than a crashed process.
ports=(
    "alertmanager:$HOST:$ALERTMANAGER_PORT" "prometheus:$HOST:$PROMETHEUS_PORT"
    "collector:$OTELCOL_OTLP_GRPC_ENDPOINT" "collector:$OTELCOL_OTLP_HTTP_ENDPOINT"
    "collector:$OTELCOL_PROMETHEUS_ENDPOINT" "collector:$HOST:$OTELCOL_TELEMETRY_PORT"
    "collector:$OTELCOL_HEALTH_ENDPOINT" "collector:$OTELCOL_ZPAGES_ENDPOINT"
    "collector:$OTELCOL_PPROF_ENDPOINT"
)
((want_jaeger == 0)) || ports+=(
    "jaeger:$HOST:$JAEGER_QUERY_PORT" "jaeger:$HOST:$JAEGER_QUERY_GRPC_PORT"
    "jaeger:$HOST:$JAEGER_OTLP_GRPC_PORT" "jaeger:$HOST:$JAEGER_OTLP_HTTP_PORT"
    "jaeger:$HOST:$JAEGER_HEALTH_PORT" "jaeger:$HOST:$JAEGER_METRICS_PORT"
)
((want_zipkin == 0)) || ports+=("zipkin:$HOST:$ZIPKIN_PORT")
[[ $STACK_SKIP_SERVICE == 1 ]] || ports+=("service:$HOST:$SERVICE_PORT")
for entry in "${ports[@]}"; do
    component=${entry%%:*} address=${entry#*:}
    if stack_port_in_use "${address%:*}" "${address##*:}"; then
        stack_die "$address (for $component) is already in use; pick another port (see the header of $0)"
    fi
done

# Artefacts: the trace backends from the cache (fetched or built on first use), the Collector build.
fetch_args=()
((want_zipkin == 0)) || fetch_args+=(zipkin)
((want_jaeger == 0)) || fetch_args+=(jaeger)
if ((${#fetch_args[@]})); then
    "$STACK_ROOT/scripts/fetch-trace-backends.sh" "${fetch_args[@]}" >/dev/null
fi
if [[ -z ${COLLECTOR_BIN:-} ]]; then
    COLLECTOR_BIN=$("$STACK_ROOT/scripts/build-collector.sh" | tail -n 1)
fi
[[ -x $COLLECTOR_BIN ]] || stack_die "Collector binary not executable: $COLLECTOR_BIN"

# From here on, any failure (a stack_die, a component not ready) stops what this run started.
stack_up_complete=0
on_exit() {
    local status=$?
    ((status != 0 && stack_up_complete == 0)) || return 0
    if [[ $STACK_KEEP_ON_FAILURE == 1 ]]; then
        stack_log "STACK_KEEP_ON_FAILURE=1: leaving the started components running"
    else
        stack_log "stopping what was started"
        STACK_DIR=$STACK_DIR "$STACK_ROOT/scripts/stack-down.sh" || true
    fi
    exit "$status"
}
trap on_exit EXIT

# --- secrets: generated once per STACK_DIR, mode 0600, never in the repository -----------------------
secrets=$STACK_DIR/secrets
(umask 077 && mkdir -p -- "$secrets")
random_hex() { od -An -N32 -tx1 /dev/urandom | tr -d ' \n'; }
write_secret() { # NAME VALUE: only when absent, so restarts keep tokens stable
    [[ -s $secrets/$1 ]] || (umask 077 && printf '%s' "$2" >"$secrets/$1")
}
# File names as alertmanager/alertmanager.yml expects them under /etc/alertmanager/secrets/.
write_secret jwt_secret "$(random_hex)"
write_secret webhook-token "$(random_hex)"
write_secret pagerduty-routing-key "$(random_hex)"
# Without a real Slack URL, Alertmanager's Slack notifications go to a loopback port nobody serves.
if [[ -n ${SLACK_WEBHOOK_URL:-} ]]; then
    (umask 077 && printf '%s' "$SLACK_WEBHOOK_URL" >"$secrets/slack-webhook-url")
else
    write_secret slack-webhook-url "http://$HOST:9/slack-disabled"
fi

# --- Alertmanager ---------------------------------------------------------------------------------
# A copy of the config whose secret files are the generated ones in STACK_DIR/secrets and whose
# webhook reaches the service on SERVICE_PORT.
start_alertmanager() {
    local dir=$STACK_DIR/alertmanager
    mkdir -p -- "$dir/config" "$dir/data"
    sed -e "s#/etc/alertmanager/secrets/#$secrets/#g" \
        -e "s#http://127\\.0\\.0\\.1:8000/#http://$HOST:$SERVICE_PORT/#g" \
        "$STACK_ROOT/alertmanager/alertmanager.yml" >"$dir/config/alertmanager.yml"
    stack_start alertmanager "$dir/alertmanager.log" "$dir" \
        "$ALERTMANAGER_BIN" \
        --config.file="$dir/config/alertmanager.yml" \
        --storage.path="$dir/data" \
        --web.listen-address="$HOST:$ALERTMANAGER_PORT" \
        --web.external-url="http://$HOST:$ALERTMANAGER_PORT" \
        --cluster.listen-address=
    stack_wait_http alertmanager "http://$HOST:$ALERTMANAGER_PORT/-/ready" "$STACK_TIMEOUT" "$dir/alertmanager.log"
}

# --- Prometheus -----------------------------------------------------------------------------------
# prometheus/ is copied whole (rule_files are relative to the config) and its default loopback
# targets and intervals rewritten; the original is never edited.
start_prometheus() {
    local dir=$STACK_DIR/prometheus expr=() default target
    rm -rf -- "$dir/config"
    mkdir -p -- "$dir/data"
    cp -R -- "$STACK_ROOT/prometheus" "$dir/config"
    # Two passes through placeholders, so a new port equal to another default is not rewritten again.
    local -A targets=(
        [8889]=$OTELCOL_PROMETHEUS_ENDPOINT [8888]=$HOST:$OTELCOL_TELEMETRY_PORT
        [9093]=$HOST:$ALERTMANAGER_PORT [9090]=$HOST:$PROMETHEUS_PORT
    )
    for default in "${!targets[@]}"; do
        expr+=(-e "s#\\b127\\.0\\.0\\.1:$default\\b#@@TARGET_$default@@#g")
    done
    for default in "${!targets[@]}"; do
        target=${targets[$default]}
        expr+=(-e "s#@@TARGET_$default@@#$target#g")
    done
    if [[ -n $STACK_SCRAPE_INTERVAL ]]; then
        expr+=(-e "s#^\\(  scrape_interval:\\).*#\\1 $STACK_SCRAPE_INTERVAL#")
        expr+=(-e "s#^\\(  scrape_timeout:\\).*#\\1 $STACK_SCRAPE_INTERVAL#")
    fi
    [[ -z $STACK_EVALUATION_INTERVAL ]] \
        || expr+=(-e "s#^\\(  evaluation_interval:\\).*#\\1 $STACK_EVALUATION_INTERVAL#")
    sed "${expr[@]}" "$STACK_ROOT/prometheus/prometheus.yml" >"$dir/config/prometheus.yml"
    stack_start prometheus "$dir/prometheus.log" "$dir" \
        "$PROMETHEUS_BIN" \
        --config.file="$dir/config/prometheus.yml" \
        --storage.tsdb.path="$dir/data" \
        --storage.tsdb.retention.time=2d \
        --web.listen-address="$HOST:$PROMETHEUS_PORT" \
        --web.external-url="http://$HOST:$PROMETHEUS_PORT" \
        --web.enable-lifecycle \
        --web.enable-remote-write-receiver \
        --enable-feature=exemplar-storage
    stack_wait_http prometheus "http://$HOST:$PROMETHEUS_PORT/-/ready" "$STACK_TIMEOUT" "$dir/prometheus.log"
}

# --- trace backends -------------------------------------------------------------------------------
start_jaeger() {
    local dir=$STACK_DIR/jaeger
    mkdir -p -- "$dir"
    stack_start jaeger "$dir/jaeger.log" "$dir" \
        env JAEGER_QUERY_PORT="$JAEGER_QUERY_PORT" JAEGER_QUERY_GRPC_PORT="$JAEGER_QUERY_GRPC_PORT" \
        JAEGER_OTLP_GRPC_PORT="$JAEGER_OTLP_GRPC_PORT" JAEGER_OTLP_HTTP_PORT="$JAEGER_OTLP_HTTP_PORT" \
        JAEGER_HEALTH_PORT="$JAEGER_HEALTH_PORT" JAEGER_METRICS_PORT="$JAEGER_METRICS_PORT" \
        "$JAEGER_BIN" --config "$STACK_ROOT/scripts/backends/jaeger.yaml"
    stack_wait_http jaeger "http://$HOST:$JAEGER_HEALTH_PORT/status" "$STACK_TIMEOUT" "$dir/jaeger.log"
    stack_wait_http jaeger "http://$HOST:$JAEGER_QUERY_PORT/api/services" "$STACK_TIMEOUT" "$dir/jaeger.log"
}

start_zipkin() {
    local dir=$STACK_DIR/zipkin
    mkdir -p -- "$dir/tmp"
    # In-memory storage; Armeria bound to loopback only. Serial GC and C1 only: it starts faster and
    # uses less memory, which matters more here than peak throughput.
    stack_start zipkin "$dir/zipkin.log" "$dir" \
        env STORAGE_TYPE=mem SELF_TRACING_ENABLED=false QUERY_PORT="$ZIPKIN_PORT" \
        "$JAVA" -Xms32m "-Xmx$ZIPKIN_HEAP" -XX:+UseSerialGC -XX:TieredStopAtLevel=1 \
        -Djava.io.tmpdir="$dir/tmp" -jar "$ZIPKIN_JAR" \
        "--armeria.ports[0].ip=$HOST" "--armeria.ports[0].port=$ZIPKIN_PORT" \
        "--armeria.ports[0].protocols[0]=http"
    stack_wait_http zipkin "http://$HOST:$ZIPKIN_PORT/health" "$STACK_TIMEOUT" "$dir/zipkin.log"
}

# --- Collector ------------------------------------------------------------------------------------
start_collector() {
    local dir=$STACK_DIR/collector overlay args=()
    mkdir -p -- "$dir/storage"
    args+=(--config "$COLLECTOR_CONFIG")
    local overlays=()
    read -ra overlays <<<"$COLLECTOR_OVERLAYS"
    if ((want_zipkin)) && [[ " ${overlays[*]} " != *traces-zipkin.yaml* ]]; then
        overlays+=("$STACK_ROOT/collector/traces-zipkin.yaml")
    fi
    for overlay in "${overlays[@]}"; do
        [[ $overlay == /* ]] || overlay=$STACK_ROOT/$overlay
        [[ -f $overlay ]] || stack_die "Collector overlay not found: $overlay"
        args+=(--config "$overlay")
    done
    stack_start collector "$dir/collector.log" "$dir" \
        env OTELCOL_OTLP_GRPC_ENDPOINT="$OTELCOL_OTLP_GRPC_ENDPOINT" \
        OTELCOL_OTLP_HTTP_ENDPOINT="$OTELCOL_OTLP_HTTP_ENDPOINT" \
        OTELCOL_PROMETHEUS_ENDPOINT="$OTELCOL_PROMETHEUS_ENDPOINT" \
        OTELCOL_TELEMETRY_HOST="$HOST" OTELCOL_TELEMETRY_PORT="$OTELCOL_TELEMETRY_PORT" \
        OTELCOL_HEALTH_ENDPOINT="$OTELCOL_HEALTH_ENDPOINT" \
        OTELCOL_ZPAGES_ENDPOINT="$OTELCOL_ZPAGES_ENDPOINT" OTELCOL_PPROF_ENDPOINT="$OTELCOL_PPROF_ENDPOINT" \
        OTELCOL_STORAGE_DIR="$dir/storage" \
        TRACES_OTLP_ENDPOINT="$HOST:$JAEGER_OTLP_GRPC_PORT" \
        ZIPKIN_ENDPOINT="http://$HOST:$ZIPKIN_PORT/api/v2/spans" \
        LOGS_FILE_PATH="$dir/logs.jsonl" \
        PROMETHEUS_REMOTE_WRITE_URL="http://$HOST:$PROMETHEUS_PORT/api/v1/write" \
        "$COLLECTOR_BIN" "${args[@]}"
    stack_wait_http collector "http://$OTELCOL_HEALTH_ENDPOINT$OTELCOL_HEALTH_PATH" "$STACK_TIMEOUT" \
        "$dir/collector.log"
}

# --- the service ----------------------------------------------------------------------------------
start_service() {
    local dir=$STACK_DIR/service
    mkdir -p -- "$dir"
    # Run from its own folder so a developer's .env in the checkout does not leak in; PYTHONPATH
    # makes the checkout importable whether or not the venv has it installed.
    stack_start service "$dir/service.log" "$dir" \
        env HOST="$HOST" PORT="$SERVICE_PORT" \
        DATABASE_URL="sqlite:///$dir/mindhit.db" \
        JWT_SECRET="$(cat -- "$secrets/jwt_secret")" \
        ALERTMANAGER_WEBHOOK_TOKEN="$(cat -- "$secrets/webhook-token")" \
        OTEL_EXPORTER_OTLP_ENDPOINT="http://$OTELCOL_OTLP_HTTP_ENDPOINT" \
        OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf \
        OTEL_METRIC_EXPORT_INTERVAL=5000 \
        PYTHONPATH="$STACK_ROOT${PYTHONPATH:+:$PYTHONPATH}" \
        "$SERVICE_PYTHON" -m service
    stack_wait_http service "http://$HOST:$SERVICE_PORT/health" "$STACK_TIMEOUT" "$dir/service.log"
    stack_wait_http service "http://$HOST:$SERVICE_PORT/ready" "$STACK_TIMEOUT" "$dir/service.log"
}

write_stack_env() {
    {
        printf '# Written by scripts/stack-up.sh at %s; source it to reach this stack.\n' "$(date -u +%FT%TZ)"
        printf 'STACK_DIR=%q\n' "$STACK_DIR"
        printf 'PROMETHEUS_URL=http://%s:%s\n' "$HOST" "$PROMETHEUS_PORT"
        printf 'ALERTMANAGER_URL=http://%s:%s\n' "$HOST" "$ALERTMANAGER_PORT"
        printf 'OTELCOL_OTLP_GRPC_ENDPOINT=%s\n' "$OTELCOL_OTLP_GRPC_ENDPOINT"
        printf 'OTELCOL_OTLP_HTTP_URL=http://%s\n' "$OTELCOL_OTLP_HTTP_ENDPOINT"
        printf 'OTELCOL_PROMETHEUS_URL=http://%s/metrics\n' "$OTELCOL_PROMETHEUS_ENDPOINT"
        printf 'OTELCOL_TELEMETRY_URL=http://%s:%s/metrics\n' "$HOST" "$OTELCOL_TELEMETRY_PORT"
        printf 'OTELCOL_HEALTH_URL=http://%s%s\n' "$OTELCOL_HEALTH_ENDPOINT" "$OTELCOL_HEALTH_PATH"
        printf 'OTELCOL_LOGS_FILE=%q\n' "$STACK_DIR/collector/logs.jsonl"
        ((want_jaeger == 0)) || printf 'JAEGER_QUERY_URL=http://%s:%s\n' "$HOST" "$JAEGER_QUERY_PORT"
        ((want_zipkin == 0)) || printf 'ZIPKIN_URL=http://%s:%s\n' "$HOST" "$ZIPKIN_PORT"
        [[ $STACK_SKIP_SERVICE == 1 ]] || printf 'SERVICE_URL=http://%s:%s\n' "$HOST" "$SERVICE_PORT"
    } >"$STACK_DIR/stack.env"
}

# Plain `if` blocks, not `a || start_x`: errexit is off inside a function called from a || list.
start_alertmanager
start_prometheus
if ((want_jaeger)); then start_jaeger; fi
if ((want_zipkin)); then start_zipkin; fi
start_collector
if [[ $STACK_SKIP_SERVICE != 1 ]]; then start_service; fi
write_stack_env
stack_up_complete=1

cat <<EOF
Stack is up (state in $STACK_DIR; stop with scripts/stack-down.sh):
  Prometheus     http://$HOST:$PROMETHEUS_PORT
  Alertmanager   http://$HOST:$ALERTMANAGER_PORT
  Collector      OTLP gRPC $OTELCOL_OTLP_GRPC_ENDPOINT, OTLP HTTP http://$OTELCOL_OTLP_HTTP_ENDPOINT, metrics http://$OTELCOL_PROMETHEUS_ENDPOINT/metrics, health http://$OTELCOL_HEALTH_ENDPOINT$OTELCOL_HEALTH_PATH
EOF
((want_jaeger == 0)) || printf '  Jaeger         http://%s:%s (API /api/traces/{id}), OTLP gRPC %s:%s\n' \
    "$HOST" "$JAEGER_QUERY_PORT" "$HOST" "$JAEGER_OTLP_GRPC_PORT"
((want_zipkin == 0)) || printf '  Zipkin         http://%s:%s (API /api/v2/trace/{id})\n' "$HOST" "$ZIPKIN_PORT"
[[ $STACK_SKIP_SERVICE == 1 ]] || printf '  Service        http://%s:%s\n' "$HOST" "$SERVICE_PORT"
printf '  Logs           %s/*/*.log\n' "$STACK_DIR"
