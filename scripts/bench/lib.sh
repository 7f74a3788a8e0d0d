# shellcheck shell=bash
# shellcheck disable=SC2034  # variables set here are read by the scripts that source this
# Shared by the benchmarks in scripts/bench: tool lookup, the machine header, statistics,
# cleanup (every process, sysctl and nginx a benchmark starts is undone on exit), nginx with its
# own prefix on loopback, the demo app. Sourced, never run.
#
# Environment: BUILD_DIR (default <repo>/build), DRAIN_INSPECTOR, ZDD_BIN, DEMO_APP (default:
# the ones in BUILD_DIR), BENCH_KEEP_TMP=1 keeps the scratch directory for a look afterwards.

set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BENCH_ROOT=$(cd "$BENCH_DIR/../.." && pwd)
BUILD_DIR=${BUILD_DIR:-$BENCH_ROOT/build}
DRAIN_INSPECTOR=${DRAIN_INSPECTOR:-$BUILD_DIR/userspace/drain-inspector}
ZDD_BIN=${ZDD_BIN:-$BUILD_DIR/orchestrator/zdd}
DEMO_APP=${DEMO_APP:-$BUILD_DIR/examples/demo-app/zdd-demo-app}

bench_die() {
    echo "bench: $*" >&2
    exit 2
}

bench_log() { echo "[$(date +%T)] $*" >&2; }

# ---- cleanup: a stack of commands run in reverse order on exit ---------------------------------
BENCH_CLEANUP=()
BENCH_PIDS=()
bench_on_exit() { BENCH_CLEANUP+=("$1"); }

