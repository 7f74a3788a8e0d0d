#!/usr/bin/env bash
# Stream handoff (issue 12): drain time and events delivered for STREAMS resuming SSE clients of
# STREAM_S-second streams through nginx, across one `zdd deploy` without --handoff and one with
# it. The clients are the demo app's resuming client (Last-Event-ID, as EventSource does): every
# client must receive every id exactly once, in order, then `done`.
#   drain time: from the `draining` phase to the `stopping` phase of the deploy (state.json).
#   events:     delivered in total, as the client tool counts them, against STREAMS x events.
#
# Usage: sudo scripts/bench/handoff.sh     (env: STREAMS=200 STREAM_S=60 INTERVAL_MS=500)
# shellcheck source-path=SCRIPTDIR
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

STREAMS=${STREAMS:-200}
STREAM_S=${STREAM_S:-60}
INTERVAL_MS=${INTERVAL_MS:-500}
SSE_RESUME=${SSE_RESUME:-$BUILD_DIR/tests/demo_app/zdd-demo-sse-resume}

bench_require_root
bench_require_exe "$ZDD_BIN" zdd
bench_require_exe "$DEMO_APP" zdd-demo-app
bench_require_exe "$SSE_RESUME" zdd-demo-sse-resume
bench_tmpdir

bench_header "stream handoff: drain time and events delivered, with and without --handoff"
echo "setup:   $STREAMS resuming SSE clients, ${STREAM_S}s streams (an event every" \
    "${INTERVAL_MS} ms) through nginx; one zdd deploy without --handoff, then one with it"

export SPDLOG_LEVEL=warn TZ=UTC
bench_zdd_setup
# Without handoff the drain lasts the streams' length: the timeout must not cut it.
for i in "${!ZDD_FLAGS[@]}"; do
    [[ ${ZDD_FLAGS[i]} == --drain-timeout ]] && ZDD_FLAGS[i + 1]=$((STREAM_S * 2 + 60))
done
state=$ZDD_DIR/state/state.json
token=$(sed -n 's/^VIBE_DEPLOYMENT_TOKEN=//p' "$ZDD_DIR/token.env")
"$ZDD_BIN" deploy "${ZDD_FLAGS[@]}" "$DEMO_APP" >>"$BENCH_TMP/zdd.log" 2>&1 ||
    bench_die "first zdd deploy failed: $(tail -5 "$BENCH_TMP/zdd.log")"

# activeStreams of the color nginx serves (asked through nginx with the token).
served_streams() {
    curl -s --noproxy '*' --max-time 2 -H "Authorization: Bearer $token" \
        "http://127.0.0.1:$ZDD_NGINX_PORT/health/deployment" |
        python3 -c 'import json,sys; print(json.load(sys.stdin).get("activeStreams", -1))' 2>/dev/null ||
        echo -1
}

# One row: MODE (plain or handoff) and the deploy's extra flags.
one_run() {
    local mode=$1 i drain="" stop="" p t rc
    shift
    local out=$BENCH_TMP/clients-$mode.json
    bench_spawn "$SSE_RESUME" --url \
        "http://127.0.0.1:$ZDD_NGINX_PORT/stream/test?duration=$STREAM_S&interval_ms=$INTERVAL_MS" \
        --clients "$STREAMS" --deadline-s $((STREAM_S * 3 + 120)) \
        --expect-total $((STREAM_S * 1000 / INTERVAL_MS)) --fail-on-cut >"$out" 2>"$out.err"
    local clients=$BENCH_LAST_PID
    for ((i = 0; i < 400; i++)); do
        [[ $(served_streams) -ge $STREAMS ]] && break
        sleep 0.05
    done
    [[ $(served_streams) -ge $STREAMS ]] || bench_die "$STREAMS streams did not open in 20 s"
    bench_log "$mode: $STREAMS streams open; deploying"
    "$ZDD_BIN" deploy "${ZDD_FLAGS[@]}" "$@" "$DEMO_APP" >>"$BENCH_TMP/zdd-$mode.log" 2>&1 ||
        bench_die "zdd deploy ($mode) failed: $(tail -5 "$BENCH_TMP/zdd-$mode.log")"
    while read -r p t; do
        [[ $p == draining ]] && drain=$t
        [[ $p == stopping ]] && stop=$t
    done < <(bench_zdd_phases "$state")
    rc=0
    wait "$clients" || rc=$?
    python3 - "$out" "$mode" "$drain" "$stop" "$rc" "$STREAMS" "$STREAM_S" "$INTERVAL_MS" <<'PY' >>"$BENCH_TMP/rows"
import json, sys
out, mode, drain, stop, rc, n, secs, ival = sys.argv[1:]
try:
    s = json.loads(open(out).read().strip().splitlines()[-1])
except Exception:
    s = {}
want = int(n) * (int(secs) * 1000 // int(ival))
g = lambda k: s.get(k, "?")
print(f"{mode:<10} {float(stop) - float(drain):>10.2f} {g('events'):>10} {want:>10} "
      f"{g('complete'):>9} {g('gaps'):>5} {g('duplicates'):>5} {g('cuts'):>5} "
      f"{g('handoffs'):>9} {g('max_reconnect_gap_ms'):>12} {rc:>5}")
PY
}

one_run plain
one_run handoff --handoff

echo
printf '%-10s %10s %10s %10s %9s %5s %5s %5s %9s %12s %5s\n' mode "drain (s)" events \
    expected complete gaps dup cuts handoffs "max gap (ms)" exit
cat "$BENCH_TMP/rows"
echo "drain: draining -> stopping phase of the deploy. events: delivered to all clients (each id"
echo "once); expected: STREAMS x events per stream. max gap: longest time from a stream's end to"
echo "the next event on its successor. exit: the client tool's (0: every client got every id once)."
