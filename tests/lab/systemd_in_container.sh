#!/usr/bin/env bash
# zdd's systemd runner against systemd as PID 1 (issue 11, item 5): runs INSIDE the Debian 12
# container that tests/lab/container_lab.sh booted and provisioned (zdd's .deb installed, nginx
# with the shipped site, /etc/zdd/lab.env). Checks, with --runner systemd and the units
# `zdd install-units` writes:
#   - the token reaches the unit in every accepted form: a bare token file, a KEY=VALUE file,
#     and only zdd's environment (no file);
#   - deploy, rollback, a drain-timeout cut: the stopped or cut color is not brought back by
#     Restart= (inactive, NRestarts=0);
#   - a kill -9 of zdd in the middle of a drain, then `zdd drain` finishes it: the stream whole;
#   - systemd-analyze verify accepts the installed units; a newline in --run-as is refused;
#   - zdd warns that the units run the instance as root.
set -euo pipefail
# shellcheck source=scripts/lab/lib.sh
source "$(dirname "$0")/../../scripts/lab/lib.sh"
lab_usage() { echo "Usage: systemd_in_container.sh (inside the lab container)"; }
lab_scenario_option() { return 1; }
lab_parse --mode local --runner systemd "$@"

unit() { echo "$LAB_SERVICE-$1.service"; }
prop() { systemctl show --property="$2" --value "$(unit "$1")"; }
not_restarted() {  # COLOR: inactive now and 3 s later, NRestarts=0
    local c=$1 s1 s2 n
    s1=$(prop "$c" ActiveState)
    sleep 3
    s2=$(prop "$c" ActiveState)
    n=$(prop "$c" NRestarts)
    echo "    $c: ActiveState $s1 -> $s2, NRestarts=$n, Result=$(prop "$c" Result)"
    [[ $s1 != active && $s2 != active && $s2 != activating && $n == 0 ]]
}
main_env_has() {  # COLOR NAME=VALUE: the unit's main process has it in its environment
    local pid
    pid=$(prop "$1" MainPID)
    [[ $pid != 0 ]] && tr '\0' '\n' <"/proc/$pid/environ" | grep -qxF "$2"
}
deploy_ok() {  # JOB VERSION [ENV...] [-- FLAGS]: deploys, prints zdd's output on failure
    lab_deploy "$@"
    [[ $LAB_LAST_RC == 0 ]] || lab_show_job lb "$1" "zdd deploy $2 (exit $LAB_LAST_RC)" 25
    [[ $LAB_LAST_RC == 0 ]]
}

# --- the token in every accepted form ---
real_token_file=$LAB_TOKEN_FILE
tok_kv=kv-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')
tok_bare=bare-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')
tok_env=env-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')
install -d -m 0700 /etc/zdd/tokens
(umask 077 && printf 'VIBE_DEPLOYMENT_TOKEN=%s\n' "$tok_kv" >/etc/zdd/tokens/kv.env)
(umask 077 && printf '%s\n' "$tok_bare" >/etc/zdd/tokens/bare)
for form in kv bare env; do
    case $form in
    kv) LAB_TOKEN_FILE=/etc/zdd/tokens/kv.env tok=$tok_kv envs=() ;;
    bare) LAB_TOKEN_FILE=/etc/zdd/tokens/bare tok=$tok_bare envs=() ;;
    env) LAB_TOKEN_FILE=/etc/zdd/tokens/missing tok=$tok_env envs=("VIBE_DEPLOYMENT_TOKEN=$tok_env") ;;
    esac
    lab_reset
    if deploy_ok "token-$form" "t-$form" "${envs[@]}"; then
        lab_pass "deploy with the token in a $form form exits 0 (the app accepted the token)"
    else
        lab_fail "deploy with the token in a $form form exits 0"
    fi
    lab_check "the blue unit's process has the $form token in its environment" \
        main_env_has blue "VIBE_DEPLOYMENT_TOKEN=$tok"
    lab_check "the app answers /health/deployment with the $form token" \
        curl -fsS -o /dev/null -H "Authorization: Bearer $tok" "http://127.0.0.1:$LAB_BLUE_PORT/health/deployment"
    lab_check "the token is not in the unit's text or properties" \
        lab_not sh -c "systemctl cat $(unit blue) | grep -qF '$tok' || systemctl show $(unit blue) | grep -qF '$tok'"
done
LAB_TOKEN_FILE=$real_token_file
lab_check "zdd warned that the units run the instance as root" \
    sh -c "cat '$LAB_RUN_LB/token-kv.out' | grep -q 'WARN.*as root'"

# --- deploy, rollback, cut: nothing comes back by Restart= ---
lab_reset
lab_check "deploy v1 (blue) exits 0" deploy_ok deploy-v1 v1
lab_check "deploy v2 (green) exits 0" deploy_ok deploy-v2 v2 DRAIN_TIMEOUT=30
# Both colors' links exist now: verify judges the units as they run.
lab_check "systemd-analyze verify accepts the installed units" \
    systemd-analyze verify "/etc/systemd/system/$(unit blue)" "/etc/systemd/system/$(unit green)"
