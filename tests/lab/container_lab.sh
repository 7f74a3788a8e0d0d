#!/usr/bin/env bash
# ctest's container fixture (issues 17 and 11): the VM lab's provisioning and zdd's systemd
# runner for real, in a Debian 12 minbase container with systemd as PID 1, where no VM boots.
#   setup DIR      a fresh copy of the cached root (scripts/lab/container.sh), the source in
#                  /vagrant; scripts/install-deps.sh --runtime --build on this machine's network
#                  (not booted, services kept from starting); boot with --private-network; then
#                  the Vagrantfile's own provision command for the lb role (build, cpack, apt
#                  install of the .deb, nginx with the shipped site)
#   scenarios DIR  the lab's scenarios inside, against the installed package, --runner systemd:
#                  long-stream.sh at its CI scale, stuck.sh, rollback.sh
#   systemd DIR    tests/lab/systemd_in_container.sh inside (issue 11's systemd checks)
#   init DIR       tests/lab/init_in_container.sh inside (issue 16: stock nginx -> zdd init ->
#                  deploys from the installed package); run after the phases above
#   cleanup DIR    shut the container down and remove DIR
# Needs root, systemd-nspawn and debootstrap (or a cached root): without them the test is
# skipped (77), and under CI (CI=true or CI=1) it fails instead.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
container=$src/scripts/lab/container.sh
phase=${1:?usage: container_lab.sh setup|scenarios|systemd|init|cleanup DIR}
dir=${2:?usage: container_lab.sh PHASE DIR}

# skip_or_fail: skips (77) outside CI, fails under CI=true or CI=1 (the one shared helper).
# shellcheck source=tests/support/skip.sh
source "$here/../support/skip.sh"
requirements() {
    [[ $(id -u) -eq 0 ]] || skip_or_fail "needs root (systemd-nspawn)"
    local c
    for c in systemd-nspawn nsenter debootstrap; do
        command -v "$c" >/dev/null || skip_or_fail "$c not found (scripts/install-deps.sh --test)"
    done
}
inside() { bash "$container" exec "$dir" "$@"; }
booted() { [[ -s $dir/leader.pid && -d /proc/$(cat "$dir/leader.pid") ]]; }

case $phase in
setup)
    requirements
    start=$SECONDS
    bash "$container" create "$dir" "$src"
    echo "[container] install-deps --runtime --build in a minbase root (apt, this machine's network)"
    bash "$container" offline-run "$dir" bash /vagrant/scripts/install-deps.sh --runtime --build \
        >"$dir/install-deps.log" 2>&1 || { tail -30 "$dir/install-deps.log"; exit 1; }
    bash "$container" boot "$dir"
    echo "[container] the Vagrantfile's provision command for the lb role (build: minutes)"
    # As vagrant/Vagrantfile runs it: provision.sh --role lb --src /vagrant, as root.
    if ! inside bash /vagrant/scripts/lab/provision.sh --role lb --src /vagrant >"$dir/provision.log" 2>&1; then
        tail -40 "$dir/provision.log"
        echo "[CHECK] FAIL provision.sh --role lb --src /vagrant exits 0"
        exit 1
    fi
    tail -3 "$dir/provision.log"
    fails=0
    check() {
        local what=$1
        shift
        if "$@"; then echo "[CHECK] ok   $what"; else echo "[CHECK] FAIL $what"; fails=$((fails + 1)); fi
    }
    check "provision.sh --role lb --src /vagrant exits 0" true
    check "install-deps --runtime --build needs nothing more" \
        inside bash /vagrant/scripts/install-deps.sh --runtime --build --check
    check "the zdd package is installed (dpkg)" inside dpkg-query -W zdd
    check "zdd, drain-inspector, zdd-demo-app on PATH" \
        inside sh -c 'command -v zdd && command -v drain-inspector && command -v zdd-demo-app'
    check "nginx runs under systemd" inside systemctl is-active --quiet nginx
    echo "[container] setup took $((SECONDS - start)) s"
    ((fails == 0))
    ;;
scenarios)
    requirements
    booted || { echo "[container] not booted: the setup test failed" >&2; exit 1; }
    # Lab scripts run inside, lb and client alike (--mode local), with zdd's systemd runner.
    failed=()
    for s in "long-stream --scale 60" "stuck --scale 8" "rollback --scale 8"; do
        name=${s%% *}
        echo "=== scenario $name (container, --runner systemd)"
        # shellcheck disable=SC2086  # "NAME --scale N": the scale is its own word
        inside bash /vagrant/scripts/lab/$name.sh --mode local --runner systemd ${s#* } ||
            failed+=("$name")
    done
    if ((${#failed[@]})); then
        echo "=== FAILED: ${failed[*]}"
        exit 1
    fi
    echo "=== all scenarios passed in the container"
    ;;
systemd)
    requirements
    booted || { echo "[container] not booted: the setup test failed" >&2; exit 1; }
    inside bash /vagrant/tests/lab/systemd_in_container.sh
    ;;
init)
    requirements
    booted || { echo "[container] not booted: the setup test failed" >&2; exit 1; }
    inside bash /vagrant/tests/lab/init_in_container.sh
    ;;
cleanup)
    bash "$container" destroy "$dir"
    ;;
*)
    echo "container_lab.sh: unknown phase $phase" >&2
    exit 2
    ;;
esac
