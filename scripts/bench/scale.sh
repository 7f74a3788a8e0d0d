#!/usr/bin/env bash
# Scale (issue 10): one-shot `drain-inspector snapshot --port P` at 10,000, 25,000 and 50,000
# established sockets on one port, against `ss -Htni state established '( sport = :P )'` on the
# same sockets, as ratios of medians measured in this run (never pass/fail on time). Per size:
#   one-shot   snapshot --backend bpf (a whole run: BPF load, walk, output), --backend sock_diag,
#              and bpf --json, each beside ss, in rotating order
#   resident   `drain-inspector serve` started on the port (it pins a resident BPF monitor under
#              bpffs, mounting it when missing); snapshot (table and --json) then reads that
#              monitor without loading programs, beside ss again; strace checks that it did
#              (no BPF_PROG_LOAD, pinned objects opened); serve is stopped (TERM, bounded)
#   RSS        peak RSS (ru_maxrss) of every snapshot kind, and of a bpf and a sock_diag `wait`
#              that times out after 3 s holding its monitor
# At the largest size, also the empty port: `snapshot --port Q` of a port with no socket while
# the largest size's sockets stay on P, beside `ss ... sport = :Q`, one-shot and resident (serve
# watches P and Q). Load average printed at the start and the end.
#
# The sockets: PROCS zdd-bench-conn-farm processes (default 10), each a SO_REUSEPORT listener on
# 127.0.0.1:P plus SIZE/PROCS client connections from one of SOURCES source addresses
# (127.0.0.1..127.0.0.5), so no process holds more than about 2*SIZE/PROCS fds (limit 20,000).
# net.ipv4.ip_local_port_range is widened for the run and restored on exit.
#
# With zdd built (and ZDD_AT_SCALE=1, the default), last: a `zdd deploy` whose old color has the
# largest size of idle connections on its port; zdd's peak RSS and wall time through the drain.
# The farm listens there on 127.0.0.2, not on the app's 127.0.0.1: zdd counts a port whatever
# its address, and the app's own listener stays its own. (Sharing 127.0.0.1:P through
# SO_REUSEPORT, which cpp-httplib sets, let the kernel hand most of zdd's /health/deployment
# polls to a farm listener that never answers, so the drain lost the app's report.)
#
# Usage: sudo scripts/bench/scale.sh
#   env: SIZES="10000 25000 50000" TRIALS=10 PROCS=10 SOURCES=5 ZDD_AT_SCALE=1
#        (and lib.sh's BUILD_DIR, DRAIN_INSPECTOR, ZDD_BIN, DEMO_APP, BENCH_KEEP_TMP)
# Targets (issue 10), printed met / NOT met: one-shot snapshot (bpf and sock_diag) <= 1.0x ss;
# snapshot from a resident monitor <= 0.3x ss; the empty port <= 0.2x ss on that port; peak RSS
# <= 20 MB (20480 kB) for wait and for snapshot (table and --json); zdd's peak RSS through a
# drain of the largest size <= 25 MB (25600 kB). Always exits 0 once it has run.
# shellcheck source-path=SCRIPTDIR
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

SIZES=${SIZES:-"10000 25000 50000"}
TRIALS=${TRIALS:-10}
PROCS=${PROCS:-10}
SOURCES=${SOURCES:-5}

bench_require_root
bench_require_exe "$DRAIN_INSPECTOR" drain-inspector
bench_helpers
bench_tmpdir
((PROCS >= 6)) || bench_die "PROCS must be at least 6"
((SOURCES >= 2 && SOURCES <= 250)) || bench_die "SOURCES must be 2..250"

bench_header "scale: drain-inspector snapshot vs ss -Htni on one port"
echo "setup:   sizes $SIZES; $TRIALS alternating runs of each command per size; $PROCS farm" \
    "processes, $SOURCES source addresses"
bench_sysctl net.ipv4.ip_local_port_range "10000 65000"

established() { ss -Htn state established "( sport = :$1 )" | wc -l; }

# Starts the farm for SIZE sockets on PORT; returns once ss counts them all (bounded).
farm_up() {
    local size=$1 port=$2 i deadline
    farm_start "$size" "$port"
    deadline=$((SECONDS + 180))
    while (($(established "$port") < size)); do
        for i in "${FARM_PIDS[@]}"; do
            kill -0 "$i" 2>/dev/null ||
                bench_die "a farm process exited early: $(cat "$BENCH_TMP"/farm."$size"."$port".*.out)"
        done
        ((SECONDS < deadline)) || bench_die "only $(established "$port") of $size sockets after 180 s"
        sleep 0.5
    done
}

