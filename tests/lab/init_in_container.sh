#!/usr/bin/env bash
# Runs INSIDE the systemd container (tests/lab/container_lab.sh init), where the .deb is
# installed: from a stock nginx (Debian's default site, no zdd site, no upstream file) to a
# first deploy with nothing but `zdd init` (issue 16). Checks: --dry-run writes nothing; init
# writes the site, upstream, token and /etc/zdd/zdd.conf and reloads nginx; a second init changes
# nothing; a differing upstream file is kept without --force (replaced, with a backup, with it);
# a broken nginx config makes init fail (exit 10) with every file put back and nginx serving;
# the demo app deploys with no flags (zdd reads init's config); an SSE stream through nginx survives a second deploy; the
# README's tour (zdd status/rollback/drain, drain-inspector snapshot/wait/metrics) and the bash
# completion work from the installed package.
set -euo pipefail

fails=0
check() {
    local what=$1
    shift
    if "$@"; then echo "[CHECK] ok   $what"; else echo "[CHECK] FAIL $what"; fails=$((fails + 1)); fi
}
run() {  # CMD...: runs it, output indented, exit status in $rc
    set +e
    "$@" >/tmp/init-ct.out 2>&1
    rc=$?
    set -e
    sed 's/^/    | /' /tmp/init-ct.out
}
SERVICE=zdd-init
PORTS=8090,8091
SITE=/etc/nginx/sites-enabled/$SERVICE
ARGS=(--service "$SERVICE" --ports "$PORTS")
CONF=(--config /etc/zdd/zdd.conf)

echo "== back to a stock nginx (the lab's provisioning set the site up by hand)"
rm -f /etc/nginx/sites-enabled/zdd /etc/nginx/sites-available/zdd /etc/nginx/conf.d/vibe-upstream.conf
ln -sfn ../sites-available/default /etc/nginx/sites-enabled/default
nginx -t -q && systemctl reload nginx
sleep 1
check "stock nginx serves Debian's default page" bash -c 'curl -s http://127.0.0.1/ | grep -q "Welcome to nginx"'

echo "== zdd init --dry-run"
run zdd init "${ARGS[@]}" --dry-run
check "dry run exits 0" test "$rc" -eq 0
check "dry run wrote no site" test ! -e "$SITE"
check "dry run wrote no upstream file" test ! -e /etc/nginx/conf.d/vibe-upstream.conf
check "dry run left Debian's default site" test -L /etc/nginx/sites-enabled/default

echo "== zdd init"
run zdd init "${ARGS[@]}"
first_rc=$rc
# 21 = ready, but doctor names something (e.g. no BPF in this container): printed above.
check "init exits 0 or 21 (doctor findings)" test "$rc" -eq 0 -o "$rc" -eq 21
check "init wrote the site" test -s "$SITE"
check "init wrote the upstream file" grep -q 'server 127.0.0.1:8090 weight=100;' /etc/nginx/conf.d/vibe-upstream.conf
check "init created a 0600 root token" test "$(stat -c '%a %U' /opt/vibe-manager/config/deployment.env)" == "600 root"
check "init wrote /etc/zdd/zdd.conf" grep -qx "service=$SERVICE" /etc/zdd/zdd.conf
check "init disabled Debian's default site" test ! -e /etc/nginx/sites-enabled/default
check "nginx -t passes" nginx -t -q
check "nginx now proxies to the (absent) app: 502" \
    test "$(curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1/)" == 502

echo "== zdd init again"
run zdd init "${ARGS[@]}"
check "second init exits as the first" test "$rc" -eq "$first_rc"
check "second init changes nothing" grep -q "nothing to change" /tmp/init-ct.out

UPSTREAM=/etc/nginx/conf.d/vibe-upstream.conf
nginx_code() { curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1/; }
echo "== a differing upstream file: kept without --force, replaced (with a backup) with it"
printf 'upstream vibe_backend {\n    server 127.0.0.1:9;\n}\n' >"$UPSTREAM"
run zdd init "${ARGS[@]}"
check "init exits 20 (kept)" test "$rc" -eq 20
check "init says it kept the upstream file" grep -q "KEPT\] upstream file" /tmp/init-ct.out
check "the differing upstream file is untouched" grep -q "server 127.0.0.1:9;" "$UPSTREAM"
run zdd init "${ARGS[@]}" --force
check "init --force exits as the first init" test "$rc" -eq "$first_rc"
check "init --force replaced it" grep -q 'server 127.0.0.1:8090 weight=100;' "$UPSTREAM"
check "init --force kept a backup" bash -c "grep -q 'server 127.0.0.1:9;' /var/lib/zdd/$SERVICE/init-backup/vibe-upstream.conf.*"

