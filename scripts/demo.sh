#!/usr/bin/env bash
# The README's first command: a long SSE stream survives a blue/green deploy.
#
# Installs what is missing (scripts/install-deps.sh), builds zdd, the demo app and
# drain-inspector, then, in a temp dir and on free loopback ports only:
#   1. starts nginx with its own prefix, using the shipped site (packaging/nginx/zdd-site.conf);
#   2. deploys the demo app as blue (v1) with `zdd deploy` (first deploy);
#   3. opens a long SSE stream through nginx (one event a second);
#   4. deploys the same binary as green (v2) with DRAIN_TIMEOUT=0, showing zdd's drain progress
#      and drain-inspector's view of blue while it drains;
#   5. ends when the stream has finished on blue and blue has stopped, and says what happened.
# Everything it started is stopped and the temp dir removed on exit, also on Ctrl-C.
#
# Usage: scripts/demo.sh [--stream-seconds N] [--skip-build]      (as root)
#   --stream-seconds N  length of the stream opened before the deploy (default 40, at least 5)
#   --skip-build        use the binaries already in BUILD_DIR
# Env: BUILD_DIR (default ./build), APP_VERSION (version of the new build, default v2).
# Exit: 0 every check passed, 1 a check failed, 2 setup error, 130 interrupted.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD_DIR=${BUILD_DIR:-$ROOT/build}
NEW_VERSION=${APP_VERSION:-v2}
OLD_VERSION=v1
STREAM_SECS=40
SKIP_BUILD=0

usage() { sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'; }
die() {
    printf 'demo: error: %s\n' "$*" >&2
    exit 2
}
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
note() { printf '   %s\n' "$*"; }

while (($#)); do
    case $1 in
    --stream-seconds) STREAM_SECS=${2:?--stream-seconds needs a value}; shift 2 ;;
    --skip-build) SKIP_BUILD=1; shift ;;
    -h | --help) usage; exit 0 ;;
    *) die "unknown option $1 (see --help)" ;;
    esac
done
[[ $STREAM_SECS =~ ^[0-9]+$ && $STREAM_SECS -ge 5 ]] ||
    die "--stream-seconds must be a whole number >= 5, not '$STREAM_SECS'"
[[ $NEW_VERSION != "$OLD_VERSION" ]] || die "APP_VERSION must differ from $OLD_VERSION"
[[ $(id -u) -eq 0 ]] || die "run as root (sudo $0): it installs packages, loads the eBPF monitor and starts nginx"

now() { printf '%s' "${EPOCHREALTIME/[,.]/}"; }  # microseconds
secs_since() {                                   # START_US [END_US]: seconds, one decimal
    local d=$((${2:-$(now)} - $1))
    printf '%d.%d' $((d / 1000000)) $((d % 1000000 / 100000))
}

# --- Everything below runs in DEMO_DIR and is undone by cleanup --------------------------------
DEMO_DIR=
NGINX_PID=
STREAM_PID=
ZDD_PID=
TAIL_PID=
BLUE_PORT=
GREEN_PORT=

listener_pids() {  # PORT: pids of the processes listening on 127.0.0.1:PORT
    ss -Htlnp "( sport = :$1 )" 2>/dev/null | grep -o 'pid=[0-9]*' | cut -d= -f2 | sort -u
}
listening() { [[ -n $(ss -Htln "( sport = :$1 )" 2>/dev/null) ]]; }
alive() { [[ -n ${1:-} ]] && kill -0 "$1" 2>/dev/null; }

