#!/usr/bin/env bash
# Scenario: a stuck connection. A client opens a fast stream through nginx and then stops
# reading (SIGSTOP): the stream can never finish, and once the buffers on the way fill, the old
# instance's socket sits at a zero window. Deploying v2 with a drain timeout must not hang:
# checks that zdd waits the whole timeout (the app still counts the stream), then cuts the old
# instance, exits 3 ("deployed, drain cut short") and leaves v2 serving.
# --scale N shortens the drain timeout N times (default 120 s; CI: --scale 8, 15 s).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

SCALE=1
STUCK_AFTER=3
lab_usage() {
    cat <<EOF2
Usage: stuck.sh [--scale N] [--stuck-after S] [common options]
  --scale N          drain timeout 120/N seconds, at least 10 (default 1)
  --stuck-after S    zdd's --stuck-after (default 3)
EOF2
    lab_common_usage
}
lab_scenario_option() {
    case $1 in
    --scale) SCALE=$2 ;;
    --stuck-after) STUCK_AFTER=$2 ;;
    *) return 1 ;;
    esac
}
lab_parse "$@"
lab_require_int --scale "$SCALE"
lab_require_int --stuck-after "$STUCK_AFTER"
DRAIN=$((120 / SCALE))
((DRAIN >= 10)) || DRAIN=10

lab_log "stuck: a client that stopped reading, drain timeout ${DRAIN}s ($LAB_MODE lab)"
lab_reset
lab_deploy deploy-v1 v1
if [[ $LAB_LAST_RC != 0 ]]; then
    lab_show_job lb deploy-v1 "zdd deploy v1"
    lab_fail "first deploy (v1 as blue) exits 0 (got $LAB_LAST_RC)"
    lab_finish stuck
fi
lab_pass "first deploy (v1 as blue) exits 0"

# An hour-long stream, an event every 2 ms, so the buffers between app and client fill fast.
lab_stream_start stream 3600 2
lab_check "the stream's first event arrived (on blue)" lab_stream_wait_first stream
lab_job_kill client stream STOP
lab_log "client frozen after event $(lab_stream_last stream); deploying v2"

start=$SECONDS
lab_deploy_bg deploy-v2 v2 -- --drain-timeout "$DRAIN" --stuck-after "$STUCK_AFTER"
if [[ -x $INSPECTOR_BIN ]] || lab_on lb test -x "$INSPECTOR_BIN"; then
    sleep $((DRAIN / 2 + 1))
    lab_log "drain-inspector's view of blue half way through the drain:"
    lab_on lb "$INSPECTOR_BIN" snapshot --port "$LAB_BLUE_PORT" 2>&1 | sed 's/^/    /' || true
fi
if ! lab_job_wait lb deploy-v2 $((DRAIN + 120)); then
    lab_job_kill lb deploy-v2 INT
    lab_fail "zdd ended within the drain timeout plus 120 s"
fi
elapsed=$((SECONDS - start))
lab_show_job lb deploy-v2 "zdd deploy v2" 25

lab_check "zdd exits 3, deployed with the drain cut short (got $(lab_job_rc lb deploy-v2))" \
    test "$(lab_job_rc lb deploy-v2)" = 3
lab_check "zdd waited the whole drain timeout (${elapsed}s >= ${DRAIN}s)" test "$elapsed" -ge "$DRAIN"
lab_check "zdd's drain counted the frozen stream (Streams: 1 in its progress lines)" \
    test "$(lab_progress_max deploy-v2 Streams)" -ge 1
lab_log "largest Stuck figure in zdd's progress: $(lab_progress_max deploy-v2 Stuck)" \
    "(zero window needs the buffers full; informative, not a check)"
lab_check "blue (port $LAB_BLUE_PORT) was stopped at the timeout" lab_not lab_listening "$LAB_BLUE_PORT"
lab_check "nginx serves v2 to the client" test "$(lab_version_via_nginx)" = v2
lab_check "zdd status --json exits 0" lab_zdd_status
lab_finish stuck
