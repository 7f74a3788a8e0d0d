#!/usr/bin/env bash
# The Ansible role and playbooks against three local hosts (connection local, each with its own
# nginx prefix, ports, state dir and token), using the build tree's zdd and demo app:
#  - site.yml writes zdd.conf and the token file (0600);
#  - rolling-deploy.yml rolls v1, then v2 through all three while an SSE stream on host 2
#    (through its nginx) survives;
#  - a broken release stops at host 1: host 1 is rolled back, hosts 2 and 3 keep v2;
#  - exit 3 (a real drain-timeout cut) fails host 1 and rolls it back, unless
#    zdd_allow_drain_cut=true;
#  - status.yml prints one table; the deploys' metrics textfiles carry every zdd_deploy_*/
#    zdd_nginx_* name the Prometheus rules and dashboard use;
#  - ansible-playbook --syntax-check and ansible-lint.
# Usage: ansible_test.sh SOURCE_DIR BUILD_DIR   (root: nginx workers switch user)
set -euo pipefail
src=$1 build=$2
here=$(cd "$(dirname "$0")" && pwd)
ans="$src/integrations/ansible"

# shellcheck source=tests/integrations/lib.sh
source "$here/lib.sh"
need ansible-playbook ansible-lint nginx curl python3
[[ $(id -u) -eq 0 ]] || skip_or_fail "needs root (nginx workers switch user)"
zdd="$build/orchestrator/zdd"
app="$build/examples/demo-app/zdd-demo-app"
for b in "$zdd" "$app"; do [[ -x "$b" ]] || { echo "not built: $b" >&2; exit 1; }; done

work=$(mktemp -d /tmp/zdd-ansible.XXXXXX)
chmod 755 "$work"
stream_pid=
cleanup() {
    if [[ -n "$stream_pid" ]]; then kill "$stream_pid" 2>/dev/null || true; fi
    for h in 1 2 3; do
        d="$work/h$h"
        [[ -f "$d/nginx/nginx.pid" ]] && kill "$(cat "$d/nginx/nginx.pid")" 2>/dev/null
        # Every instance zdd recorded on this host.
        python3 - "$d/state/state.json" <<'PY' | xargs -r kill -9 2>/dev/null || true
import json, sys
try:
    s = json.load(open(sys.argv[1]))
except Exception:
    sys.exit(0)
def pids(x):
    if isinstance(x, dict):
        for k, v in x.items():
            if k == "pid" and isinstance(v, int) and v > 0: print(v)
            else: pids(v)
    elif isinstance(x, list):
        for v in x: pids(v)
pids(s)
PY
    done
    if [[ "${KEEP_WORK:-}" != 1 ]]; then rm -rf "$work"; fi
}
trap cleanup EXIT

# free_port: below the ephemeral range (tests/support/free_port.sh), never one handed out before.
# shellcheck source=tests/support/free_port.sh
source "$(dirname "${BASH_SOURCE[0]}")/../support/free_port.sh"

# Releases: the demo app with a version, as a release executable zdd copies and runs.
mkdir -p "$work/releases"
for v in v1 v2; do
    printf '#!/bin/sh\nexec %q --version-string %s "$@"\n' "$app" "$v" >"$work/releases/app-$v"
