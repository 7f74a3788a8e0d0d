#!/usr/bin/env bash
# Provisions a node of the lab (safe to run again): vagrant/Vagrantfile runs it as root in each
# VM, and the CI's container test (tests/lab/container_lab.sh) runs the very same command in a
# Debian 12 minbase container.
#   --role lb      nginx + the app + zdd: scripts/install.sh (the dependencies with
#                  install-deps.sh --runtime --build, the build, cpack, apt-get install of the
#                  .deb), nginx set up with the shipped site, /etc/zdd/lab.env written.
#   --role client  curl, for the traffic.
# Usage: provision.sh --role lb|client [--src DIR] [--build DIR] [--lb-addr ADDR]
#   --lb-addr  where the client reaches nginx (default 127.0.0.1: one machine, as in CI)
set -euo pipefail

role=
src=$(cd "$(dirname "$0")/../.." && pwd)
build=/var/tmp/zdd-build
lb_addr=127.0.0.1
while (($#)); do
    case $1 in
    --role) role=${2:?--role needs lb or client}; shift 2 ;;
    --src) src=${2:?}; shift 2 ;;
    --build) build=${2:?}; shift 2 ;;
    --lb-addr) lb_addr=${2:?}; shift 2 ;;
    -h | --help) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "provision.sh: unknown option $1" >&2; exit 2 ;;
    esac
done
[[ $(id -u) -eq 0 ]] || { echo "provision.sh: run as root" >&2; exit 2; }
export DEBIAN_FRONTEND=noninteractive

provision_client() {
    if ! command -v curl >/dev/null; then
        apt-get update -qq
        apt-get install -y -qq --no-install-recommends curl ca-certificates
    fi
    mkdir -p /var/tmp/zdd-lab
    echo "[provision] client ready: curl $(curl --version | head -1 | cut -d' ' -f2)"
}

provision_lb() {
    # The README's install path (install-deps --runtime --build, build, cpack, apt-get install
    # of the .deb), so the lab proves what an operator runs.
    bash "$src/scripts/install.sh" --build-dir "$build"
    command -v zdd >/dev/null || { echo "[provision] zdd is not on PATH after scripts/install.sh" >&2; exit 1; }

    # nginx: the shipped site, nothing else on :80.
    install -m 0644 "$src/packaging/nginx/zdd-site.conf" /etc/nginx/sites-available/zdd
    ln -sfn ../sites-available/zdd /etc/nginx/sites-enabled/zdd
    rm -f /etc/nginx/sites-enabled/default
    # A main-context directive (see the site file): old workers keep streams for up to 3 h.
    if ! grep -q '^worker_shutdown_timeout' /etc/nginx/nginx.conf; then
        sed -i '/^worker_processes/a worker_shutdown_timeout 3h;' /etc/nginx/nginx.conf
    fi
    local upstream=/etc/nginx/conf.d/vibe-upstream.conf
    if [[ ! -f $upstream ]]; then
        printf 'upstream vibe_backend {\n    server 127.0.0.1:8080;\n}\n' >"$upstream"
    fi
    install -d -m 0755 /etc/zdd
    if [[ ! -f /etc/zdd/lab-token.env ]]; then
        (
            umask 077
            printf 'VIBE_DEPLOYMENT_TOKEN=%s\n' "$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')" \
                >/etc/zdd/lab-token.env
        )
    fi
    nginx -t -q
    systemctl enable nginx >/dev/null 2>&1 || true
    systemctl restart nginx
    mkdir -p /var/tmp/zdd-lab /var/lib/zdd
    cat >/etc/zdd/lab.env <<EOF2
LAB_LB_ADDR=$lb_addr
LAB_RUN_LB=/var/tmp/zdd-lab
LAB_RUN_CLIENT=/var/tmp/zdd-lab
LAB_SERVICE=zdd-lab
LAB_PORTS=8080,8081
LAB_NGINX_BIN=$(command -v nginx)
LAB_NGINX_CONF=
LAB_NGINX_PREFIX=
LAB_NGINX_PID_FILE=/run/nginx.pid
LAB_UPSTREAM_FILE=$upstream
LAB_UPSTREAM_NAME=vibe_backend
LAB_STATE_DIR=/var/lib/zdd/zdd-lab
LAB_STATUS_FILE=/var/lib/zdd/zdd-lab.status
LAB_TOKEN_FILE=/etc/zdd/lab-token.env
EOF2
    echo "[provision] lb ready: nginx on $lb_addr:80, lab settings in /etc/zdd/lab.env"
}

case $role in
lb) provision_lb ;;
client) provision_client ;;
*) echo "provision.sh: --role must be lb or client" >&2; exit 2 ;;
esac
