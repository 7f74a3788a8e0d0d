#!/usr/bin/env bash
# Deploy overhead (issue 6): `zdd deploy` of an idle service (the demo app, no traffic), zdd's
# own time apart from the app's start-up and the health interval. zdd records when it enters each
# phase in state.json; the health_check phase (from the instance's launch to its first 200 on
# /health, polled every 200 ms) is the app's start-up plus the health interval, and is taken out.
# zdd's own time = wall time of `zdd deploy` - health_check phase. The stopping phase (SIGTERM to
# the old instance until it exits) is shown apart too, as it is the app's exit time.
#
# Baseline, alternating with zdd in one run: the same steps as a bare shell deploy on its own
# nginx (start, health poll every 200 ms, two upstream rewrites with nginx -t and reload, SIGTERM
# to the old instance), with no checks: no token check, no release copy, no state, no reload
# confirmation, no probe, no drain gate. Its time apart from the health wait is the baseline.
#
# Usage: sudo scripts/bench/deploy_overhead.sh     (env: TRIALS=10)
# Target (issue 6): zdd's own time under 1 s.
# shellcheck source-path=SCRIPTDIR
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

TRIALS=${TRIALS:-10}

bench_require_root
bench_require_exe "$ZDD_BIN" zdd
bench_require_exe "$DEMO_APP" zdd-demo-app
bench_helpers
bench_tmpdir

bench_header "deploy overhead: zdd deploy of an idle service"
echo "setup:   $TRIALS deploys each for zdd and the bare shell baseline, alternating; each on" \
    "its own nginx (1 worker) on 127.0.0.1"

export SPDLOG_LEVEL=warn TZ=UTC
bench_zdd_setup
bench_bare_setup
state=$ZDD_DIR/state/state.json

zdd_deploy() {
    local out rc
    out=$("$BENCH_BIN/zdd-bench-exec-stats" --timeout-s 120 --out "$BENCH_TMP/zdd.log" -- \
        "$ZDD_BIN" deploy "${ZDD_FLAGS[@]}" "$DEMO_APP")
    rc=${out##*rc=}
    [[ $rc == 0 ]] || bench_die "zdd deploy exited $rc (log $BENCH_TMP/zdd.log): $(tail -5 "$BENCH_TMP/zdd.log")"
    ZDD_WALL=${out#wall_ms=}
    ZDD_WALL=${ZDD_WALL%% *}
}

# The first deploy starts blue with nothing to replace: not measured.
zdd_deploy
bench_log "first zdd deploy (blue, nothing to replace) took $ZDD_WALL ms; measuring $TRIALS"

for f in zdd.own zdd.wall zdd.health zdd.stop bare.own bare.wall bare.health; do
    : >"$BENCH_TMP/$f"
done
one_zdd() {
    zdd_deploy
    local -A at=()
    local p t prev="" own health stop
    while read -r p t; do
        at[$p]=$t
        [[ -n $prev ]] && bench_ms "${at[$prev]}" "$t" >>"$BENCH_TMP/phase.$prev"
        prev=$p
    done < <(bench_zdd_phases "$state")
    [[ ${at[done]:-} ]] || bench_die "state.json has no done phase: $(bench_zdd_phases "$state")"
    health=$(bench_ms "${at[health_check]}" "${at[shifting]}")
    stop=$(bench_ms "${at[stopping]}" "${at[done]}")
    own=$(awk -v w="$ZDD_WALL" -v h="$health" 'BEGIN { printf "%.3f\n", w - h }')
    echo "$ZDD_WALL" >>"$BENCH_TMP/zdd.wall"
    echo "$health" >>"$BENCH_TMP/zdd.health"
    echo "$stop" >>"$BENCH_TMP/zdd.stop"
    echo "$own" >>"$BENCH_TMP/zdd.own"
    LAST_OWN=$own
}
one_bare() {
    local wall health
    bench_bare_deploy none
    wall=$(bench_ms "$BARE_T0" "$BARE_T1")
    health=$(bench_ms "$BARE_HEALTH0" "$BARE_HEALTH1")
    echo "$wall" >>"$BENCH_TMP/bare.wall"
    echo "$health" >>"$BENCH_TMP/bare.health"
    awk -v w="$wall" -v h="$health" 'BEGIN { printf "%.3f\n", w - h }' >>"$BENCH_TMP/bare.own"
}

for ((t = 0; t < TRIALS; t++)); do
    if ((t % 2 == 0)); then
        one_zdd
        one_bare
    else
        one_bare
        one_zdd
    fi
    bench_log "trial $((t + 1))/$TRIALS: zdd own $LAST_OWN ms, bare own $(tail -1 "$BENCH_TMP/bare.own") ms"
done

echo
echo "zdd deploy (ms):"
bench_report "wall time" ms "$BENCH_TMP/zdd.wall"
bench_report "health_check phase (excluded)" ms "$BENCH_TMP/zdd.health"
bench_report "zdd's own time (wall - health)" ms "$BENCH_TMP/zdd.own"
echo "  per phase (time from entering it to entering the next):"
for p in starting health_check shifting removing_old draining stopping; do
    [[ -s $BENCH_TMP/phase.$p ]] && bench_report "  $p" ms "$BENCH_TMP/phase.$p"
done
echo "bare shell deploy, no checks (ms):"
bench_report "wall time" ms "$BENCH_TMP/bare.wall"
bench_report "health wait (excluded)" ms "$BENCH_TMP/bare.health"
bench_report "own time (wall - health)" ms "$BENCH_TMP/bare.own"
echo
zm=$(bench_median "$BENCH_TMP/zdd.own")
bm=$(bench_median "$BENCH_TMP/bare.own")
echo "  zdd own / bare own (medians) = $(bench_ratio "$zm" "$bm")"
echo "  target: zdd's own time < 1000 ms: $(bench_target "$zm" '<' 1000) (median $zm ms)"
