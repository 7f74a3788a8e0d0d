#!/usr/bin/env bash
# Scenario: rollback. v1 (blue) then v2 (green) are deployed; a stream runs on green; then
# `zdd rollback` puts traffic back on blue (restarting v1's recorded release, since blue stopped
# after the second deploy) and drains green. Checks: v1 serves again as soon as zdd drains,
# green keeps listening until the stream ends, the stream is complete, then green stops.
# --scale N shortens the 2-minute stream N times (default 1; CI: --scale 8, 15 s).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

SCALE=1
lab_usage() {
    cat <<EOF2
Usage: rollback.sh [--scale N] [common options]
  --scale N          the stream on green lasts 120/N seconds, at least 5 (default 1)
EOF2
    lab_common_usage
}
lab_scenario_option() {
    case $1 in
    --scale) SCALE=$2 ;;
    *) return 1 ;;
    esac
}
lab_parse "$@"
lab_require_int --scale "$SCALE"
STREAM_SECS=$((120 / SCALE))
((STREAM_SECS >= 5)) || STREAM_SECS=5

lab_log "rollback: v1 -> v2 -> rollback with a ${STREAM_SECS}s stream on v2 ($LAB_MODE lab)"
lab_reset
for v in v1 v2; do
    lab_deploy "deploy-$v" "$v" DRAIN_TIMEOUT=30
    if [[ $LAB_LAST_RC != 0 ]]; then
        lab_show_job lb "deploy-$v" "zdd deploy $v"
        lab_fail "deploy $v exits 0 (got $LAB_LAST_RC)"
        lab_finish rollback
    fi
    lab_pass "deploy $v exits 0"
done
lab_check "nginx serves v2 before the rollback" test "$(lab_version_via_nginx)" = v2
lab_check "blue (v1) stopped after deploying v2" lab_not lab_listening "$LAB_BLUE_PORT"

lab_stream_start stream "$STREAM_SECS" 1000
lab_check "the stream's first event arrived (on green)" lab_stream_wait_first stream

lab_zdd_flags
lab_bg lb rollback env DRAIN_TIMEOUT=0 "$ZDD_BIN" rollback "${LAB_ZDD_FLAGS[@]}"
lab_watch_drain rollback stream "$LAB_GREEN_PORT" v1 $((STREAM_SECS + 300))
lab_show_job lb rollback "zdd rollback"

lab_check "zdd rollback exits 0" test "$(lab_job_rc lb rollback)" = 0
if out=$(lab_stream_complete stream "$STREAM_SECS" 1000); then
    lab_pass "the stream on green got every event and done"
else
    lab_fail "the stream on green got every event and done: $out"
fi
lab_check "blue (port $LAB_BLUE_PORT) listens again" lab_listening "$LAB_BLUE_PORT"
lab_check "green (port $LAB_GREEN_PORT) stopped after its drain" lab_not lab_listening "$LAB_GREEN_PORT"
lab_check "nginx serves v1 to the client" test "$(lab_version_via_nginx)" = v1
lab_check "zdd status --json exits 0" lab_zdd_status
lab_finish rollback
