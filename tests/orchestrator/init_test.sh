#!/usr/bin/env bash
# ctest `init_test`: `zdd init` against a real nginx (from apt) in its own prefix on a free
# loopback port, with the demo app behind it (issue 16). Checks: --dry-run writes nothing; init
# writes the site, upstream, token (0600) and config, nginx -t passes and the reload took (the
# app answers through nginx); a second init changes nothing (same files, same nginx workers); a
# differing upstream file is kept (exit 20) and replaced with a backup under --force; a broken
# nginx config makes init fail (exit 10) with every file put back and nginx serving throughout;
# bad input is one line and exit 2.
# Usage: init_test.sh BUILD_DIR          (root; exit 77 = skipped, outside CI only)
set -euo pipefail

BUILD=${1:?usage: init_test.sh BUILD_DIR}
ZDD=$BUILD/orchestrator/zdd
APP=$BUILD/examples/demo-app/zdd-demo-app

# shellcheck source=tests/support/check.sh
source "$(dirname "$0")/../support/check.sh"
[[ $(id -u) -eq 0 ]] || skip_or_fail "needs root (nginx workers switch user)"
for c in nginx curl ss; do
    command -v "$c" >/dev/null || skip_or_fail "$c not found (scripts/install-deps.sh)"
done
[[ -x $ZDD && -x $APP ]] || { echo "FAIL: build zdd and zdd-demo-app first" >&2; exit 1; }

# free_port: below the ephemeral range, not in $* (tests/support/free_port.sh).
# shellcheck source=tests/support/free_port.sh
source "$(dirname "$0")/../support/free_port.sh"
BLUE=$(free_port)
GREEN=$(free_port "$BLUE")
NGPORT=$(free_port "$BLUE" "$GREEN")

D=$(mktemp -d /tmp/zdd-init-test.XXXXXX)
chmod 0755 "$D"  # nginx workers (user nobody) traverse it
NG=$D/nginx
APP_PID=
cleanup() {
    if [[ -n $APP_PID ]]; then kill "$APP_PID" 2>/dev/null || true; fi
    if [[ -s $NG/nginx.pid ]]; then
        local m
        m=$(cat "$NG/nginx.pid")
        kill -TERM "$m" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$m" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$m" 2>/dev/null || true
    fi
    rm -rf "$D"
}
trap cleanup EXIT