lab_check "the units restart a crashed color (Restart=on-failure): the checks below mean something" \
    test "$(prop blue Restart)" = on-failure
lab_check "blue, stopped after its drain, stays stopped (NRestarts=0)" not_restarted blue
lab_check "nginx serves v2" test "$(lab_version_via_nginx)" = v2
lab_check "the deploy's args reached the unit (--version-string v2 in ExecStart)" \
    sh -c "systemctl show -p ExecStart $(unit green) | grep -q 'version-string v2'"

lab_zdd_flags
lab_bg lb rollback env DRAIN_TIMEOUT=30 "$ZDD_BIN" rollback "${LAB_ZDD_FLAGS[@]}"
lab_job_wait lb rollback 120 || lab_job_kill lb rollback INT
lab_check "zdd rollback exits 0 (got $(lab_job_rc lb rollback 2>/dev/null))" test "$(lab_job_rc lb rollback)" = 0
lab_check "nginx serves v1 after the rollback" test "$(lab_version_via_nginx)" = v1
lab_check "green, stopped by the rollback, stays stopped (NRestarts=0)" not_restarted green

lab_stream_start cut-stream 600 500
lab_check "a stream runs on blue" lab_stream_wait_first cut-stream
lab_deploy cut-v3 v3 -- --drain-timeout 5
lab_check "a drain cut at its timeout exits 3 (got $LAB_LAST_RC)" test "$LAB_LAST_RC" = 3
lab_check "blue, cut at the drain timeout, stays stopped (NRestarts=0)" not_restarted blue
lab_check "nginx serves v3" test "$(lab_version_via_nginx)" = v3
lab_job_kill client cut-stream TERM

# --- kill -9 of zdd mid-drain, then zdd drain ---
lab_stream_start drain-stream 20 1000
lab_check "a 20 s stream runs on green" lab_stream_wait_first drain-stream
lab_deploy_bg killed-v4 v4 DRAIN_TIMEOUT=0
for ((i = 0; i < 60; i++)); do lab_in_drain killed-v4 && break; sleep 0.5; done
lab_check "zdd deploy v4 reached the drain" lab_in_drain killed-v4
lab_job_kill lb killed-v4 KILL
sleep 1
lab_check "green still runs after zdd was killed (systemd owns it)" \
    test "$(prop green ActiveState)" = active
lab_zdd_flags
lab_bg lb drain "$ZDD_BIN" drain "${LAB_ZDD_FLAGS[@]}"
lab_job_wait lb drain 120 || lab_job_kill lb drain INT
lab_show_job lb drain "zdd drain after kill -9"
lab_check "zdd drain exits 0 (got $(lab_job_rc lb drain 2>/dev/null))" test "$(lab_job_rc lb drain)" = 0
if out=$(lab_stream_complete drain-stream 20 1000); then
    lab_pass "the stream on green got every event and done"
else
    lab_fail "the stream on green got every event and done: $out"
fi
lab_check "green, drained by zdd drain, stays stopped (NRestarts=0)" not_restarted green
lab_check "nginx serves v4" test "$(lab_version_via_nginx)" = v4

# --- a release that exits 1 when stopped: Restart=on-failure would bring it back unless zdd's
# stop is a stop job. The wrapper forwards the signal to the demo app and fails itself.
cat >"$LAB_RUN_LB/failing-app.sh" <<'EOF2'
#!/bin/sh
/usr/bin/zdd-demo-app "$@" &
child=$!
trap 'kill -INT $child; wait $child; exit 1' INT
trap 'kill -TERM $child; wait $child; exit 1' TERM
wait $child
EOF2
chmod 0755 "$LAB_RUN_LB/failing-app.sh"
APP_BIN=$LAB_RUN_LB/failing-app.sh
lab_check "deploy v5 (a release that exits 1 when stopped) exits 0" deploy_ok deploy-v5 v5
APP_BIN=/usr/bin/zdd-demo-app
lab_stream_start fail-stream 600 500
lab_check "a stream runs on v5" lab_stream_wait_first fail-stream
lab_deploy cut-v6 v6 -- --drain-timeout 5
lab_check "the cut of v5 exits 3 (got $LAB_LAST_RC)" test "$LAB_LAST_RC" = 3
lab_check "v5 (green), cut and exiting 1, is not restarted (NRestarts=0)" not_restarted green
lab_check "v5's exit was a failure to systemd (so only the stop job kept Restart= away)" \
    test "$(prop green ExecMainStatus)" = 1
lab_check "nginx serves v6" test "$(lab_version_via_nginx)" = v6
lab_job_kill client fail-stream TERM

# --- bad input never reaches a unit file ---
rm -rf /tmp/zdd-units-bad
rc=0
"$ZDD_BIN" install-units --service evil --dir /tmp/zdd-units-bad \
    --run-as $'nobody\nExecStartPre=/bin/touch /tmp/pwned' >/dev/null 2>&1 || rc=$?
lab_check "a newline in --run-as is refused (exit $rc) and no unit is written" \
    sh -c "[ $rc = 2 ] && ! ls /tmp/zdd-units-bad/*.service >/dev/null 2>&1"

lab_reset
lab_finish systemd-in-container
