#!/usr/bin/env bash
# The VM lab's topology on one machine, with network namespaces standing in for the two VMs:
#
#   namespace zdd-lab-client              namespace zdd-lab-lb
#   10.203.0.2/24  --- veth pair ---  10.203.0.1/24
#   curl (the traffic)                    nginx :80 (packaging/nginx/zdd-site.conf, as shipped)
#                                         -> app instances on 127.0.0.1:8080 / :8081, zdd
#
# The 10.203.0.0/24 addresses exist only inside these namespaces: nothing leaves them and the
# host's own network is not touched. nginx runs with its own prefix under the lab dir.
#
# Usage: netns.sh up|down|status [--lab-dir DIR]   (root; default DIR /tmp/zdd-netns-lab)
# `up` writes DIR/lab.env, which the scenarios read (--mode netns --lab-dir DIR).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
LAB_DIR=${LAB_DIR:-/tmp/zdd-netns-lab}
LB_NS=zdd-lab-lb
CLIENT_NS=zdd-lab-client
LB_ADDR=10.203.0.1
CLIENT_ADDR=10.203.0.2
VETH_LB=zlab-lb
VETH_CLIENT=zlab-client
MARKER=.zdd-netns-lab  # `down` removes only a directory that `up` made

usage() { sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; }

cmd=${1:-}
[[ -n $cmd ]] || { usage >&2; exit 2; }
shift
while (($#)); do
    case $1 in
    --lab-dir) LAB_DIR=${2:?--lab-dir needs a value}; shift 2 ;;
    -h | --help) usage; exit 0 ;;
    *) echo "netns.sh: unknown option $1" >&2; exit 2 ;;
    esac