# Starts PROCS farm processes for SIZE connections to PORT on DEST (default 127.0.0.1),
# listening there too.
farm_start() {
    local size=$1 port=$2 dest=${3:-127.0.0.1} i per=$(($1 / PROCS)) extra=$(($1 % PROCS)) n
    FARM_PIDS=()
    for ((i = 0; i < PROCS; i++)); do
        n=$((per + (i < extra ? 1 : 0)))
        bench_spawn "$BENCH_BIN/zdd-bench-conn-farm" --port "$port" --dest "$dest" --connect "$n" \
            --listen --source "127.0.0.$((i % SOURCES + 1))" --delay-ms 1000 --hold-s 900 \
            >"$BENCH_TMP/farm.$size.$port.$i.out" 2>&1
        FARM_PIDS+=("$BENCH_LAST_PID")
    done
}

farm_down() {
    local pid
    for pid in "${FARM_PIDS[@]}"; do bench_reap "$pid"; done
}

# Runs a command through zdd-bench-exec-stats; appends wall ms to FILE.ms and RSS kB to FILE.kb.
timed() {
    local file=$1 out
    shift
    out=$("$BENCH_BIN/zdd-bench-exec-stats" --timeout-s 120 -- "$@") ||
        bench_die "timing $* failed: $out"
    [[ $out == *" rc=0" ]] || bench_die "$* exited non-zero: $out"
    awk -v f="$file" '{ for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] } }
         END { print v["wall_ms"] >> (f ".ms"); print v["maxrss_kb"] >> (f ".kb") }' <<<"$out"
}

# The command called NAME, on PORT (P) or QPORT (the empty port Q), into the array `cmd`.
cmd_of() {
    local name=$1 p=$2 q=$3
    case $name in
        ss) cmd=(ss -Htni state established "( sport = :$p )") ;;
        bpf | resident) cmd=("$DRAIN_INSPECTOR" snapshot --port "$p" --backend bpf) ;;
        bpf_json | resident_json) cmd=("$DRAIN_INSPECTOR" snapshot --port "$p" --backend bpf --json) ;;
        sock_diag) cmd=("$DRAIN_INSPECTOR" snapshot --port "$p" --backend sock_diag) ;;
        sock_diag_json) cmd=("$DRAIN_INSPECTOR" snapshot --port "$p" --backend sock_diag --json) ;;
        ss_empty) cmd=(ss -Htni state established "( sport = :$q )") ;;
        bpf_empty | resident_empty) cmd=("$DRAIN_INSPECTOR" snapshot --port "$q" --backend bpf) ;;
        sock_diag_empty) cmd=("$DRAIN_INSPECTOR" snapshot --port "$q" --backend sock_diag) ;;
        *) bench_die "unknown command $name" ;;
    esac
}