cleanup() {
    local rc=$?
    trap - EXIT INT TERM HUP
    set +e
    for pid in "$TAIL_PID" "$STREAM_PID"; do alive "$pid" && kill "$pid" 2>/dev/null; done
    # zdd, if still in its drain, leaves both instances running on SIGINT (its documented
    # behaviour); they are stopped right after.
    if alive "$ZDD_PID"; then
        kill -INT "$ZDD_PID" 2>/dev/null
        for _ in 1 2 3 4 5 6 7 8 9 10; do alive "$ZDD_PID" || break; sleep 0.2; done
        alive "$ZDD_PID" && kill -KILL "$ZDD_PID" 2>/dev/null
    fi
    # The demo app instances: whatever listens on the demo's ports (free when the demo began).
    local port pid
    for port in $BLUE_PORT $GREEN_PORT; do
        for pid in $(listener_pids "$port"); do kill -INT "$pid" 2>/dev/null; done
    done
    sleep 0.3
    for port in $BLUE_PORT $GREEN_PORT; do
        for pid in $(listener_pids "$port"); do kill -KILL "$pid" 2>/dev/null; done
    done
    # nginx: fast shutdown of the master; old workers of earlier reloads are its children too.
    if alive "$NGINX_PID"; then
        local workers
        workers=$(pgrep -P "$NGINX_PID")
        kill -TERM "$NGINX_PID" 2>/dev/null
        for _ in 1 2 3 4 5 6 7 8 9 10; do alive "$NGINX_PID" || break; sleep 0.2; done
        alive "$NGINX_PID" && kill -KILL "$NGINX_PID" 2>/dev/null
        for pid in $workers; do alive "$pid" && kill -KILL "$pid" 2>/dev/null; done
    fi
    [[ -n $DEMO_DIR && -d $DEMO_DIR ]] && rm -rf "$DEMO_DIR"
    exit "$rc"
}
trap cleanup EXIT
trap 'printf "\ndemo: interrupted, cleaning up\n" >&2; exit 130' INT TERM HUP

# --- 1. Dependencies and build -----------------------------------------------------------------
if ((!SKIP_BUILD)); then
    say "Installing missing packages (scripts/install-deps.sh)"
    bash "$ROOT/scripts/install-deps.sh"
    say "Building zdd, zdd-demo-app and drain-inspector in $BUILD_DIR"
    if [[ ! -f $BUILD_DIR/CMakeCache.txt ]]; then
        cmake -S "$ROOT" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
    fi
    build_rc=0
    # Only the errors and the three targets' lines are shown; the status is cmake's (pipefail).
    cmake --build "$BUILD_DIR" -j"$(nproc)" --target zdd zdd-demo-app drain-inspector 2>&1 |
        { grep -E 'error|Error|Built target (zdd|zdd-demo-app|drain-inspector)$' || true; } ||
        build_rc=$?
    ((build_rc == 0)) || die "the build failed (cmake --build $BUILD_DIR, exit $build_rc)"
fi
ZDD=$BUILD_DIR/orchestrator/zdd
APP=$BUILD_DIR/examples/demo-app/zdd-demo-app
INSPECTOR=$BUILD_DIR/userspace/drain-inspector
for b in "$ZDD" "$APP" "$INSPECTOR"; do [[ -x $b ]] || die "$b was not built"; done
for c in nginx curl ss; do command -v "$c" >/dev/null || die "$c not found (scripts/install-deps.sh)"; done
T0=$(now)

# --- 2. nginx on loopback, in its own prefix ----------------------------------------------------
# Ports are picked below the kernel's ephemeral range, where tests asking the kernel for a free
# port (bind to 0) and outgoing connections never land, and not used by any socket right now.
read -r EPHEMERAL_LO _ </proc/sys/net/ipv4/ip_local_port_range
if ((EPHEMERAL_LO >= 5024)); then PORT_BASE=$((EPHEMERAL_LO - 4000)); else PORT_BASE=1024; fi
PORT_SPAN=$((EPHEMERAL_LO > PORT_BASE ? EPHEMERAL_LO - PORT_BASE : 4000))
free_port() {  # a loopback port no socket uses, not in $*
    local p
    while :; do
        p=$((PORT_BASE + RANDOM % PORT_SPAN))
        [[ " $* " == *" $p "* ]] && continue
        [[ -z $(ss -Htan "( sport = :$p )" 2>/dev/null) ]] && { echo "$p"; return; }
    done
}
BLUE_PORT=$(free_port)
GREEN_PORT=$(free_port "$BLUE_PORT")
NGINX_PORT=$(free_port "$BLUE_PORT" "$GREEN_PORT")
DEMO_DIR=$(mktemp -d /tmp/zdd-demo.XXXXXX)
chmod 0755 "$DEMO_DIR"  # nginx workers (user nobody) traverse it
NG=$DEMO_DIR/nginx
mkdir -p "$NG/conf.d" "$NG/logs" "$NG/tmp" "$DEMO_DIR/state"