bench_cleanup() {
    local rc=$? i pid
    trap - EXIT INT TERM
    for ((i = ${#BENCH_PIDS[@]} - 1; i >= 0; i--)); do bench_stop_pid "${BENCH_PIDS[i]}"; done
    for ((i = ${#BENCH_CLEANUP[@]} - 1; i >= 0; i--)); do eval "${BENCH_CLEANUP[i]}" || true; done
    exit "$rc"
}
trap bench_cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# SIGTERM, then SIGKILL after 3 s, for one pid we started (never by name).
bench_stop_pid() {
    local pid=$1 i
    kill -0 "$pid" 2>/dev/null || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 30; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

# Starts a command in the background, remembered for cleanup; sets BENCH_LAST_PID.
bench_spawn() {
    "$@" &
    BENCH_LAST_PID=$!
    BENCH_PIDS+=("$BENCH_LAST_PID")
}

# Stops a spawned pid now and forgets it.
bench_reap() {
    local pid=$1 i
    bench_stop_pid "$pid"
    for i in "${!BENCH_PIDS[@]}"; do [[ ${BENCH_PIDS[i]} == "$pid" ]] && unset 'BENCH_PIDS[i]'; done
    BENCH_PIDS=("${BENCH_PIDS[@]}")
}

bench_tmpdir() {
    BENCH_TMP=$(mktemp -d /tmp/zdd-bench.XXXXXX)
    chmod 0755 "$BENCH_TMP"  # nginx workers (user www-data/nobody) read their files in it
    if [[ ${BENCH_KEEP_TMP:-0} == 1 ]]; then
        bench_on_exit "echo 'bench: scratch kept in $BENCH_TMP' >&2"
    else
        bench_on_exit "rm -rf '$BENCH_TMP'"
    fi
}

# Sets a sysctl for the benchmark's lifetime; the old value is restored on exit.
bench_sysctl() {
    local key=$1 value=$2 old
    old=$(sysctl -n "$key")
    sysctl -q -w "$key=$value" >/dev/null
    bench_on_exit "sysctl -q -w '$key=$old' >/dev/null"
    bench_log "sysctl $key=$value (was $old; restored on exit)"
}

# ---- tools ------------------------------------------------------------------------------------
bench_require_root() { [[ $(id -u) -eq 0 ]] || bench_die "run as root (BPF, nginx, sysctls)"; }

bench_require_exe() {
    local path=$1 what=$2
    [[ -x $path ]] || bench_die "$what not found at $path (build the tree or set the variable)"
}

# The C++ helpers: from the tree's build, or built on their own into BUILD_DIR/bench-helpers.
bench_helpers() {
    local dir
    for dir in "$BUILD_DIR/tools/bench" "$BUILD_DIR/bench-helpers"; do
        if [[ -x $dir/zdd-bench-close-probe && -x $dir/zdd-bench-conn-farm &&
            -x $dir/zdd-bench-exec-stats ]]; then
            BENCH_BIN=$dir
            return 0
        fi
    done
    BENCH_BIN=$BUILD_DIR/bench-helpers
    bench_log "building the benchmark helpers into $BENCH_BIN"
    cmake -S "$BENCH_ROOT/tools/bench" -B "$BENCH_BIN" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
    cmake --build "$BENCH_BIN" -j"$(nproc)" >/dev/null
}

# ---- report -----------------------------------------------------------------------------------
bench_header() {
    local title=$1
    echo "== $title =="
    echo "date:    $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "machine: nproc=$(nproc), kernel $(uname -r), CPU $(grep -m1 'model name' /proc/cpuinfo |
        cut -d: -f2- | sed 's/^ *//'), $(awk '/MemTotal/ {printf "%.0f GiB RAM", $2/1048576}' /proc/meminfo)"
    echo "load:    $(cut -d' ' -f1-3 /proc/loadavg) (1/5/15 min) at start; the machine may be" \
        "shared with other work"
    # Every TCP socket on the host (TIME_WAIT included) adds to what ss, the BPF iterator and
    # /proc/net/tcp readers walk: other work's sockets slow every tool here.
    echo "sockets: host-wide at start: $(ss -s | sed -n 's/^TCP: *//p')"
    echo "commit:  $(git -C "$BENCH_ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)" \
        "$(git -C "$BENCH_ROOT" status --porcelain 2>/dev/null | grep -q . && echo '(+ local changes)')"
}

# Prints "median p10 p90 min max n" of the numbers in a file (one a line).
bench_stats() {
    sort -g "$1" | awk '
        { v[NR] = $1 }
        function q(p,   i) { i = int(p * (NR - 1) + 0.5) + 1; return v[i] }
        END {
            if (NR == 0) { print "nan nan nan nan nan 0"; exit }
            m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
            printf "%.3f %.3f %.3f %.3f %.3f %d\n", m, q(0.1), q(0.9), v[1], v[NR], NR
        }'
}

# One report line: LABEL UNIT FILE -> "LABEL  median X UNIT  p10 .. p90 ..  min .. max ..  n=N".
bench_report() {
    local label=$1 unit=$2 file=$3 m p10 p90 lo hi n
    read -r m p10 p90 lo hi n < <(bench_stats "$file")
    printf '  %-38s median %10.3f %-5s p10 %10.3f  p90 %10.3f  min %10.3f  max %10.3f  n=%d\n' \
        "$label" "$m" "$unit" "$p10" "$p90" "$lo" "$hi" "$n"
}

bench_median() { bench_stats "$1" | cut -d' ' -f1; }

# a / b with 3 decimals ("nan" when b is 0 or missing).
bench_ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b + 0 == 0) print "nan"; else printf "%.3f\n", a / b }'; }

# "met" or "NOT met": CMP is one of < <= >= >.
bench_target() {
    awk -v v="$1" -v c="$2" -v t="$3" 'BEGIN {
        ok = (c == "<") ? v < t : (c == "<=") ? v <= t : (c == ">=") ? v >= t : v > t
        print (ok ? "met" : "NOT met") }'
}

# A TCP port on 127.0.0.1 that nothing uses now (from 20000-29999).
bench_free_port() {
    local p used
    used=$(ss -Htan | awk '{ n = split($4, a, ":"); print a[n] }' | sort -u)
    for ((i = 0; i < 200; i++)); do
        p=$((20000 + RANDOM % 10000))
        grep -qx "$p" <<<"$used" || {
            echo "$p"
            return 0
        }
    done
    bench_die "no free port found"
}

# Waits (bounded) until URL answers 200.
bench_wait_http() {
    local url=$1 limit=${2:-10} i
    for ((i = 0; i < limit * 20; i++)); do
        curl -fsS -o /dev/null --max-time 1 "$url" 2>/dev/null && return 0
        sleep 0.05
    done
    return 1
}

# ---- demo app and nginx -----------------------------------------------------------------------
# Starts the demo app on PORT (VERSION, COLOR, LOG); sets BENCH_LAST_PID once /health answers.
bench_app_start() {
    local port=$1 version=$2 color=$3 log=$4
    bench_spawn env PORT="$port" APP_VERSION="$version" DEPLOYMENT_COLOR="$color" \
        SPDLOG_LEVEL="${APP_LOG_LEVEL:-warn}" "$DEMO_APP" --host 127.0.0.1 >>"$log" 2>&1
    bench_wait_http "http://127.0.0.1:$port/health" 10 ||
        bench_die "demo app on port $port did not answer /health (log: $log)"
}

# nginx with its own prefix DIR and config DIR/nginx.conf (written by the caller); stopped on
# exit. The http block should include the files the caller needs.
bench_nginx_start() {
    local dir=$1
    nginx -p "$dir/" -c "$dir/nginx.conf" -t -q || bench_die "nginx -t failed for $dir/nginx.conf"
    nginx -p "$dir/" -c "$dir/nginx.conf"
    bench_on_exit "bench_nginx_stop '$dir'"
}

bench_nginx_stop() {
    local dir=$1 pid i
    pid=$(cat "$dir/nginx.pid" 2>/dev/null) || return 0
    kill -TERM "$pid" 2>/dev/null || return 0
    for ((i = 0; i < 50; i++)); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
}

# The main and http preamble of a loopback nginx under DIR (temp paths, pid, logs in DIR).
bench_nginx_preamble() {
    local dir=$1 workers=${2:-1}
    cat <<EOF
worker_processes $workers;
worker_rlimit_nofile 16384;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 8192; }
http {
    access_log off;
    client_body_temp_path $dir/tmp_body;
    proxy_temp_path $dir/tmp_proxy;
    fastcgi_temp_path $dir/tmp_fastcgi;
    uwsgi_temp_path $dir/tmp_uwsgi;
    scgi_temp_path $dir/tmp_scgi;
EOF
}

# ---- zdd with its own nginx -------------------------------------------------------------------
# nginx under DIR listening on 127.0.0.1:NGINX_PORT, with an upstream file DIR/upstream.conf
# (vibe_backend -> 127.0.0.1:FIRST_PORT) and a /stream/ location without buffering.
bench_deploy_nginx() {
    local dir=$1 nginx_port=$2 first_port=$3
    mkdir -p "$dir"
    printf 'upstream vibe_backend {\n    server 127.0.0.1:%s;\n}\n' "$first_port" >"$dir/upstream.conf"
    {
        bench_nginx_preamble "$dir"
        cat <<EOF2
    include $dir/upstream.conf;
    server {
        listen 127.0.0.1:$nginx_port;
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        location / { proxy_pass http://vibe_backend; }
        location /stream/ {
            proxy_pass http://vibe_backend;
            proxy_buffering off;
            proxy_read_timeout 1h;
        }
    }
}
EOF2
    } >"$dir/nginx.conf"
    bench_nginx_start "$dir"
}

# Sets up zdd under BENCH_TMP/zdd: nginx, token file, state dir; ZDD_FLAGS holds every flag but
# the command. Instances zdd starts are stopped on exit (pids from state.json).
bench_zdd_setup() {
    local dir=$BENCH_TMP/zdd
    ZDD_DIR=$dir
    ZDD_NGINX_PORT=$(bench_free_port)
    ZDD_BLUE=$(bench_free_port)
    ZDD_GREEN=$(bench_free_port)
    bench_deploy_nginx "$dir/nginx" "$ZDD_NGINX_PORT" "$ZDD_BLUE"
    (
        umask 077
        printf 'VIBE_DEPLOYMENT_TOKEN=%s\n' "$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')" \
            >"$dir/token.env"
    )
    ZDD_FLAGS=(--service zdd-bench --ports "$ZDD_BLUE,$ZDD_GREEN"
        --upstream-file "$dir/nginx/upstream.conf" --upstream-name vibe_backend
        --nginx-conf "$dir/nginx/nginx.conf" --nginx-prefix "$dir/nginx/"
        --nginx-pid-file "$dir/nginx/nginx.pid"
        --probe-url "http://127.0.0.1:$ZDD_NGINX_PORT/health/deployment"
        --state-dir "$dir/state" --status-file "$dir/status" --token-file "$dir/token.env"
        --drain-timeout 60 --health-timeout 20)
    bench_on_exit "bench_zdd_stop_instances '$dir/state/state.json'"
}

# The pids zdd recorded for its instances, stopped (TERM, then KILL).
bench_zdd_stop_instances() {
    local pid
    [[ -f $1 ]] || return 0
    for pid in $(python3 -c 'import json,sys
d = json.load(open(sys.argv[1]))
print(" ".join(str(c.get("pid", 0)) for c in d.get("colors", {}).values() if c.get("pid", 0) > 0))' "$1"); do
        bench_stop_pid "$pid"
    done
}

# "PHASE AT" lines of the last deploy in state.json (unix seconds).
bench_zdd_phases() {
    python3 -c 'import json,sys
d = json.load(open(sys.argv[1]))
for p in (d.get("deploy") or {}).get("phases", []): print(p["phase"], repr(p["at"]))' "$1"
}

# ---- the seed's way, as a baseline: a bare blue/green deploy in shell ----------------------------
# Same steps as zdd without its checks: start the other color, poll /health every 200 ms (zdd's
# interval), upstream new weight=100 old weight=1, nginx -t, reload, upstream new only, nginx -t,
# reload, then (with DRAIN=ss) the original script's drain loop: ss every second until the old
# port has no established socket; then SIGTERM to the old instance and wait for its exit.
# After a call: BARE_T0, BARE_HEALTH0, BARE_HEALTH1, BARE_DRAIN0, BARE_SIGNAL, BARE_T1
# (EPOCHREALTIME seconds).
bench_bare_setup() {
    BARE_DIR=$BENCH_TMP/bare
    BARE_NGINX_PORT=$(bench_free_port)
    BARE_PORTS=("$(bench_free_port)" "$(bench_free_port)")
    bench_deploy_nginx "$BARE_DIR/nginx" "$BARE_NGINX_PORT" "${BARE_PORTS[0]}"
    bench_app_start "${BARE_PORTS[0]}" v0 blue "$BARE_DIR/app.log"
    BARE_PID=$BENCH_LAST_PID
    BARE_CUR=0
}

bench_bare_deploy() {
    local drain=${1:-none} new=$((1 - BARE_CUR)) old_pid=$BARE_PID old_port=${BARE_PORTS[BARE_CUR]}
    local new_port=${BARE_PORTS[1 - BARE_CUR]} ng=$BARE_DIR/nginx i
    BARE_T0=$EPOCHREALTIME
    local colors=(blue green)
    bench_spawn env PORT="$new_port" DEPLOYMENT_COLOR="${colors[new]}" SPDLOG_LEVEL=warn "$DEMO_APP" \
        --host 127.0.0.1 >>"$BARE_DIR/app.log" 2>&1
    BARE_PID=$BENCH_LAST_PID
    BARE_HEALTH0=$EPOCHREALTIME
    for ((i = 0; i < 100; i++)); do
        curl -fsS -o /dev/null --max-time 1 "http://127.0.0.1:$new_port/health" 2>/dev/null && break
        sleep 0.2
    done
    BARE_HEALTH1=$EPOCHREALTIME
    printf 'upstream vibe_backend {\n    server 127.0.0.1:%s weight=100;\n    server 127.0.0.1:%s weight=1;\n}\n' \
        "$new_port" "$old_port" >"$ng/upstream.conf"
    nginx -p "$ng/" -c "$ng/nginx.conf" -t -q && nginx -p "$ng/" -c "$ng/nginx.conf" -s reload 2>>"$BARE_DIR/nginx.log"
    printf 'upstream vibe_backend {\n    server 127.0.0.1:%s;\n}\n' "$new_port" >"$ng/upstream.conf"
    nginx -p "$ng/" -c "$ng/nginx.conf" -t -q && nginx -p "$ng/" -c "$ng/nginx.conf" -s reload 2>>"$BARE_DIR/nginx.log"
    BARE_DRAIN0=$EPOCHREALTIME
    if [[ $drain == ss ]]; then
        for ((i = 0; i < 600; i++)); do
            (($(ss -Htn state established "( sport = :$old_port )" | wc -l) == 0)) && break
            sleep 1
        done
    fi
    BARE_SIGNAL=$EPOCHREALTIME
    kill -TERM "$old_pid"
    for ((i = 0; i < 1000; i++)); do
        kill -0 "$old_pid" 2>/dev/null || break
        sleep 0.01
    done
    bench_reap "$old_pid"
    BARE_T1=$EPOCHREALTIME
    BARE_CUR=$new
}

# ms between two EPOCHREALTIME / unix-seconds values.
bench_ms() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f\n", (b - a) * 1000 }'; }
