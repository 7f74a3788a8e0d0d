#!/usr/bin/env bash
# Drain detection latency (issue 3): the time from the last close on a port to the waiter
# exiting, for `drain-inspector wait` (BPF backend, and sock_diag for reference) beside the
# original script's way, a shell loop that polls `ss` every second. Trials alternate between
# the waiters (the order rotates each round), 127.0.0.1 only.
#
# Each trial: zdd-bench-close-probe holds CONNS connections (each with one request/answer) on a
# free port, starts the waiter, sleeps 1 s + a random 0-1 s (so the close lands at a random
# phase of the poll loop), closes all but one, waits 300 ms, closes the last (server side first)
# and times the waiter's exit from a pidfd, both instants on CLOCK_MONOTONIC.
#
# Usage: sudo scripts/bench/drain_latency.sh        (env: TRIALS=50 CONNS=8 BUILD_DIR=...)
# Target (issue 3): drain-inspector's median under 10 ms.
# shellcheck source-path=SCRIPTDIR
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

TRIALS=${TRIALS:-50}
CONNS=${CONNS:-8}
WAITERS=${WAITERS:-"ss_poll_1s bpf sock_diag"}

bench_require_root
bench_require_exe "$DRAIN_INSPECTOR" drain-inspector
bench_helpers
bench_tmpdir

bench_header "drain detection latency: last close -> waiter exits"
echo "setup:   $TRIALS trials per waiter, $CONNS connections each, alternating; waiters: $WAITERS"

port=$(bench_free_port)
# The original script's drain loop: count ESTABLISHED sockets on the port every second.
ss_loop="while [ \"\$(ss -Htn state established '( sport = :$port )' | wc -l)\" -gt 0 ]; do sleep 1; done"

read -r -a waiters <<<"$WAITERS"
for w in "${waiters[@]}"; do : >"$BENCH_TMP/$w.ms"; done
failures=0
for ((t = 0; t < TRIALS; t++)); do
    for ((k = 0; k < ${#waiters[@]}; k++)); do
        w=${waiters[(t + k) % ${#waiters[@]}]}
        if [[ $w == ss_poll_1s ]]; then
            cmd=(bash -c "$ss_loop")
        else
            cmd=("$DRAIN_INSPECTOR" wait --port "$port" --timeout 30 --backend "$w")
        fi
        if out=$("$BENCH_BIN/zdd-bench-close-probe" --port "$port" --conns "$CONNS" \
            --settle-ms 1000 --jitter-ms 1000 --gap-ms 300 --timeout-s 10 \
            --log "$BENCH_TMP/$w.log" -- "${cmd[@]}") && [[ $out == *waiter_rc=0* ]]; then
            ms=${out#latency_ms=}
            echo "${ms%% *}" >>"$BENCH_TMP/$w.ms"
        else
            failures=$((failures + 1))
            bench_log "trial $t ($w) failed: ${out:-no output} (log $BENCH_TMP/$w.log)"
        fi
    done
    (((t + 1) % 10 == 0)) && bench_log "$((t + 1))/$TRIALS rounds"
done

echo
echo "latency from the last close to the waiter's exit (ms):"
for w in "${waiters[@]}"; do bench_report "$w" ms "$BENCH_TMP/$w.ms"; done
echo
base=$(bench_median "$BENCH_TMP/ss_poll_1s.ms" 2>/dev/null || echo nan)
for w in "${waiters[@]}"; do
    [[ $w == ss_poll_1s ]] && continue
    m=$(bench_median "$BENCH_TMP/$w.ms")
    printf '  %-10s median / ss loop median = %s   (%sx sooner)\n' "$w" \
        "$(bench_ratio "$m" "$base")" "$(bench_ratio "$base" "$m")"
done
m=$(bench_median "$BENCH_TMP/bpf.ms" 2>/dev/null || echo nan)
echo "  target: drain-inspector (bpf) median < 10 ms: $(bench_target "$m" '<' 10)"
echo "  failed trials: $failures"
