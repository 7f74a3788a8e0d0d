#!/usr/bin/env bash
# Scale (issue 6): 10,000, 25,000 and 50,000 established sockets on one port; the time of
# `drain-inspector snapshot --port P` (a whole run: BPF load, iterator walk, output) beside
# `ss -Htni state established '( sport = :P )'` on the same sockets, alternating; the ratio per
# size and how each grows. Then the peak RSS of drain-inspector (snapshot, and a `wait` that
# times out holding the BPF programs) at the largest size.
#
# The sockets: PROCS zdd-bench-conn-farm processes (default 10), each a SO_REUSEPORT listener on
# 127.0.0.1:P plus SIZE/PROCS client connections from one of SOURCES source addresses
# (127.0.0.1..127.0.0.5), so no process holds more than about 2*SIZE/PROCS fds (limit 20,000).
# net.ipv4.ip_local_port_range is widened for the run and restored on exit.
#
# With zdd built (and ZDD_AT_SCALE=1, the default), last: a `zdd deploy` whose old color has the
# largest size of idle connections on its port (farm listeners share the port with the demo app
# through SO_REUSEPORT, which cpp-httplib sets); zdd's peak RSS and wall time through the drain.
#
# Usage: sudo scripts/bench/scale.sh     (env: SIZES="10000 25000 50000" TRIALS=10 PROCS=10)
# Targets (issue 6): snapshot time at most half of ss -Htni's; linear growth.
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

# Starts PROCS farm processes for SIZE connections to PORT (listening there too).
farm_start() {
    local size=$1 port=$2 i per=$(($1 / PROCS)) extra=$(($1 % PROCS)) n
    FARM_PIDS=()
    for ((i = 0; i < PROCS; i++)); do
        n=$((per + (i < extra ? 1 : 0)))
        bench_spawn "$BENCH_BIN/zdd-bench-conn-farm" --port "$port" --connect "$n" --listen \
            --source "127.0.0.$((i % SOURCES + 1))" --delay-ms 1000 --hold-s 900 \
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
    awk '{ for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] } }
         END { print v["wall_ms"] > "'"$file.ms"'"; print v["maxrss_kb"] > "'"$file.kb"'" }' \
        <<<"$out"
    cat "$file.ms" >>"$file.all.ms"
    cat "$file.kb" >>"$file.all.kb"
}

