#!/usr/bin/env bash
# Scenario: the original design's long-stream deploy. A 20-minute SSE stream runs through nginx
# on blue (v1) while green (v2) is deployed with DRAIN_TIMEOUT=0. Checks: new requests reach
# green as soon as zdd drains; blue keeps listening and zdd keeps waiting for as long as the
# stream runs; the stream gets every numbered event and `done`; then blue stops, zdd exits 0.
# --scale N shortens the stream N times (--scale 60: 20 seconds, as CI runs it).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

SCALE=1
INTERVAL_MS=1000
lab_usage() {
    cat <<EOF2
Usage: long-stream.sh [--scale N] [--interval-ms MS] [common options]
  --scale N          the 20-minute stream lasts 1200/N seconds (default 1; CI: 60)
  --interval-ms MS   one event every MS milliseconds (default 1000)
EOF2
    lab_common_usage
}
lab_scenario_option() {
    case $1 in
    --scale) SCALE=$2 ;;
    --interval-ms) INTERVAL_MS=$2 ;;
    *) return 1 ;;
    esac
}
lab_parse "$@"
lab_require_int --scale "$SCALE"
lab_require_int --interval-ms "$INTERVAL_MS"
STREAM_SECS=$((1200 / SCALE))
((STREAM_SECS >= 5)) || lab_die "--scale $SCALE leaves a stream shorter than 5 s"

lab_log "long-stream: ${STREAM_SECS}s stream through http://$LAB_LB_ADDR ($LAB_MODE lab)"
lab_reset

lab_deploy deploy-v1 v1
if [[ $LAB_LAST_RC != 0 ]]; then
    lab_show_job lb deploy-v1 "zdd deploy v1"
    lab_fail "first deploy (v1 as blue) exits 0 (got $LAB_LAST_RC)"
    lab_finish long-stream
fi
lab_pass "first deploy (v1 as blue) exits 0"
lab_check "nginx serves v1 to the client" test "$(lab_version_via_nginx)" = v1

lab_stream_start stream "$STREAM_SECS" "$INTERVAL_MS"
lab_check "the stream's first event arrived (on blue)" lab_stream_wait_first stream

lab_log "deploying v2 with DRAIN_TIMEOUT=0 while the stream runs"
lab_deploy_bg deploy-v2 v2 DRAIN_TIMEOUT=0
lab_watch_drain deploy-v2 stream "$LAB_BLUE_PORT" v2 $((STREAM_SECS + 300))
lab_show_job lb deploy-v2 "zdd deploy v2"

lab_check "zdd deploy v2 exits 0" test "$(lab_job_rc lb deploy-v2)" = 0
if out=$(lab_stream_complete stream "$STREAM_SECS" "$INTERVAL_MS"); then
    lab_pass "the stream got every event (1..$(lab_stream_last stream)) and done"
else
    lab_fail "the stream got every event and done: $out"
fi
lab_check "zdd's drain counted the stream (Streams: 1 in its progress lines)" \
    test "$(lab_progress_max deploy-v2 Streams)" -ge 1
lab_check "blue (port $LAB_BLUE_PORT) stopped after the drain" lab_not lab_listening "$LAB_BLUE_PORT"
lab_check "green (port $LAB_GREEN_PORT) listens" lab_listening "$LAB_GREEN_PORT"
lab_check "nginx serves v2 to the client" test "$(lab_version_via_nginx)" = v2
lab_check "zdd status --json exits 0" lab_zdd_status
lab_finish long-stream