echo "== a broken nginx config: init fails, nginx keeps serving"
check "nginx answers before (502: no app yet)" test "$(nginx_code)" == 502
echo 'this_is_not_an_nginx_directive;' >/etc/nginx/conf.d/broken.conf
before=$(sha256sum "$SITE" "$UPSTREAM" /etc/zdd/zdd.conf)
run zdd init "${ARGS[@]}" --server-name other.example --force  # a changed site: a write to test
check "init exits 10 (nginx -t rejected)" test "$rc" -eq 10
check "every file is as before (the site put back)" test "$(sha256sum "$SITE" "$UPSTREAM" /etc/zdd/zdd.conf)" == "$before"
check "nginx answers after, as before" test "$(nginx_code)" == 502
rm -f /etc/nginx/conf.d/broken.conf

echo "== deploy the demo app, then a second deploy under a live stream"
# No flags: zdd reads the /etc/zdd/zdd.conf init wrote (service, ports) by default.
run zdd deploy /usr/bin/zdd-demo-app
check "first deploy exits 0 with no flags (init's config read by default)" test "$rc" -eq 0
check "it deployed init's service on init's first port" grep -q "8090" /tmp/init-ct.out
check "the app answers through nginx" test "$(curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1/health)" == 200
curl -sS -N --max-time 120 "http://127.0.0.1/stream/test?duration=12&interval_ms=500" >/tmp/stream.out 2>&1 &
stream=$!
for _ in $(seq 100); do grep -q '^id: 1$' /tmp/stream.out && break; sleep 0.1; done
check "the stream started" grep -q '^id: 1$' /tmp/stream.out
run zdd deploy "${CONF[@]}" /usr/bin/zdd-demo-app
check "second deploy exits 0 (it drained the stream)" test "$rc" -eq 0
wait "$stream" || true
# shellcheck disable=SC2016  # awk's own $2
check "the stream got all 24 events and done" awk '
    /^id: / { n = $2 + 0; if (n != last + 1) bad = 1; last = n }
    /^event: done/ { done = 1 }
    END { exit !(done && !bad && last == 24) }' /tmp/stream.out

echo "== the README's tour from PATH, as written (init's ports for 8080; green 8091 serves)"
run zdd status
check "zdd status exits 0" test "$rc" -eq 0
check "zdd status (no flags) reads init's config: port 8091 active" grep -q "active: green (port 8091)" /tmp/init-ct.out
run zdd status "${CONF[@]}"
check "zdd status --config /etc/zdd/zdd.conf says the same" grep -q "active: green (port 8091)" /tmp/init-ct.out
check "zdd status is on PATH" test "$(command -v zdd)" == /usr/bin/zdd
run drain-inspector snapshot --port 8090
check "drain-inspector snapshot --port 8090 exits 0" test "$rc" -eq 0
# stdout alone is the JSON; perl's JSON::PP reads it (no python3 in the container).
drain-inspector snapshot --port 8091 --json >/tmp/snapshot.json || true
# shellcheck disable=SC2016  # perl's own $/ and $j
check "drain-inspector snapshot --port 8091 --json is one JSON object" \
    perl -MJSON::PP -e 'local $/; my $j = decode_json(<STDIN>); exit !($j->{ports}[0]{port} == 8091)' \
    </tmp/snapshot.json
run drain-inspector wait --port 8091 --timeout 60 \
    --health-url http://127.0.0.1:8091/health/deployment --token-file /opt/vibe-manager/config/deployment.env
check "drain-inspector wait with init's token file exits 0" test "$rc" -eq 0
mkdir -p /tmp/textfiles
run drain-inspector metrics --port 8091 --textfile-dir /tmp/textfiles
check "drain-inspector metrics --textfile-dir writes Prometheus text" \
    grep -q '^zdd_tcp_connections{port="8091"' /tmp/textfiles/drain_inspector.prom
run zdd rollback
check "zdd rollback exits 0" test "$rc" -eq 0
check "the app answers through nginx after the rollback" \
    test "$(curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1/health)" == 200
run zdd drain
check "zdd drain after a finished rollback exits 0" test "$rc" -eq 0
check "zdd drain says nothing is draining" grep -q "nothing is draining" /tmp/init-ct.out
for c in zdd drain-inspector vibe-zero-downtime; do
    check "bash completion installed for $c" test -s "/usr/share/bash-completion/completions/$c"
done
# shellcheck disable=SC2016  # expanded by the inner bash
check "completion offers init" bash -c 'source /usr/share/bash-completion/completions/zdd
    COMP_WORDS=(zdd in); COMP_CWORD=1; _zdd_complete zdd in zdd; [[ " ${COMPREPLY[*]} " == *" init "* ]]'

((fails == 0)) || { echo "init_in_container: $fails check(s) failed"; exit 1; }
echo "init_in_container: all checks passed"