read -r -a sizes <<<"$SIZES"
declare -A med_ss med_di med_sd
for size in "${sizes[@]}"; do
    port=$(bench_free_port)
    bench_log "size $size: starting $PROCS farm processes on port $port"
    farm_up "$size" "$port"
    # What each tool sees, once, so the timings are known to cover the same sockets.
    seen_ss=$(ss -Htni state established "( sport = :$port )" | grep -c "127.0.0.1:$port")
    seen_di=$("$DRAIN_INSPECTOR" snapshot --port "$port" --backend bpf --json |
        python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["ports"][0]["established"], len(d["sockets"]), d["incomplete"])')
    bench_log "size $size: ss sees $seen_ss; drain-inspector (established, sockets listed, incomplete): $seen_di"
    f=$BENCH_TMP/s$size
    for ((t = 0; t < TRIALS; t++)); do
        # Order rotates so neither command always runs right after the other.
        if ((t % 2 == 0)); then
            timed "$f.ss" ss -Htni state established "( sport = :$port )"
            timed "$f.di" "$DRAIN_INSPECTOR" snapshot --port "$port" --backend bpf
        else
            timed "$f.di" "$DRAIN_INSPECTOR" snapshot --port "$port" --backend bpf
            timed "$f.ss" ss -Htni state established "( sport = :$port )"
        fi
        timed "$f.sd" "$DRAIN_INSPECTOR" snapshot --port "$port" --backend sock_diag
    done
    med_ss[$size]=$(bench_median "$f.ss.all.ms")
    med_di[$size]=$(bench_median "$f.di.all.ms")
    med_sd[$size]=$(bench_median "$f.sd.all.ms")
    echo
    echo "size $size (ss sees $seen_ss sockets; drain-inspector: established/listed/incomplete = $seen_di):"
    bench_report "ss -Htni" ms "$f.ss.all.ms"
    bench_report "drain-inspector snapshot (bpf)" ms "$f.di.all.ms"
    bench_report "drain-inspector snapshot (sock_diag)" ms "$f.sd.all.ms"
    echo "  ratio bpf/ss = $(bench_ratio "${med_di[$size]}" "${med_ss[$size]}")" \
        "(target <= 0.5: $(bench_target "$(bench_ratio "${med_di[$size]}" "${med_ss[$size]}")" '<=' 0.5));" \
        "sock_diag/ss = $(bench_ratio "${med_sd[$size]}" "${med_ss[$size]}")"
    if [[ $size == "${sizes[-1]}" ]]; then
        echo "  peak RSS at $size sockets (kB, max over runs):"
        echo "    ss -Htni:                         $(sort -n "$f.ss.all.kb" | tail -1)"
        echo "    drain-inspector snapshot (bpf):   $(sort -n "$f.di.all.kb" | tail -1)"
        echo "    drain-inspector snapshot (sock_diag): $(sort -n "$f.sd.all.kb" | tail -1)"
        # A waiter holding the programs for 3 s over every socket (it times out: exit 1).
        out=$("$BENCH_BIN/zdd-bench-exec-stats" --timeout-s 60 -- "$DRAIN_INSPECTOR" wait \
            --port "$port" --backend bpf --timeout 3)
        rss=${out#*maxrss_kb=}
        echo "    drain-inspector wait (bpf, 3 s):  ${rss%% *} ($out)"
        if [[ -x $ZDD_BIN ]]; then
            echo "    zdd: see deploy_overhead.sh / docs/benchmarks.md (needs a deploy to drain)"
        fi
    fi
    farm_down
done

echo
echo "growth (median ms; per 10k sockets; time ratio vs size ratio from the smallest size):"
s0=${sizes[0]}
for size in "${sizes[@]}"; do
    printf '  %6d sockets: ss %9.3f ms (%7.3f/10k, x%s)   bpf %9.3f ms (%7.3f/10k, x%s)   size x%s\n' \
        "$size" "${med_ss[$size]}" "$(awk -v t="${med_ss[$size]}" -v n="$size" 'BEGIN{print t*10000/n}')" \
        "$(bench_ratio "${med_ss[$size]}" "${med_ss[$s0]}")" \
        "${med_di[$size]}" "$(awk -v t="${med_di[$size]}" -v n="$size" 'BEGIN{print t*10000/n}')" \
        "$(bench_ratio "${med_di[$size]}" "${med_di[$s0]}")" "$(bench_ratio "$size" "$s0")"
done

[[ -x $ZDD_BIN && ${ZDD_AT_SCALE:-1} == 1 ]] || exit 0
bench_require_exe "$DEMO_APP" zdd-demo-app
size=${sizes[-1]}
echo
echo "zdd deploy with about $size idle connections on the old color's port:"
export SPDLOG_LEVEL=warn
bench_zdd_setup
# The app takes a share of the farm's connections through SO_REUSEPORT; 64 threads keep it small
# (beyond them it answers 503 and closes, so the port ends up with somewhat fewer than SIZE).
"$ZDD_BIN" deploy "${ZDD_FLAGS[@]}" "$DEMO_APP" -- --max-connections 64 >>"$BENCH_TMP/zdd.log" 2>&1 ||
    bench_die "first zdd deploy failed: $(tail -5 "$BENCH_TMP/zdd.log")"
farm_start "$size" "$ZDD_BLUE"
deadline=$((SECONDS + 180))
while (($(cat "$BENCH_TMP"/farm."$size"."$ZDD_BLUE".*.out 2>/dev/null | grep -c '^connected') < PROCS)); do
    ((SECONDS < deadline)) || bench_die "the farm did not connect within 180 s"
    sleep 0.5
done
sleep 6 # the app closes its share after its read timeout (5 s); what stays is the farm's
n=$(established "$ZDD_BLUE")
bench_log "zdd at scale: $n established sockets on the old port $ZDD_BLUE; deploying green"
# idle-after 2 s: the farm's never-used sockets turn idle sooner; with the app reporting 0
# streams and 0 requests, idle sockets do not hold the drain.
out=$("$BENCH_BIN/zdd-bench-exec-stats" --timeout-s 300 --out "$BENCH_TMP/zdd.log" -- \
    "$ZDD_BIN" deploy "${ZDD_FLAGS[@]}" --idle-after 2 "$DEMO_APP" -- --max-connections 64)
echo "  $n established sockets on the old port during the drain"
echo "  zdd deploy: $out   (peak RSS in kB; rc 0 = drained, 3 = drain cut by the timeout)"
grep -E 'Waiting|drained|Step 5' "$BENCH_TMP/zdd.log" | tail -3 | sed 's/^/  zdd: /'
farm_down