say "Starting nginx on 127.0.0.1:$NGINX_PORT (prefix $NG)"
# The shipped site, listening on a loopback port instead of :80.
sed -e "s/^\( *\)listen 80;/\1listen 127.0.0.1:$NGINX_PORT;/" -e '/listen \[::\]:80;/d' \
    "$ROOT/packaging/nginx/zdd-site.conf" >"$NG/site.conf"
grep -q "listen 127.0.0.1:$NGINX_PORT;" "$NG/site.conf" || die "packaging/nginx/zdd-site.conf has no 'listen 80;' line to adapt"
cat >"$NG/nginx.conf" <<EOF
worker_processes 1;
pid $NG/nginx.pid;
error_log $NG/logs/error.log;
events { worker_connections 256; }
http {
    access_log off;
    client_body_temp_path $NG/tmp/body;
    proxy_temp_path $NG/tmp/proxy;
    fastcgi_temp_path $NG/tmp/fastcgi;
    uwsgi_temp_path $NG/tmp/uwsgi;
    scgi_temp_path $NG/tmp/scgi;
    include $NG/conf.d/*.conf;
    include $NG/site.conf;
}
EOF
# zdd owns this file; until the first deploy it names the blue port, where nothing listens yet.
printf 'upstream vibe_backend {\n    server 127.0.0.1:%s;\n}\n' "$BLUE_PORT" >"$NG/conf.d/upstream.conf"
nginx -p "$NG/" -c "$NG/nginx.conf" -t -q || die "nginx -t failed on the demo config"
nginx -p "$NG/" -c "$NG/nginx.conf" || die "nginx did not start (see $NG/logs/error.log)"
for _ in $(seq 50); do [[ -s $NG/nginx.pid ]] && break; sleep 0.1; done
NGINX_PID=$(cat "$NG/nginx.pid" 2>/dev/null) || die "nginx wrote no pid file"
URL=http://127.0.0.1:$NGINX_PORT

# The deployment token, kept as the original script kept it: an env file only root can read.
# curl reads it from a header file, so it never shows in a process list.
(
    umask 077
    tok=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
    printf 'VIBE_DEPLOYMENT_TOKEN=%s\n' "$tok" >"$DEMO_DIR/deployment.env"
    printf 'Authorization: Bearer %s\n' "$tok" >"$DEMO_DIR/auth.header"
)
ZDD_FLAGS=(--service zdd-demo --ports "$BLUE_PORT,$GREEN_PORT" --host 127.0.0.1
    --upstream-file "$NG/conf.d/upstream.conf" --upstream-name vibe_backend
    --nginx-conf "$NG/nginx.conf" --nginx-prefix "$NG/" --nginx-pid-file "$NG/nginx.pid"
    --state-dir "$DEMO_DIR/state/zdd-demo" --status-file "$DEMO_DIR/state/deployment.status"
    --token-file "$DEMO_DIR/deployment.env" --probe-url "$URL/health/deployment"
    --health-timeout 20)

# The color and version that answer a new request through nginx: "color version" ("-" if none).
who_answers() {
    local body color version
    body=$(curl -sS --noproxy '*' --max-time 3 -H "@$DEMO_DIR/auth.header" "$URL/health/deployment" 2>/dev/null) || true
    color=$(sed -n 's/.*"deploymentColor":"\([a-z]*\)".*/\1/p' <<<"$body")
    version=$(sed -n 's/.*"version":"\([^"]*\)".*/\1/p' <<<"$body")
    printf '%s %s' "${color:--}" "${version:--}"
}