# TRIALS rounds of the commands NAMES (one each per round, the order rotating so none always
# runs right after another), into files PREFIX.NAME.{ms,kb}.
rounds() {
    local prefix=$1 p=$2 q=$3 t k name
    shift 3
    local names=("$@")
    for ((t = 0; t < TRIALS; t++)); do
        for ((k = 0; k < ${#names[@]}; k++)); do
            name=${names[(t + k) % ${#names[@]}]}
            cmd_of "$name" "$p" "$q"
            timed "$prefix.$name" "${cmd[@]}"
        done
    done
}

# "RATIO x (target <= T: met)" of NAME's median time over BASE's, from PREFIX.
vs() {
    local prefix=$1 name=$2 base=$3 t=$4 ratio
    ratio=$(bench_ratio "$(bench_median "$prefix.$name.ms")" "$(bench_median "$prefix.$base.ms")")
    echo "${ratio}x (target <= $t: $(bench_target "$ratio" '<=' "$t"))"
}

# "KB kB (target <= T kB: met)": the largest peak RSS in FILE.
rss_vs() {
    local kb
    kb=$(sort -n "$1" | tail -1)
    echo "$kb kB (target <= $2 kB: $(bench_target "$kb" '<=' "$2"))"
}

# The established count and listed sockets that `snapshot --json` of PORT reports.
snapshot_sees() {
    "$DRAIN_INSPECTOR" snapshot --port "$1" --backend bpf --json |
        python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["ports"][0]["established"], len(d["sockets"]), d["incomplete"])'
}

# Whether one `snapshot --port PORT` read the resident monitor: with strace, it made no
# BPF_PROG_LOAD and opened pinned objects (BPF_OBJ_GET). Sets RESIDENT_CHECK (a sentence) and
# returns 0 when the resident path was used.
resident_used() {
    local port=$1 log=$BENCH_TMP/strace.$1 loads gets
    if ! command -v strace >/dev/null; then
        RESIDENT_CHECK="not verified (strace not installed)"
        return 1
    fi
    strace -f -e trace=bpf -o "$log" "$DRAIN_INSPECTOR" snapshot --port "$port" --backend bpf \
        >/dev/null || bench_die "snapshot under strace failed (log $log)"
    loads=$(grep -c BPF_PROG_LOAD "$log" || true)
    gets=$(grep -c BPF_OBJ_GET "$log" || true)
    if ((loads == 0 && gets > 0)); then
        RESIDENT_CHECK="used (strace: 0 BPF_PROG_LOAD, $gets BPF_OBJ_GET of pinned objects)"
        return 0
    fi
    RESIDENT_CHECK="NOT used (strace: $loads BPF_PROG_LOAD, $gets BPF_OBJ_GET)"
    return 1
}

# Starts `drain-inspector serve` watching PORTS; returns once it has pinned its monitor and
# answered one scrape (which watches and seeds the ports). Sets SERVE_PID.
serve_start() {
    local listen port_args=() p
    for p in "$@"; do port_args+=(--port "$p"); done
    listen=127.0.0.1:$(bench_free_port)
    bench_spawn "$DRAIN_INSPECTOR" serve --listen "$listen" --backend bpf "${port_args[@]}" \
        >>"$BENCH_TMP/serve.log" 2>&1
    SERVE_PID=$BENCH_LAST_PID
    bench_wait_http "http://$listen/metrics" 60 ||
        bench_die "drain-inspector serve did not answer on $listen: $(tail -3 "$BENCH_TMP/serve.log")"
    [[ -d $PIN_DIR ]] || bench_die "serve answers but pinned nothing in $PIN_DIR: $(tail -3 "$BENCH_TMP/serve.log")"
}

# SIGTERM to serve, up to 10 s for its exit (then SIGKILL); reaped. Sets SERVE_STOP.
serve_stop() {
    local i rc
    kill -TERM "$SERVE_PID" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do
        kill -0 "$SERVE_PID" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$SERVE_PID" 2>/dev/null; then
        SERVE_STOP="did not exit within 10 s of SIGTERM: killed"
        kill -KILL "$SERVE_PID" 2>/dev/null || true
    fi
    rc=0
    wait "$SERVE_PID" 2>/dev/null || rc=$?
    bench_reap "$SERVE_PID"
    SERVE_STOP=${SERVE_STOP:-"exited $rc on SIGTERM after $((i * 100)) ms"}
    if [[ -d $PIN_DIR ]]; then SERVE_STOP+="; its pins are still in $PIN_DIR"; else SERVE_STOP+="; pins removed"; fi
}

RSS_MAX_KB=20480  # 20 MB
ZDD_RSS_MAX_KB=25600 # 25 MB
PIN_DIR=/sys/fs/bpf/zdd/net-$(stat -L -c %i /proc/self/ns/net)
# A one-shot snapshot removes a dead owner's pins; a live resident monitor would answer the
# one-shot rounds instead of the programs they are meant to load.
"$DRAIN_INSPECTOR" snapshot --port "$(bench_free_port)" --backend bpf >/dev/null
[[ -e $PIN_DIR ]] && bench_die "a monitor is already resident in $PIN_DIR (a serve or a deploy" \
    "running?): the one-shot figures would read it"

read -r -a sizes <<<"$SIZES"
SUMMARY=()
for size in "${sizes[@]}"; do
    port=$(bench_free_port)
    largest=0
    qport=0
    oneshot=(ss bpf sock_diag bpf_json sock_diag_json)
    resident=(ss resident resident_json)
    if [[ $size == "${sizes[-1]}" ]]; then
        largest=1
        qport=$(bench_free_port)
        [[ $qport == "$port" ]] && qport=$(bench_free_port)
        oneshot+=(ss_empty bpf_empty sock_diag_empty)
        resident+=(ss_empty resident_empty)
    fi
    bench_log "size $size: starting $PROCS farm processes on port $port"
    farm_up "$size" "$port"
    f=$BENCH_TMP/s$size
    # What each tool sees, once, so the timings are known to cover the same sockets.
    seen_ss=$(ss -Htni state established "( sport = :$port )" | grep -c "127.0.0.1:$port")
    seen_di=$(snapshot_sees "$port")
    bench_log "size $size: one-shot rounds (load $(cut -d' ' -f1-3 /proc/loadavg))"
    rounds "$f.one" "$port" "$qport" "${oneshot[@]}"
    # A waiter holding its monitor for 3 s over every socket (it times out: exit 1).
    for b in bpf sock_diag; do
        out=$("$BENCH_BIN/zdd-bench-exec-stats" --timeout-s 60 -- "$DRAIN_INSPECTOR" wait \
            --port "$port" --backend "$b" --timeout 3) || bench_die "wait --backend $b: $out"
        [[ $out == *" rc=1" ]] || bench_log "size $size: wait --backend $b did not time out: $out"
        rss=${out#*maxrss_kb=}
        echo "${rss%% *}" >>"$f.wait_$b.kb"
    done

    if ((largest)); then
        bench_log "size $size: resident rounds (serve watching ports $port and $qport)"
        serve_start "$port" "$qport"
    else
        bench_log "size $size: resident rounds (serve watching port $port)"
        serve_start "$port"
    fi
    resident_used "$port" && resident_ok=1 || resident_ok=0
    seen_res=$(snapshot_sees "$port")
    rounds "$f.res" "$port" "$qport" "${resident[@]}"
    # Still read from the resident monitor after the rounds (it could have gone stale).
    resident_used "$port" || resident_ok=0
    resident_check=$RESIDENT_CHECK
    SERVE_STOP=
    serve_stop

    echo
    echo "size $size (ss sees $seen_ss sockets; drain-inspector established/listed/incomplete:" \
        "one-shot $seen_di, resident $seen_res):"
    echo " one-shot:"
    bench_report "ss -Htni" ms "$f.one.ss.ms"
    bench_report "snapshot (bpf)" ms "$f.one.bpf.ms"
    bench_report "snapshot (sock_diag)" ms "$f.one.sock_diag.ms"
    bench_report "snapshot --json (bpf)" ms "$f.one.bpf_json.ms"
    bench_report "snapshot --json (sock_diag)" ms "$f.one.sock_diag_json.ms"
    echo " with serve resident (resident path: $resident_check; serve $SERVE_STOP):"
    bench_report "ss -Htni" ms "$f.res.ss.ms"
    bench_report "snapshot (resident)" ms "$f.res.resident.ms"
    bench_report "snapshot --json (resident)" ms "$f.res.resident_json.ms"
    SUMMARY+=("$size sockets on the port:"
        "  snapshot bpf / ss           $(vs "$f.one" bpf ss 1.0)"
        "  snapshot sock_diag / ss     $(vs "$f.one" sock_diag ss 1.0)"
        "  snapshot resident / ss      $(vs "$f.res" resident ss 0.3)$( ((resident_ok)) || echo "  [resident path not confirmed: $resident_check]")")
    if ((largest)); then
        echo " the empty port $qport ($size sockets on port $port), one-shot:"
        bench_report "ss -Htni" ms "$f.one.ss_empty.ms"
        bench_report "snapshot (bpf)" ms "$f.one.bpf_empty.ms"
        bench_report "snapshot (sock_diag)" ms "$f.one.sock_diag_empty.ms"
        echo " the empty port, resident (serve watching both ports):"
        bench_report "ss -Htni" ms "$f.res.ss_empty.ms"
        bench_report "snapshot (resident)" ms "$f.res.resident_empty.ms"
        SUMMARY+=("empty port, $size sockets elsewhere on the host:"
            "  snapshot bpf / ss           $(vs "$f.one" bpf_empty ss_empty 0.2)"
            "  snapshot sock_diag / ss     $(vs "$f.one" sock_diag_empty ss_empty 0.2)"
            "  snapshot resident / ss      $(vs "$f.res" resident_empty ss_empty 0.2)")
    fi
    echo " peak RSS (kB, largest over the runs):"
    SUMMARY+=("peak RSS at $size sockets (largest over the runs):")
    for k in one.ss one.bpf one.bpf_json one.sock_diag one.sock_diag_json res.resident \
        res.resident_json wait_bpf wait_sock_diag; do
        case $k in
            one.ss) label="ss -Htni" ;;
            one.*_json) label="snapshot --json (${k:4:-5})" ;;
            one.*) label="snapshot (${k#one.})" ;;
            res.resident) label="snapshot (resident)" ;;
            res.resident_json) label="snapshot --json (resident)" ;;
            wait_*) label="wait 3 s (${k#wait_})" ;;
        esac
        printf '  %-38s %s\n' "$label" "$(sort -n "$f.$k.kb" | tail -1)"
        [[ $k == one.ss ]] || SUMMARY+=("$(printf '  %-28s %s' "$label" "$(rss_vs "$f.$k.kb" "$RSS_MAX_KB")")")
    done
    farm_down