# A stock-like nginx: sites/* and nothing else in http, serving a placeholder until init.
mkdir -p "$NG/sites" "$NG/logs" "$NG/tmp" "$NG/conf.d"
cat >"$NG/nginx.conf" <<EOF
worker_processes 1;
pid $NG/nginx.pid;
error_log $NG/logs/error.log;
events { worker_connections 64; }
http {
    access_log off;
    client_body_temp_path $NG/tmp/body;
    proxy_temp_path $NG/tmp/proxy;
    fastcgi_temp_path $NG/tmp/fastcgi;
    uwsgi_temp_path $NG/tmp/uwsgi;
    scgi_temp_path $NG/tmp/scgi;
    include $NG/sites/*;
}
EOF
# Debian's stock default site, as a symlink, on a port of its own (init disables it).
DEFPORT=$(free_port "$BLUE" "$GREEN" "$NGPORT")
mkdir -p "$NG/sites-available"
printf 'server {\n    listen 127.0.0.1:%s;\n    return 204;\n}\n' "$DEFPORT" >"$NG/sites-available/default"
ln -s ../sites-available/default "$NG/sites/default"
# The packaged /etc/zdd/zdd.conf (every line a comment): init replaces it, keeping a backup.
SRC=$(cd "$(dirname "$0")/../.." && pwd)
cp "$SRC/packaging/zdd.conf" "$D/zdd.conf"
nginx -p "$NG/" -c "$NG/nginx.conf" || { echo "FAIL: nginx did not start" >&2; exit 1; }
for _ in $(seq 50); do [[ -s $NG/nginx.pid ]] && break; sleep 0.1; done
MASTER=$(cat "$NG/nginx.pid")

export VIBE_DEPLOYMENT_TOKEN=init-test-token
"$APP" --port "$BLUE" --color blue >"$D/app.log" 2>&1 &
APP_PID=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$BLUE/health" >/dev/null && break; sleep 0.1; done

site_args() {  # SITE_FILE: every option pointing at this private nginx and dir
    ARGS=(--nginx-prefix "$NG/" --nginx-conf "$NG/nginx.conf" --upstream-file "$NG/conf.d/upstream.conf"
        --token-file "$D/secret/token.env" --state-dir "$D/state" --config "$D/zdd.conf"
        --site-file "$1" --listen "127.0.0.1:$NGPORT" --ports "$BLUE,$GREEN")
}
site_args "$NG/sites/app"
FILES=("$NG/sites/app" "$NG/conf.d/upstream.conf" "$D/secret/token.env" "$D/zdd.conf")
tree_sum() { (cd "$D" && find . -path ./nginx/logs -prune -o -path ./nginx/tmp -prune -o \
    -path ./app.log -prune -o -path ./out -prune -o -type f -print0 | sort -z |
    xargs -0 sha256sum | sha256sum); }
workers() { pgrep -P "$MASTER" | sort | tr '\n' ' '; }
via_nginx() { curl -s --max-time 5 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$NGPORT$1"; }
run_init() {  # ARGS... -> $rc, output in $D/out
    set +e
    "$ZDD" init "${ARGS[@]}" "$@" >"$D/out" 2>&1
    rc=$?
    set -e
    sed 's/^/    | /' "$D/out"
}

echo "== --dry-run on a fresh host"
before=$(tree_sum)
run_init --dry-run
check "dry run exits 0" test "$rc" -eq 0
check "dry run says it would create the site" grep -q "WOULD CREATE\] nginx site $NG/sites/app" "$D/out"
check "dry run prints the site's listen" grep -q "listen 127.0.0.1:$NGPORT;" "$D/out"
check "dry run never prints a token" bash -c "! grep -Eq 'TOKEN=[0-9a-f]{64}' '$D/out'"
check "dry run writes nothing" test "$(tree_sum)" == "$before"
for f in "${FILES[@]:0:3}"; do check "dry run did not create $f" test ! -e "$f"; done
check "dry run would replace the packaged config" grep -q "WOULD REPLACE\] config file" "$D/out"
check "dry run would disable the stock default site" grep -q "WOULD DISABLE\] Debian's default site" "$D/out"

echo "== init"
check "nothing serves the app through nginx before init" test "$(via_nginx /health)" != 200
run_init
check "init exits 0" test "$rc" -eq 0
for f in "${FILES[@]}"; do check "init created $f" test -s "$f"; done
check "token file is 0600 root" test "$(stat -c '%a %u' "$D/secret/token.env")" == "600 0"
check "token file holds a random 64-hex token" grep -Eq '^VIBE_DEPLOYMENT_TOKEN=[0-9a-f]{64}$' "$D/secret/token.env"
check "upstream points at blue" grep -q "server 127.0.0.1:$BLUE weight=100;" "$NG/conf.d/upstream.conf"
check "site keeps the stream settings" grep -q "proxy_buffering off;" "$NG/sites/app"
check "config names the ports" grep -qx "ports=$BLUE,$GREEN" "$D/zdd.conf"
check "the packaged config was backed up" bash -c "cmp -s '$SRC/packaging/zdd.conf' '$D'/state/init-backup/zdd.conf.*"
check "the stock default site is disabled" test ! -e "$NG/sites/default"
check "nginx -t passes" nginx -t -q -p "$NG/" -c "$NG/nginx.conf"
check "the reload took: the app answers through nginx" test "$(via_nginx /health)" == 200
check "doctor ran and found nothing" grep -q "nothing found that would hurt" "$D/out"
check "zdd status reads init's config" "$ZDD" status --config "$D/zdd.conf"

echo "== init again"
before=$(tree_sum)
w_before=$(workers)
run_init
check "second init exits 0" test "$rc" -eq 0
check "second init says nothing changed" grep -q "nothing to change" "$D/out"
check "second init wrote nothing" test "$(tree_sum)" == "$before"
check "second init did not reload nginx (same workers)" test "$(workers)" == "$w_before"

echo "== a differing upstream file"
printf 'upstream vibe_backend {\n    server 127.0.0.1:9;\n}\n' >"$NG/conf.d/upstream.conf"
# The operator's file is valid: nginx runs it (its port 9 answers nothing, that is fine here).
run_init
check "init exits 20 (kept)" test "$rc" -eq 20
check "init says it kept the upstream file" grep -q "KEPT\] upstream file" "$D/out"
check "the differing upstream file is untouched" grep -q "server 127.0.0.1:9;" "$NG/conf.d/upstream.conf"
run_init --force
check "init --force exits 0" test "$rc" -eq 0
check "init --force replaced the upstream file" grep -q "server 127.0.0.1:$BLUE weight=100;" "$NG/conf.d/upstream.conf"
check "init --force kept a backup" bash -c "grep -q 'server 127.0.0.1:9;' '$D'/state/init-backup/upstream.conf.*"
check "the app answers through nginx again" test "$(via_nginx /health)" == 200

echo "== a broken nginx config: init fails, nginx keeps serving"
check "nginx serves before" test "$(via_nginx /health)" == 200
echo 'this_is_not_an_nginx_directive;' >"$NG/sites/broken"
before=$(sha256sum "${FILES[@]}")
run_init --server-name other.example --force  # a changed site: init has something to write
check "init exits 10 (nginx -t rejected)" test "$rc" -eq 10
check "one [ERROR] line names nginx -t and the broken line" \
    grep -q '^\[ERROR\] nginx -t rejected.*this_is_not_an_nginx_directive' "$D/out"
check "every file is as before (the site put back)" test "$(sha256sum "${FILES[@]}")" == "$before"
check "nginx master still runs" kill -0 "$MASTER"
check "nginx serves after" test "$(via_nginx /health)" == 200
rm -f "$NG/sites/broken"

echo "== bad input"
run_init --server-name 'a;b'
check "a bad --server-name exits 2" test "$rc" -eq 2
check "with one line" test "$(wc -l <"$D/out")" -eq 1

finish_checks init_test