done
# Broken: healthy at start (so zdd cuts over), /health fails 2 s later; every deploy lasts at
# least min-drain (3 s) after the cutover, so the smoke check after it always sees the failure
# (or zdd itself fails the deploy: either way host 1 fails).
printf '#!/bin/sh\nexec %q --version-string v3 --fail-health-after 2 "$@"\n' "$app" >"$work/releases/app-v3"
chmod 755 "$work/releases"/*

# Three hosts: nginx prefix, ports, state dir, token, config, inventory.
inv="$work/inventory.yml"
printf 'zdd:\n  hosts:\n' >"$inv"
taken=()
for h in 1 2 3; do
    d="$work/h$h"
    mkdir -p "$d/nginx" "$d/etc" "$d/metrics"
    chmod 755 "$d" "$d/nginx"
    blue=$(free_port "${taken[@]}")
    green=$(free_port "${taken[@]}" "$blue")
    front=$(free_port "${taken[@]}" "$blue" "$green")
    taken+=("$blue" "$green" "$front")
    echo "$front" >"$d/front_port"
    echo "$blue" >"$d/blue_port"
    printf 'upstream vibe_backend {\n    server 127.0.0.1:%s;\n}\n' "$blue" >"$d/nginx/upstream.conf"
    cat >"$d/nginx/nginx.conf" <<CONF
worker_processes 1;
pid $d/nginx/nginx.pid;
error_log $d/nginx/error.log info;
events { worker_connections 128; }
http {
    access_log off;
    client_body_temp_path $d/nginx/tmp_body;
    proxy_temp_path $d/nginx/tmp_proxy;
    fastcgi_temp_path $d/nginx/tmp_fastcgi;
    uwsgi_temp_path $d/nginx/tmp_uwsgi;
    scgi_temp_path $d/nginx/tmp_scgi;
    include $d/nginx/upstream.conf;
    server {
        listen 127.0.0.1:$front;
        location / {
            proxy_pass http://vibe_backend;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_buffering off;
            proxy_read_timeout 1h;
        }
    }
}
CONF
    nginx -p "$d/nginx" -c "$d/nginx/nginx.conf"
    cat >>"$inv" <<INV
    host$h:
      ansible_connection: local
      ansible_python_interpreter: /usr/bin/python3
      zdd_install_package: false
      zdd_units_dir: $d/units
      zdd_systemd_reload: false
      zdd_bin: $zdd
      zdd_config_path: $d/etc/zdd.conf
      zdd_token_file: $d/etc/deployment.env
      zdd_token: token-host$h-$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')
      zdd_smoke_url: http://127.0.0.1:$front/health
      zdd_settings:
        service: app$h
        ports: "$blue,$green"
        state-dir: $d/state
        status-file: $d/deployment.status
        upstream-file: $d/nginx/upstream.conf
        nginx-conf: $d/nginx/nginx.conf
        nginx-prefix: $d/nginx
        probe-url: http://127.0.0.1:$front/health/deployment
        metrics-textfile: $d/metrics/zdd.prom
        drain-timeout: 60
        min-drain: 3
        backend: sock_diag
INV
done

export ANSIBLE_NOCOLOR=1 ANSIBLE_RETRY_FILES_ENABLED=0 ANSIBLE_ROLES_PATH="$ans/roles"
export ANSIBLE_LOCAL_TEMP="$work/ansible-tmp" ANSIBLE_REMOTE_TEMP="$work/ansible-tmp"
play() { ansible-playbook -i "$inv" "$@"; }
fail() { echo "FAIL: $*" >&2; exit 1; }
version_of() {  # the version host $1 serves through its nginx
    curl -sf -m 5 "http://127.0.0.1:$(cat "$work/h$1/front_port")/health" |
        python3 -c 'import json,sys; print(json.load(sys.stdin).get("version",""))'
}

# Static checks.
for p in site.yml rolling-deploy.yml status.yml; do play --syntax-check "$ans/$p"; done
(cd "$ans" && ansible-lint site.yml rolling-deploy.yml status.yml roles/zdd)

# The role.
play "$ans/site.yml"
for h in 1 2 3; do
    [[ $(stat -c %a "$work/h$h/etc/deployment.env") == 600 ]] || fail "host$h token file not 0600"
    grep -q "^token-file=$work/h$h/etc/deployment.env$" "$work/h$h/etc/zdd.conf" || fail "host$h zdd.conf"
    # The units, from the role's zdd.conf: the host's service name and its blue port.
    grep -q "^Environment=PORT=$(cat "$work/h$h/blue_port")$" "$work/h$h/units/app$h-blue.service" ||
        fail "host$h: the role wrote no app$h-blue.service with its blue port"
    [[ -s $work/h$h/units/app$h-green.service ]] || fail "host$h: no app$h-green.service"
done
# A second run of the role changes nothing, so writes no unit again.
play "$ans/site.yml" | tee "$work/site2.out"
[[ $(grep -Ec '^host[123] +: ok=[1-9][0-9]* +changed=0 +unreachable=0 +failed=0 ' "$work/site2.out") == 3 ]] ||
    fail "the role's second run changed something (or a host failed)"

# v1 everywhere, then v2 while a stream on host 2 runs through its nginx.
play "$ans/rolling-deploy.yml" -e zdd_release="$work/releases/app-v1"
for h in 1 2 3; do [[ $(version_of $h) == v1 ]] || fail "host$h does not serve v1"; done
curl -sN "http://127.0.0.1:$(cat "$work/h2/front_port")/stream/test?duration=12&interval_ms=500" \
    >"$work/stream" 2>"$work/stream.err" &
stream_pid=$!
for _ in $(seq 100); do [[ -s "$work/stream" ]] && break; sleep 0.1; done
[[ -s "$work/stream" ]] || fail "the stream on host 2 never started"
play "$ans/rolling-deploy.yml" -e zdd_release="$work/releases/app-v2"
for h in 1 2 3; do [[ $(version_of $h) == v2 ]] || fail "host$h does not serve v2"; done
wait "$stream_pid" || fail "the stream on host 2 failed: $(cat "$work/stream.err")"
stream_pid=
grep -q '^event: done' "$work/stream" || fail "the stream on host 2 was cut: $(tail -3 "$work/stream")"
grep -q '"version":"v1"' "$work/stream" || fail "the stream was not served by v1"

# A broken release stops at host 1, which is rolled back; hosts 2 and 3 are untouched.
before2=$(md5sum <"$work/h2/state/state.json") before3=$(md5sum <"$work/h3/state/state.json")
if play "$ans/rolling-deploy.yml" -e zdd_release="$work/releases/app-v3" >"$work/broken.log" 2>&1; then
    cat "$work/broken.log"
    fail "the broken release did not fail the roll"
fi
cat "$work/broken.log"
grep -q 'failed on host1' "$work/broken.log" || fail "host1 did not report the failure"
if grep -q 'host2' <(grep -E '^(TASK|ok|changed|fatal).*host2' "$work/broken.log"); then
    fail "host2 was reached"
fi
for h in 1 2 3; do [[ $(version_of $h) == v2 ]] || fail "host$h does not serve v2 after the broken roll"; done
[[ $(md5sum <"$work/h2/state/state.json") == "$before2" ]] || fail "host2's state changed"
[[ $(md5sum <"$work/h3/state/state.json") == "$before3" ]] || fail "host3's state changed"

# One status table.
play "$ans/status.yml" >"$work/status.log"
cat "$work/status.log"
for h in 1 2 3; do grep -Eq "host$h +(blue|green) +v2 " "$work/status.log" || fail "status table: host$h not on v2"; done

# Exit 3 (deployed, but the drain timeout cut a stream): a failure that rolls host 1 back unless
# zdd_allow_drain_cut, then a success. zdd_bin is the real zdd with a 5 s drain timeout, so a
# 30 s stream on host 1 is cut for real.
cut_zdd="$work/zdd-cut"
# shellcheck disable=SC2016  # $1, $sub and $@ are the wrapper's own
printf '#!/bin/sh\nsub=$1; shift\nexec %q "$sub" --drain-timeout 5 "$@"\n' "$zdd" >"$cut_zdd"
chmod 755 "$cut_zdd"
stream_on_host1() {  # a 30 s stream through host 1's nginx, in $work/$1; started when it returns
    curl -sN "http://127.0.0.1:$(cat "$work/h1/front_port")/stream/test?duration=30&interval_ms=500" \
        >"$work/$1" 2>/dev/null &
    stream_pid=$!
    for _ in $(seq 100); do [[ -s "$work/$1" ]] && break; sleep 0.1; done
    [[ -s "$work/$1" ]] || fail "the stream on host 1 never started"
}
stream_on_host1 cut-stream
if play "$ans/rolling-deploy.yml" --limit host1 -e zdd_release="$work/releases/app-v1" \
    -e zdd_bin="$cut_zdd" >"$work/cut.log" 2>&1; then
    cat "$work/cut.log"
    fail "exit 3 did not fail the roll"
fi
cat "$work/cut.log"
wait "$stream_pid" || true
stream_pid=
grep -q '^event: done' "$work/cut-stream" && fail "the stream on host 1 was not cut (no exit 3)"
grep -q 'failed on host1 (zdd deploy exit 3)' "$work/cut.log" || fail "exit 3 is not named as the failure"
[[ $(version_of 1) == v2 ]] || fail "host1 was not rolled back to v2 after exit 3"

stream_on_host1 cut-stream-allowed
play "$ans/rolling-deploy.yml" --limit host1 -e zdd_release="$work/releases/app-v1" \
    -e zdd_bin="$cut_zdd" -e zdd_allow_drain_cut=true >"$work/cut-allowed.log" 2>&1 ||
    { cat "$work/cut-allowed.log"; fail "an allowed exit 3 failed the roll"; }
wait "$stream_pid" || true
stream_pid=
grep -q '^event: done' "$work/cut-stream-allowed" && fail "the second stream on host 1 was not cut"
grep -q '^zdd_deploy_last_exit_code{.*} 3$' "$work/h1/metrics/zdd.prom" ||
    fail "host1's last zdd exit is not 3: $(grep last_exit "$work/h1/metrics/zdd.prom")"
[[ $(version_of 1) == v1 ]] || fail "host1 does not serve v1 after an allowed exit 3"

# The deploys' textfiles: every deploy metric the rules and dashboard use is in real output.
python3 "$here/metric_names.py" "$src/integrations/prometheus/zdd-alerts.rules.yml" \
    "$src/integrations/prometheus/grafana-zdd-dashboard.json" --only-prefix zdd_deploy_ zdd_nginx_ \
    --emitted "$work"/h*/metrics/zdd.prom
echo "ok"