# zdd's stderr, shown as it comes, indented.
show_log() { tail -n +1 -f "$1" --pid="$2" | sed -u 's/^/   zdd| /'; }

# --- 3. First deploy: v1 as blue ------------------------------------------------------------------
say "First deploy: zdd deploy zdd-demo-app -- --version-string $OLD_VERSION"
rc=0
"$ZDD" deploy "${ZDD_FLAGS[@]}" "$APP" -- --version-string "$OLD_VERSION" 2>&1 | sed 's/^/   zdd| /' ||
    rc=$?  # pipefail: zdd's status
((rc == 0)) || die "the first deploy failed (zdd exit $rc)"
read -r c v <<<"$(who_answers)"
note "nginx -> $c ($v) on port $BLUE_PORT"
[[ $c == blue && $v == "$OLD_VERSION" ]] || die "after the first deploy nginx answers '$c $v', not 'blue $OLD_VERSION'"

# --- 4. A long stream through nginx ---------------------------------------------------------------
say "Opening a ${STREAM_SECS}s SSE stream through nginx: $URL/stream/test?duration=$STREAM_SECS"
curl -sS -N --noproxy '*' --max-time $((STREAM_SECS + 90)) \
    "$URL/stream/test?duration=$STREAM_SECS&interval_ms=1000" >"$DEMO_DIR/stream.out" 2>"$DEMO_DIR/stream.err" &
STREAM_PID=$!
last_event() { awk '/^id: /{n=$2} END{print n+0}' "$DEMO_DIR/stream.out"; }
stream_done() { grep -q '^event: done' "$DEMO_DIR/stream.out"; }
for _ in $(seq 100); do (($(last_event) >= 2)) && break; sleep 0.1; done
(($(last_event) >= 1)) || die "the stream got no event in 10 s: $(cat "$DEMO_DIR/stream.err")"
note "event $(last_event) received; the stream is held by blue"

# --- 5. Deploy v2 as green while the stream runs ----------------------------------------------
say "Deploying $NEW_VERSION as green with DRAIN_TIMEOUT=0 (wait for blue's streams however long)"
DEPLOY_LOG=$DEMO_DIR/deploy-green.log
DRAIN_TIMEOUT=0 "$ZDD" deploy "${ZDD_FLAGS[@]}" "$APP" -- --version-string "$NEW_VERSION" \
    2>"$DEPLOY_LOG" >/dev/null &
ZDD_PID=$!
DEPLOY_START=$(now)
show_log "$DEPLOY_LOG" "$ZDD_PID" &
TAIL_PID=$!

# Watch until zdd ends: sample blue's listener first, then the stream, so a blue stopped before
# the stream's `done` is caught (nginx relays `done` before blue even closes the connection).
drain_start='' stream_end='' blue_stop='' early_stop=0 green_ok=0 not_green=0 inspected=0
limit=$((STREAM_SECS + 90))
while alive "$ZDD_PID"; do
    (($(now) - DEPLOY_START < limit * 1000000)) || { note "zdd still running after ${limit}s: giving up"; break; }
    blue_up=0 done_now=0
    listening "$BLUE_PORT" && blue_up=1
    stream_done && done_now=1
    [[ -z $stream_end ]] && ((done_now)) && stream_end=$(now)
    if [[ -z $blue_stop ]] && ((!blue_up)); then
        blue_stop=$(now)
        ((done_now)) || early_stop=1
    fi
    if [[ -z $drain_start ]] && grep -q 'Waiting \[' "$DEPLOY_LOG"; then drain_start=$(now); fi
    if [[ -n $drain_start ]] && ((blue_up)); then
        # A new request, made while blue drains: green must answer it.
        read -r c v <<<"$(who_answers)"
        if [[ $c == green && $v == "$NEW_VERSION" ]]; then green_ok=$((green_ok + 1)); else
            not_green=$((not_green + 1))
            note "(a new request was answered by '$c $v', not green $NEW_VERSION)"
        fi
        # drain-inspector's view of blue: early in the drain, and half way through the stream.
        elapsed_us=$(($(now) - drain_start))
        if ((inspected == 0 && elapsed_us > 1500000)) ||
            ((inspected == 1 && elapsed_us > (STREAM_SECS / 2) * 1000000 && !done_now)); then
            inspected=$((inspected + 1))
            {
                printf '\n   drain-inspector snapshot --port %s (blue, %ss into the drain):\n' \
                    "$BLUE_PORT" "$(secs_since "$drain_start")"
                "$INSPECTOR" snapshot --port "$BLUE_PORT" 2>&1 | sed 's/^/   inspector| /'
                echo
            } || true
        fi
    fi
    sleep 0.5
