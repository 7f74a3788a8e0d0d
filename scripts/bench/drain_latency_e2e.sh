#!/usr/bin/env bash
# Drain detection latency end to end (issue 6): a deploy while one SSE stream runs through nginx
# on the old color; the time from the stream's end (the last close: curl sees the end of the
# stream, then the old app's connection closes) to the old instance being signalled.
#   zdd:      `zdd deploy`; the signal time is the `stopping` phase's timestamp in state.json
#             (zdd enters it right before SIGTERM to the old instance).
#   baseline: the seed's way, a shell deploy whose drain loop runs `ss` every second on the old
#             port and then sends SIGTERM (the time is taken right before the kill).
# Trials alternate between the two, each on its own nginx, 127.0.0.1 only.
#
# Usage: sudo scripts/bench/drain_latency_e2e.sh     (env: TRIALS=10 STREAM_S=4)
# shellcheck source-path=SCRIPTDIR
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

TRIALS=${TRIALS:-10}
STREAM_S=${STREAM_S:-5}

bench_require_root
bench_require_exe "$ZDD_BIN" zdd
bench_require_exe "$DEMO_APP" zdd-demo-app
bench_helpers
bench_tmpdir

bench_header "drain detection latency end to end: stream ends -> old instance signalled"
echo "setup:   $TRIALS deploys each for zdd and the shell baseline (ss every 1 s), alternating;" \
    "one ${STREAM_S}s SSE stream (an event every 200 ms) through nginx per deploy"

export SPDLOG_LEVEL=warn TZ=UTC
bench_zdd_setup
bench_bare_setup
state=$ZDD_DIR/state/state.json
"$ZDD_BIN" deploy "${ZDD_FLAGS[@]}" "$DEMO_APP" >>"$BENCH_TMP/zdd.log" 2>&1 ||
    bench_die "first zdd deploy failed: $(tail -5 "$BENCH_TMP/zdd.log")"

# Opens the stream through nginx on NGINX_PORT; returns once its first event arrived. The
# subshell writes the time the stream ended (curl's exit) to $BENCH_TMP/stream.end.
stream_start() {
    local port=$1 i
    rm -f "$BENCH_TMP/stream.out" "$BENCH_TMP/stream.end"
    (
        curl -sN --max-time $((STREAM_S + 60)) -o "$BENCH_TMP/stream.out" \
            "http://127.0.0.1:$port/stream/test?duration=$STREAM_S&interval_ms=200"
        echo "$EPOCHREALTIME" >"$BENCH_TMP/stream.end"
    ) &
    STREAM_PID=$!
    BENCH_PIDS+=("$STREAM_PID")
    for ((i = 0; i < 100; i++)); do
        grep -q '^data:' "$BENCH_TMP/stream.out" 2>/dev/null && return 0
        sleep 0.05
    done
    bench_die "the stream through nginx on port $port sent nothing in 5 s"
}

# A random 0-1 s pause before the deploy, so the stream's end falls at a random phase of the
# baseline's 1 s poll (the same pause for zdd, so both trials look alike).
jitter() { sleep "$(awk -v r="$RANDOM" 'BEGIN { printf "%.3f", r / 32768 }')"; }

# The stream must have run to its end (its "event: done") for the trial to count.
stream_end() {
    wait "$STREAM_PID" || true
    grep -q '^event: done' "$BENCH_TMP/stream.out" || {
        bench_log "stream did not end with done: $(tail -c 200 "$BENCH_TMP/stream.out")"
        return 1
    }
    cat "$BENCH_TMP/stream.end"
}

: >"$BENCH_TMP/zdd.ms"
: >"$BENCH_TMP/ss.ms"
invalid=0
one_zdd() {
    local end p t drain="" stop=""
    stream_start "$ZDD_NGINX_PORT"
    jitter
    "$ZDD_BIN" deploy "${ZDD_FLAGS[@]}" "$DEMO_APP" >>"$BENCH_TMP/zdd.log" 2>&1 ||
        bench_die "zdd deploy failed: $(tail -5 "$BENCH_TMP/zdd.log")"
    end=$(stream_end) || {
        invalid=$((invalid + 1))
        return 0
    }
    while read -r p t; do
        [[ $p == draining ]] && drain=$t
        [[ $p == stopping ]] && stop=$t
    done < <(bench_zdd_phases "$state")
    if [[ -z $stop || -z $drain ]] || awk -v d="$drain" -v e="$end" 'BEGIN { exit !(d > e) }'; then
        bench_log "zdd trial invalid: the drain began after the stream ended (raise STREAM_S)"
        invalid=$((invalid + 1))
        return 0
    fi
    bench_ms "$end" "$stop" >>"$BENCH_TMP/zdd.ms"
}
one_ss() {
    local end
    stream_start "$BARE_NGINX_PORT"
    jitter
    bench_bare_deploy ss
    end=$(stream_end) || {
        invalid=$((invalid + 1))
        return 0
    }
    if awk -v d="$BARE_DRAIN0" -v e="$end" 'BEGIN { exit !(d > e) }'; then
        bench_log "baseline trial invalid: the drain began after the stream ended (raise STREAM_S)"
        invalid=$((invalid + 1))
        return 0
    fi
    bench_ms "$end" "$BARE_SIGNAL" >>"$BENCH_TMP/ss.ms"
}

for ((t = 0; t < TRIALS; t++)); do
    if ((t % 2 == 0)); then
        one_zdd
        one_ss
    else
        one_ss
        one_zdd
    fi
    bench_log "trial $((t + 1))/$TRIALS: zdd $(tail -1 "$BENCH_TMP/zdd.ms") ms, ss loop $(tail -1 "$BENCH_TMP/ss.ms") ms"
done

echo
echo "stream end -> old instance signalled (ms):"
bench_report "shell deploy, ss every 1 s" ms "$BENCH_TMP/ss.ms"
bench_report "zdd deploy (drain gate)" ms "$BENCH_TMP/zdd.ms"
zm=$(bench_median "$BENCH_TMP/zdd.ms")
sm=$(bench_median "$BENCH_TMP/ss.ms")
echo "  zdd / ss loop (medians) = $(bench_ratio "$zm" "$sm")   ($(bench_ratio "$sm" "$zm")x sooner)"
echo "  invalid trials (stream cut or ended before the drain began): $invalid"
