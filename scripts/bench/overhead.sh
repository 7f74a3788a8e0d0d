#!/usr/bin/env bash
# Overhead (issue 6): wrk through nginx to the demo app with drain-inspector's BPF programs
# loaded vs not loaded, in alternating pairs, for keepalive traffic and for `Connection: close`
# churn (a new client and upstream connection per request, so the state-change tracepoint fires
# several times per request). Throughput ratio loaded/unloaded per pair; median and spread.
#
# The BPF side is what a deploy runs: `drain-inspector wait --timeout 0` holding the programs on
# the OLD color's port (a listener with one idle connection, so the wait never ends), while the
# traffic goes to the NEW color, as during a drain. The tracepoint sees every socket on the host.
#
# All on 127.0.0.1: nginx with its own prefix (1 worker), the demo app, wrk (1 thread).
# "keepalive": wrk keeps its connections to nginx; nginx opens one upstream connection per
# request (HTTP/1.0, nginx's default) unless UPSTREAM_KEEPALIVE=N pools N of them. The pool is
# off by default: the demo app (cpp-httplib without TCP_NODELAY) stalls ~40 ms per request on a
# reused connection (Nagle + delayed ACK), which would make the run latency-bound, not CPU-bound.
# "close": wrk sends `Connection: close`, so both legs open a connection per request.
# Usage: sudo scripts/bench/overhead.sh   (env: PAIRS=10 DURATION=5 CONNS=16 UPSTREAM_KEEPALIVE=0)
# Target (issue 6): median throughput ratio >= 0.98 for both kinds of traffic.
# shellcheck source-path=SCRIPTDIR
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

PAIRS=${PAIRS:-10}
DURATION=${DURATION:-5}
CONNS=${CONNS:-16}
UPSTREAM_KEEPALIVE=${UPSTREAM_KEEPALIVE:-0}

bench_require_root
bench_require_exe "$DRAIN_INSPECTOR" drain-inspector
bench_require_exe "$DEMO_APP" zdd-demo-app
command -v wrk >/dev/null || bench_die "wrk is missing (scripts/install-deps.sh)"
bench_helpers
bench_tmpdir

bench_header "overhead: wrk through nginx, BPF programs loaded vs not"
echo "setup:   $PAIRS pairs per traffic kind, ${DURATION}s wrk runs, 1 thread, $CONNS connections;" \
    "order alternates per pair; upstream keepalive pool $UPSTREAM_KEEPALIVE; wrk, nginx and" \
    "the app share the machine's $(nproc) cores"
# Connection churn leaves TIME_WAIT sockets; more ephemeral ports for the run.
bench_sysctl net.ipv4.ip_local_port_range "10000 65000"

app_port=$(bench_free_port)
old_port=$(bench_free_port)
ka_port=$(bench_free_port)
close_port=$(bench_free_port)
bench_app_start "$app_port" bench new "$BENCH_TMP/app.log"
# The old color: a listener holding one idle connection, which keeps the waiter waiting.
bench_spawn "$BENCH_BIN/zdd-bench-conn-farm" --port "$old_port" --connect 1 --listen --hold-s 3600 \
    >"$BENCH_TMP/old.log" 2>&1

ng=$BENCH_TMP/nginx
mkdir -p "$ng"
{
    bench_nginx_preamble "$ng"
    cat <<EOF
    upstream app_keepalive {
        server 127.0.0.1:$app_port;
        $( ((UPSTREAM_KEEPALIVE > 0)) && echo "keepalive $UPSTREAM_KEEPALIVE;")
    }
    upstream app_close { server 127.0.0.1:$app_port; }
    server {
        listen 127.0.0.1:$ka_port;
        location / {
            proxy_pass http://app_keepalive;
            $( ((UPSTREAM_KEEPALIVE > 0)) && echo 'proxy_http_version 1.1; proxy_set_header Connection "";')
        }
    }
    server {
        listen 127.0.0.1:$close_port;
        location / { proxy_pass http://app_close; }
    }
}
EOF
} >"$ng/nginx.conf"
bench_nginx_start "$ng"
bench_wait_http "http://127.0.0.1:$ka_port/health" 10 || bench_die "nginx does not reach the app"

# Requests per second of one wrk run; errors are appended to $BENCH_TMP/errors.
wrk_run() {
    local kind=$1 out rps
    if [[ $kind == keepalive ]]; then
        out=$(wrk -t1 -c"$CONNS" -d"${DURATION}s" "http://127.0.0.1:$ka_port/")
    else
        out=$(wrk -t1 -c"$CONNS" -d"${DURATION}s" -H 'Connection: close' \
            "http://127.0.0.1:$close_port/")
    fi
    rps=$(awk '/^Requests\/sec:/ { print $2 }' <<<"$out")
    grep -E 'Socket errors|Non-2xx' <<<"$out" | sed "s/^/$kind: /" >>"$BENCH_TMP/errors" || true
    echo "${rps:-0}"
}

# Starts a waiter that holds the BPF programs; returns once it has printed its first line.
bpf_load() {
    : >"$BENCH_TMP/waiter.log"
    bench_spawn "$DRAIN_INSPECTOR" wait --port "$old_port" --timeout 0 --backend bpf \
        --progress-interval 3600 >"$BENCH_TMP/waiter.log" 2>&1
    WAITER=$BENCH_LAST_PID
    for ((i = 0; i < 100; i++)); do
        grep -q Waiting "$BENCH_TMP/waiter.log" && return 0
        kill -0 "$WAITER" 2>/dev/null || bench_die "the waiter exited: $(cat "$BENCH_TMP/waiter.log")"
        sleep 0.05
    done
    bench_die "the waiter printed nothing in 5 s"
}

one() {
    local kind=$1 loaded=$2 rps
    if [[ $loaded == on ]]; then
        bpf_load
        rps=$(wrk_run "$kind")
        bench_reap "$WAITER"
    else
        rps=$(wrk_run "$kind")
    fi
    echo "$rps" >>"$BENCH_TMP/$kind.$loaded"
    echo "$rps"
}

for kind in keepalive close; do
    wrk_run "$kind" >/dev/null # warm-up, not counted
    : >"$BENCH_TMP/$kind.ratio"
    for ((p = 0; p < PAIRS; p++)); do
        if ((p % 2 == 0)); then
            off=$(one "$kind" off)
            on=$(one "$kind" on)
        else
            on=$(one "$kind" on)
            off=$(one "$kind" off)
        fi
        bench_ratio "$on" "$off" >>"$BENCH_TMP/$kind.ratio"
        bench_log "$kind pair $((p + 1))/$PAIRS: off $off req/s, on $on req/s"
    done
done

echo
for kind in keepalive close; do
    label=$kind
    [[ $kind == close ]] && label="Connection: close churn"
    echo "$label (requests/s):"
    bench_report "BPF not loaded" req/s "$BENCH_TMP/$kind.off"
    bench_report "BPF loaded (wait on the old port)" req/s "$BENCH_TMP/$kind.on"
    bench_report "ratio loaded/not loaded per pair" "" "$BENCH_TMP/$kind.ratio"
    r=$(bench_median "$BENCH_TMP/$kind.ratio")
    echo "  median ratio $r (target >= 0.98: $(bench_target "$r" '>=' 0.98))"
done
if [[ -s $BENCH_TMP/errors ]]; then
    echo "wrk reported errors:"
    sed 's/^/  /' "$BENCH_TMP/errors"
else
    echo "wrk reported no socket errors and no non-2xx answers"
fi