done
zdd_rc=0
if alive "$ZDD_PID"; then
    zdd_rc=124
else
    wait "$ZDD_PID" || zdd_rc=$?
fi
ZDD_PID=
wait "$TAIL_PID" 2>/dev/null || true
TAIL_PID=
[[ -n $blue_stop ]] || { listening "$BLUE_PORT" || blue_stop=$(now); }
[[ -n $stream_end ]] || { stream_done && stream_end=$(now); }
wait "$STREAM_PID" 2>/dev/null || true
STREAM_PID=

# --- 6. What happened --------------------------------------------------------------------------
expected=$STREAM_SECS  # one event a second
got=$(last_event)
colors=$(sed -n 's/^data: .*"color":"\([a-z]*\)".*/\1/p' "$DEMO_DIR/stream.out" | sort -u | paste -sd, -)
total=$(awk '/^event: done/{d=1; next} d && /^data: /{match($0, /"total":[0-9]+/); print substr($0, RSTART+8, RLENGTH-8); exit}' "$DEMO_DIR/stream.out")
gaps=$(awk '/^id: /{n=$2+0; if (n != last + 1) bad++; last = n} END{print bad+0}' "$DEMO_DIR/stream.out")
read -r c v <<<"$(who_answers)"

failures=0
check() {  # MESSAGE COMMAND...: the command decides
    local msg=$1
    shift
    if "$@"; then printf '  [ok]   %s\n' "$msg"; else
        printf '  [FAIL] %s\n' "$msg"
        failures=$((failures + 1))
    fi
}
all_events() { ((got == expected && ${total:-0} == expected && gaps == 0)); }
green_routed() { ((green_ok > 0 && not_green == 0)); }
say "What happened"
check "The stream opened before the deploy received $got/$expected events in order and its 'done'${total:+ (done says $total)}." \
    all_events
check "Every event was served by blue ($OLD_VERSION): colors seen in the stream: ${colors:-none}." \
    test "$colors" = blue
check "From the cutover on, new requests went to green ($NEW_VERSION): $green_ok of $((green_ok + not_green)) asked during the drain; now nginx answers '$c $v'." \
    green_routed
if [[ -n $blue_stop && -n $stream_end ]]; then
    check "Blue stopped only after the stream ended ($(secs_since "$stream_end" "$blue_stop")s after its 'done', checked every 0.5s); the drain took $(secs_since "${drain_start:-$DEPLOY_START}" "$blue_stop")s, zdd waiting on the kernel's connection count and the app's stream count." \
        test "$early_stop" -eq 0
else
    check "Blue stopped after the stream ended (stream ended: ${stream_end:+yes}, blue stopped: ${blue_stop:+yes}; empty = no)." false
fi
check "zdd deploy exited $zdd_rc (0: deployed, drained, blue stopped)." test "$zdd_rc" -eq 0
note "Whole demo after the build: $(secs_since "$T0")s. Cleaning up nginx, green and $DEMO_DIR."
((failures == 0)) || exit 1
