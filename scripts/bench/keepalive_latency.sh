#!/usr/bin/env bash
# Keep-alive answer time of the demo app (issue 11 item 6): ROUNDS curl runs, each REQUESTS
# GET /health on one loopback connection; the time of every request after the first (the
# connection reused) from curl's time_total. Without TCP_NODELAY the answer's second write
# waited for the client's delayed ACK (~40 ms).
#
# Usage: scripts/bench/keepalive_latency.sh     (env: ROUNDS=20 REQUESTS=50)
# Target: median well under 1 ms.
# shellcheck source-path=SCRIPTDIR
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

ROUNDS=${ROUNDS:-20}
REQUESTS=${REQUESTS:-50}

bench_require_exe "$DEMO_APP" zdd-demo-app
bench_tmpdir
bench_header "demo app: keep-alive answer time on loopback"
echo "setup:   $ROUNDS connections x $REQUESTS requests of GET /health (the first of each left out)"

port=$(bench_free_port)
bench_app_start "$port" bench blue "$BENCH_TMP/app.log"
args=()
for ((i = 0; i < REQUESTS; i++)); do args+=(-o /dev/null "http://127.0.0.1:$port/health"); done
for ((r = 0; r < ROUNDS; r++)); do
    curl -s -w '%{time_total}\n' "${args[@]}" | tail -n +2 |
        awk '{ printf "%.3f\n", $1 * 1000 }' >>"$BENCH_TMP/ka.ms"
done
echo
bench_report "keep-alive GET /health" ms "$BENCH_TMP/ka.ms"
m=$(bench_median "$BENCH_TMP/ka.ms")
echo "  target: median < 1 ms: $(bench_target "$m" '<' 1)"