done
case $LAB_DIR in /*) ;; *) echo "netns.sh: --lab-dir must be an absolute path" >&2; exit 2 ;; esac

ns_exists() { ip netns list | awk '{print $1}' | grep -qx "$1"; }

up() {
    [[ $(id -u) -eq 0 ]] || { echo "netns.sh: needs root" >&2; exit 2; }
    for ns in "$LB_NS" "$CLIENT_NS"; do
        if ns_exists "$ns"; then
            echo "netns.sh: namespace $ns already exists: run 'netns.sh down' first" >&2
            exit 2
        fi
    done
    if [[ -e $LAB_DIR && ! -e $LAB_DIR/$MARKER ]]; then
        echo "netns.sh: $LAB_DIR exists and is not a lab dir; choose another --lab-dir" >&2
        exit 2
    fi
    command -v nginx >/dev/null || { echo "netns.sh: nginx not found (scripts/install-deps.sh)" >&2; exit 2; }

    echo "[netns] namespaces $CLIENT_NS ($CLIENT_ADDR) -> $LB_NS ($LB_ADDR)"
    ip netns add "$LB_NS"
    ip netns add "$CLIENT_NS"
    ip link add "$VETH_CLIENT" type veth peer name "$VETH_LB"
    ip link set "$VETH_CLIENT" netns "$CLIENT_NS"
    ip link set "$VETH_LB" netns "$LB_NS"
    ip -n "$LB_NS" addr add "$LB_ADDR/24" dev "$VETH_LB"
    ip -n "$CLIENT_NS" addr add "$CLIENT_ADDR/24" dev "$VETH_CLIENT"
    for ns in "$LB_NS" "$CLIENT_NS"; do ip -n "$ns" link set lo up; done
    ip -n "$LB_NS" link set "$VETH_LB" up
    ip -n "$CLIENT_NS" link set "$VETH_CLIENT" up

    mkdir -p "$LAB_DIR"
    touch "$LAB_DIR/$MARKER"
    local ng=$LAB_DIR/nginx
    mkdir -p "$ng/conf.d" "$ng/sites-enabled" "$ng/logs" "$ng/tmp" "$LAB_DIR/run" "$LAB_DIR/state"
    # The site snippet as shipped; only the IPv6 listen goes when this kernel has no IPv6.
    if [[ -e /proc/sys/net/ipv6 ]]; then
        cp "$ROOT/packaging/nginx/zdd-site.conf" "$ng/sites-enabled/zdd-site.conf"
    else
        grep -v 'listen \[::\]' "$ROOT/packaging/nginx/zdd-site.conf" >"$ng/sites-enabled/zdd-site.conf"
    fi
    # Debian's nginx.conf layout (conf.d/*.conf and sites-enabled/* in http), with every path
    # under the lab dir so the system nginx, if any, is not touched.
    cat >"$ng/nginx.conf" <<EOF
# nginx for the zdd netns lab (written by scripts/lab/netns.sh)
worker_processes 1;
# Main context: see packaging/nginx/zdd-site.conf. Longer than any lab drain.
worker_shutdown_timeout 3h;
pid $ng/nginx.pid;
error_log $ng/logs/error.log;
events { worker_connections 1024; }
http {
    access_log $ng/logs/access.log;
    client_body_temp_path $ng/tmp/body;
    proxy_temp_path $ng/tmp/proxy;
    fastcgi_temp_path $ng/tmp/fastcgi;
    uwsgi_temp_path $ng/tmp/uwsgi;
    scgi_temp_path $ng/tmp/scgi;
    include $ng/conf.d/*.conf;
    include $ng/sites-enabled/*;
}
EOF
    # Until the first deploy the upstream points at the blue port, where nothing listens yet.
    printf 'upstream vibe_backend {\n    server 127.0.0.1:8080;\n}\n' >"$ng/conf.d/vibe-upstream.conf"

    # The deployment token, as the original script kept it: an env file only root can read.
    (
        umask 077
        printf 'VIBE_DEPLOYMENT_TOKEN=%s\n' "$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')" \
            >"$LAB_DIR/token.env"
    )

    ip netns exec "$LB_NS" nginx -p "$ng/" -c "$ng/nginx.conf" -t -q
    ip netns exec "$LB_NS" nginx -p "$ng/" -c "$ng/nginx.conf"
    echo "[netns] nginx started in $LB_NS (pid $(cat "$ng/nginx.pid")), config $ng/nginx.conf"

    cat >"$LAB_DIR/lab.env" <<EOF
LAB_LB_NS=$LB_NS
LAB_CLIENT_NS=$CLIENT_NS
LAB_LB_ADDR=$LB_ADDR
LAB_RUN_LB=$LAB_DIR/run
LAB_RUN_CLIENT=$LAB_DIR/run
LAB_SERVICE=zdd-lab
LAB_PORTS=8080,8081
LAB_NGINX_BIN=$(command -v nginx)
LAB_NGINX_CONF=$ng/nginx.conf
LAB_NGINX_PREFIX=$ng/
LAB_NGINX_PID_FILE=$ng/nginx.pid
LAB_UPSTREAM_FILE=$ng/conf.d/vibe-upstream.conf
LAB_UPSTREAM_NAME=vibe_backend
LAB_STATE_DIR=$LAB_DIR/state/zdd-lab
LAB_STATUS_FILE=$LAB_DIR/state/zdd-lab.status
LAB_TOKEN_FILE=$LAB_DIR/token.env
EOF
    # Proof the path works end to end at the network level: the client reaches nginx.
    local code
    code=$(ip netns exec "$CLIENT_NS" curl -s -o /dev/null -w '%{http_code}' --max-time 5 \
        "http://$LB_ADDR/health" || true)
    echo "[netns] client -> http://$LB_ADDR/health answers $code (502 until the first deploy)"
    [[ $code == 502 ]] || { echo "netns.sh: expected nginx's 502 from the client namespace" >&2; exit 1; }
    echo "[netns] up: $LAB_DIR/lab.env"
}

# Ends every process left in a namespace, by pid: nginx, app instances, zdd, curl.
kill_ns_pids() {
    local ns=$1 sig=$2 pids
    pids=$(ip netns pids "$ns" 2>/dev/null || true)
    [[ -n $pids ]] || return 0
    # shellcheck disable=SC2086  # one pid per word
    kill "-$sig" $pids 2>/dev/null || true
}

down() {
    [[ $(id -u) -eq 0 ]] || { echo "netns.sh: needs root" >&2; exit 2; }
    local pidfile=$LAB_DIR/nginx/nginx.pid
    if [[ -e $LAB_DIR/$MARKER && -s $pidfile ]]; then
        local pid
        pid=$(cat "$pidfile")
        if [[ $pid =~ ^[0-9]+$ ]]; then kill -QUIT "$pid" 2>/dev/null || true; fi
    fi
    for ns in "$CLIENT_NS" "$LB_NS"; do
        ns_exists "$ns" || continue
        kill_ns_pids "$ns" TERM
    done
    local i
    for ((i = 0; i < 30; i++)); do
        [[ -z $(ip netns pids "$LB_NS" 2>/dev/null)$(ip netns pids "$CLIENT_NS" 2>/dev/null) ]] && break
        sleep 0.2
    done
    for ns in "$CLIENT_NS" "$LB_NS"; do
        ns_exists "$ns" || continue
        kill_ns_pids "$ns" KILL
        ip netns delete "$ns"  # deletes the veth pair with it
    done
    if [[ -e $LAB_DIR/$MARKER ]]; then rm -rf "$LAB_DIR"; fi
    echo "[netns] down"
}

status() {
    for ns in "$LB_NS" "$CLIENT_NS"; do
        if ns_exists "$ns"; then
            echo "$ns: up, processes: $(ip netns pids "$ns" | tr '\n' ' ')"
            ip -n "$ns" -br addr
        else
            echo "$ns: absent"
        fi
    done
}

case $cmd in
up) up ;;
down) down ;;
status) status ;;
*) usage >&2; exit 2 ;;
esac