done

echo
echo "growth (median ms; per 10k sockets; time ratio vs size ratio from the smallest size):"
s0=${sizes[0]}
for size in "${sizes[@]}"; do
    f=$BENCH_TMP/s$size
    printf '  %6d sockets (size x%s):' "$size" "$(bench_ratio "$size" "$s0")"
    for k in one.ss one.bpf one.sock_diag res.resident; do
        m=$(bench_median "$f.$k.ms")
        printf '  %s %.3f (%.3f/10k, x%s)' "${k#*.}" "$m" "$(awk -v t="$m" -v n="$size" 'BEGIN{print t*10000/n}')" \
            "$(bench_ratio "$m" "$(bench_median "$BENCH_TMP/s$s0.$k.ms")")"
    done
    echo
done

zdd_at_scale() {
    bench_require_exe "$DEMO_APP" zdd-demo-app
    local size=${sizes[-1]} n out deadline rss
    echo
    echo "zdd deploy with about $size idle connections on the old color's port:"
    export SPDLOG_LEVEL=warn
    bench_zdd_setup
    "$ZDD_BIN" deploy "${ZDD_FLAGS[@]}" "$DEMO_APP" >>"$BENCH_TMP/zdd.log" 2>&1 ||
        bench_die "first zdd deploy failed: $(tail -5 "$BENCH_TMP/zdd.log")"
    # The farm on 127.0.0.2, the app's port: the app (127.0.0.1) gets none of its connections.
    farm_start "$size" "$ZDD_BLUE" 127.0.0.2
    deadline=$((SECONDS + 180))
    while (($(cat "$BENCH_TMP"/farm."$size"."$ZDD_BLUE".*.out 2>/dev/null | grep -c '^connected') < PROCS)); do
        ((SECONDS < deadline)) || bench_die "the farm did not connect within 180 s"
        sleep 0.5
    done
    n=$(established "$ZDD_BLUE")
    bench_log "zdd at scale: $n established sockets on the old port $ZDD_BLUE; deploying green"
    # idle-after 2 s: the farm's never-used sockets turn idle sooner; with the app reporting 0
    # streams and 0 requests, idle sockets do not hold the drain.
    out=$("$BENCH_BIN/zdd-bench-exec-stats" --timeout-s 300 --out "$BENCH_TMP/zdd.log" -- \
        "$ZDD_BIN" deploy "${ZDD_FLAGS[@]}" --idle-after 2 "$DEMO_APP")
    echo "  $n established sockets on the old port during the drain"
    echo "  zdd deploy: $out   (peak RSS in kB; rc 0 = drained, 3 = drain cut by the timeout)"
    grep -E 'Waiting|drained|Step 5' "$BENCH_TMP/zdd.log" | tail -3 | sed 's/^/  zdd: /'
    farm_down
    rss=${out#*maxrss_kb=}
    rss=${rss%% *}
    SUMMARY+=("zdd deploy draining $n connections (peak RSS of the whole deploy):"
        "  $(printf '%-28s %s' "zdd" "$rss kB (target <= $ZDD_RSS_MAX_KB kB: $(bench_target "$rss" '<=' "$ZDD_RSS_MAX_KB"))")")
}

if [[ ${ZDD_AT_SCALE:-1} != 1 ]]; then
    SUMMARY+=("zdd at scale: not run (ZDD_AT_SCALE=${ZDD_AT_SCALE})")
elif [[ ! -x $ZDD_BIN ]]; then
    SUMMARY+=("zdd at scale: not run (no zdd at $ZDD_BIN)")
else
    zdd_at_scale
fi

echo
echo "summary (issue 10 targets; ratios of medians measured in this run):"
printf '%s\n' "${SUMMARY[@]}"
echo "load at the end: $(cut -d' ' -f1-3 /proc/loadavg) (1/5/15 min)"
