#!/usr/bin/env bash
# Shared by the lab scenarios (sourced, not run). One scenario script runs unchanged against:
#   --mode netns    the stand-in on this machine: network namespaces made by netns.sh
#                   (client namespace -> veth -> nginx + app namespace); needs root.
#   --mode vagrant  the VM lab in vagrant/: run from the host next to the Vagrantfile; every
#                   command goes to the `lb` or `client` VM through `vagrant ssh`.
#   --mode local    lb and client are this machine, provisioned by provision.sh --role lb
#                   (settings in /etc/zdd/lab.env): how CI runs them in the systemd container
#                   (tests/lab/container_lab.sh).
# Both nodes are driven through lab_on / lab_bg, and files on a node are read with lab_on NODE
# cat, so nothing assumes the scenario shares a file system with the nodes.
# shellcheck disable=SC2034  # variables set here are used by the scenarios that source this file

LAB_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
LAB_MODE=${LAB_MODE:-netns}
LAB_DIR=${LAB_DIR:-/tmp/zdd-netns-lab}
LAB_VAGRANT_DIR=${LAB_VAGRANT_DIR:-$LAB_ROOT/vagrant}
LAB_BUILD_DIR=${BUILD_DIR:-$LAB_ROOT/build}
ZDD_BIN=${ZDD_BIN:-}
APP_BIN=${APP_BIN:-}
INSPECTOR_BIN=${INSPECTOR_BIN:-}
LAB_RUNNER=${LAB_RUNNER:-}  # zdd's --runner; empty: zdd's default (exec)
LAB_FAILURES=0
LAB_CHECKS=0
LAB_JOBS=()  # "node name" of every background job, ended by lab_cleanup if still running

lab_log() { printf '[lab] %s\n' "$*" >&2; }
lab_die() {
    printf '[lab] error: %s\n' "$*" >&2
    exit 2
}

# A check: prints what it checks and its outcome; failures are counted, lab_finish exits 1.
lab_pass() {
    LAB_CHECKS=$((LAB_CHECKS + 1))
    printf '[CHECK] ok   %s\n' "$*"
}
lab_fail() {
    LAB_CHECKS=$((LAB_CHECKS + 1))
    LAB_FAILURES=$((LAB_FAILURES + 1))
    printf '[CHECK] FAIL %s\n' "$*"
}
lab_check() {  # lab_check "description" command...
    local what=$1
    shift
    if "$@"; then lab_pass "$what"; else lab_fail "$what"; fi
}
lab_finish() {
    if ((LAB_FAILURES)); then
        printf '[lab] %s: %d of %d checks FAILED\n' "$1" "$LAB_FAILURES" "$LAB_CHECKS"
        exit 1
    fi
    printf '[lab] %s: all %d checks passed\n' "$1" "$LAB_CHECKS"
}

lab_common_usage() {
    cat <<EOF
Common options:
  --mode netns|vagrant|local  where the lab runs (env LAB_MODE, default netns)
  --runner exec|systemd  zdd's runner (env LAB_RUNNER, default exec); systemd: the scenario
                         writes the units first (zdd install-units)
  --lab-dir DIR          netns lab directory made by netns.sh up (env LAB_DIR, default $LAB_DIR)
  --zdd PATH             zdd binary on the lb node (env ZDD_BIN; default: BUILD_DIR's, or
                         /usr/bin/zdd in vagrant mode)
  --app PATH             the app to deploy, zdd-demo-app (env APP_BIN; same defaults)
  --inspector PATH       drain-inspector (env INSPECTOR_BIN; optional, used for diagnostics)
EOF
}

# Parses the common options; other arguments are handed to the scenario's handler
# `lab_scenario_option NAME VALUE` (returns 1 if unknown). Loads the lab environment.
lab_parse() {
    while (($#)); do
        case $1 in
        --mode) LAB_MODE=${2:?--mode needs a value}; shift 2 ;;
        --lab-dir) LAB_DIR=${2:?--lab-dir needs a value}; shift 2 ;;
        --zdd) ZDD_BIN=${2:?--zdd needs a value}; shift 2 ;;
        --app) APP_BIN=${2:?--app needs a value}; shift 2 ;;
        --inspector) INSPECTOR_BIN=${2:?--inspector needs a value}; shift 2 ;;
        --runner) LAB_RUNNER=${2:?--runner needs a value}; shift 2 ;;
        -h | --help) lab_usage; exit 0 ;;
        *)
            if [[ $# -ge 2 ]] && lab_scenario_option "$1" "$2"; then
                shift 2
            else
                printf 'unknown option %s (see --help)\n' "$1" >&2
                exit 2
            fi
            ;;
        esac
    done
    case $LAB_MODE in
    netns)
        [[ $(id -u) -eq 0 ]] || lab_die "netns mode needs root (ip netns, nginx on port 80)"
        [[ -f $LAB_DIR/lab.env ]] || lab_die "$LAB_DIR/lab.env missing: run scripts/lab/netns.sh up first"
        : "${ZDD_BIN:=$LAB_BUILD_DIR/orchestrator/zdd}"
        : "${APP_BIN:=$LAB_BUILD_DIR/examples/demo-app/zdd-demo-app}"
        : "${INSPECTOR_BIN:=$LAB_BUILD_DIR/userspace/drain-inspector}"
        ;;
    vagrant | local)
        if [[ $LAB_MODE == vagrant ]]; then
            command -v vagrant >/dev/null || lab_die "vagrant not found (apt-get install vagrant)"
        else
            [[ $(id -u) -eq 0 ]] || lab_die "local mode needs root (nginx, zdd's state)"
            [[ -f /etc/zdd/lab.env ]] || lab_die "/etc/zdd/lab.env missing: run provision.sh --role lb first"
        fi
        : "${ZDD_BIN:=/usr/bin/zdd}"
        : "${APP_BIN:=/usr/bin/zdd-demo-app}"
        : "${INSPECTOR_BIN:=/usr/bin/drain-inspector}"
        ;;
    *) lab_die "--mode must be netns, vagrant or local, not '$LAB_MODE'" ;;
    esac
    case $LAB_RUNNER in
    '' | exec | systemd) ;;
    *) lab_die "--runner must be exec or systemd, not '$LAB_RUNNER'" ;;
    esac
    lab_load_env
    trap lab_cleanup EXIT
    lab_on lb test -x "$ZDD_BIN" || lab_die "zdd binary $ZDD_BIN is missing or not executable (--zdd)"
    lab_on lb test -x "$APP_BIN" || lab_die "app binary $APP_BIN is missing or not executable (--app)"
    lab_on lb mkdir -p "$LAB_RUN_LB"
    lab_on client mkdir -p "$LAB_RUN_CLIENT"
}

# Runs a command on a node (lb: nginx + app + zdd; client: the traffic), waiting for it.
lab_on() {
    local node=$1
    shift
    case $LAB_MODE in
    netns)
        local ns
        case $node in lb) ns=$LAB_LB_NS ;; client) ns=$LAB_CLIENT_NS ;; *) lab_die "node $node" ;; esac
        ip netns exec "$ns" "$@"
        ;;
    local) "$@" ;;
    vagrant)
        # vagrant ssh -c takes one shell string: quote each word for the remote shell.
        (cd "$LAB_VAGRANT_DIR" && vagrant ssh "$node" --no-tty -c "sudo $(printf '%q ' "$@")" -- -q)
        ;;
    esac
}

# Starts a command in the background on a node as job NAME: its output goes to NAME.out, its
# pid to NAME.pid, and its exit status to NAME.rc when it ends (in the node's run dir).
lab_bg() {
    local node=$1 name=$2
    shift 2
    local dir
    dir=$(lab_run_dir "$node")
    lab_on "$node" rm -f "$dir/$name.out" "$dir/$name.pid" "$dir/$name.rc"
    LAB_JOBS+=("$node $name")
    # shellcheck disable=SC2016  # expanded by the inner shell
    local wrapper='d=$1; n=$2; shift 2; "$@" >"$d/$n.out" 2>&1 </dev/null & echo $! >"$d/$n.pid"; wait $!; echo $? >"$d/$n.rc"'
    case $LAB_MODE in
    netns | local)
        lab_on "$node" setsid sh -c "$wrapper" sh "$dir" "$name" "$@" </dev/null >/dev/null 2>&1 &
        ;;
    vagrant)
        # setsid: the job outlives the ssh session that started it.
        (cd "$LAB_VAGRANT_DIR" && vagrant ssh "$node" --no-tty -c \
            "sudo setsid sh -c $(printf '%q' "$wrapper") sh $(printf '%q ' "$dir" "$name" "$@") </dev/null >/dev/null 2>&1 &" -- -q)
        ;;
    esac
    local i
    for ((i = 0; i < 100; i++)); do
        lab_on "$node" test -s "$dir/$name.pid" && return 0
        sleep 0.1
    done
    lab_die "job $name did not start on $node"
}

lab_run_dir() { if [[ $1 == lb ]]; then echo "$LAB_RUN_LB"; else echo "$LAB_RUN_CLIENT"; fi; }
lab_job_done() { lab_on "$1" test -e "$(lab_run_dir "$1")/$2.rc"; }
lab_job_rc() { lab_on "$1" cat "$(lab_run_dir "$1")/$2.rc"; }
lab_job_out() { lab_on "$1" cat "$(lab_run_dir "$1")/$2.out"; }
lab_job_kill() {  # NODE NAME [SIGNAL]: signals the job's process (by its recorded pid)
    local pid
    pid=$(lab_on "$1" cat "$(lab_run_dir "$1")/$2.pid" 2>/dev/null) || return 0
    # The job may end between the pid read and the kill (a continued client sees its cut
    # stream and exits): not an error, and under set -e in the EXIT trap it must not be one.
    if [[ $pid =~ ^[0-9]+$ ]]; then lab_on "$1" kill "-${3:-TERM}" "$pid" 2>/dev/null || true; fi
    return 0
}
# Ends the jobs this scenario started that still run (trap on EXIT): a stopped one is continued
# first so it can act on SIGTERM.
lab_cleanup() {
    local job node name
    for job in "${LAB_JOBS[@]}"; do
        node=${job% *}
        name=${job#* }
        lab_job_done "$node" "$name" 2>/dev/null && continue
        lab_job_kill "$node" "$name" CONT
        lab_job_kill "$node" "$name" TERM
    done
}
# Waits up to S seconds for a job to end; returns 1 if it is still running.
lab_job_wait() {
    local node=$1 name=$2 secs=$3 end=$((SECONDS + $3))
    while ((SECONDS < end)); do
        lab_job_done "$node" "$name" && return 0
        sleep 1
    done
    lab_job_done "$node" "$name"
}

# Reads the lab's settings (written by netns.sh up, or by provision.sh in the lb VM).
lab_load_env() {
    local text
    case $LAB_MODE in
    netns) text=$(cat "$LAB_DIR/lab.env") ;;
    local) text=$(cat /etc/zdd/lab.env) ;;
    vagrant) text=$(cd "$LAB_VAGRANT_DIR" && vagrant ssh lb --no-tty -c "cat /etc/zdd/lab.env" -- -q) ||
        lab_die "cannot read /etc/zdd/lab.env on the lb VM: is it up and provisioned (vagrant up)?" ;;
    esac
    local line key value
    while IFS= read -r line; do
        line=${line%$'\r'}
        [[ $line =~ ^([A-Z_]+)=(.*)$ ]] || continue
        key=${BASH_REMATCH[1]}
        value=${BASH_REMATCH[2]}
        case $key in
        LAB_LB_NS | LAB_CLIENT_NS | LAB_LB_ADDR | LAB_RUN_LB | LAB_RUN_CLIENT | LAB_SERVICE | \
            LAB_PORTS | LAB_NGINX_BIN | LAB_NGINX_CONF | LAB_NGINX_PREFIX | LAB_NGINX_PID_FILE | \
            LAB_UPSTREAM_FILE | LAB_UPSTREAM_NAME | LAB_STATE_DIR | LAB_STATUS_FILE | LAB_TOKEN_FILE)
            printf -v "$key" '%s' "$value"
            ;;
        esac
    done <<<"$text"
    : "${LAB_LB_ADDR:?lab.env has no LAB_LB_ADDR}" "${LAB_RUN_LB:?}" "${LAB_RUN_CLIENT:?}"
    LAB_BLUE_PORT=${LAB_PORTS%%,*}
    LAB_GREEN_PORT=${LAB_PORTS##*,}
}

# A positive integer option value, or exit 2.
lab_require_int() {  # NAME VALUE
    [[ $2 =~ ^[0-9]+$ && $2 -ge 1 ]] || lab_die "$1 must be a positive integer, not '$2'"
}

# Prints a job's output, indented, for the record (a scenario's evidence, also when it passes).
lab_show_job() {  # NODE JOB TITLE [LINES]
    printf -- '--- %s (last %s lines) ---\n' "$3" "${4:-15}"
    lab_job_out "$1" "$2" 2>/dev/null | tail -n "${4:-15}" | sed 's/^/    /'
    printf -- '---\n'
}

# `zdd status --json` on the lb node: printed; returns zdd's exit status.
lab_zdd_status() {
    lab_zdd_flags
    local out rc=0
    out=$(lab_on lb "$ZDD_BIN" status --json "${LAB_ZDD_FLAGS[@]}" 2>&1) || rc=$?
    printf -- '--- zdd status --json (exit %s) ---\n%s\n---\n' "$rc" "$out"
    return "$rc"
}

# zdd's flags for this lab (everything but the command and its own arguments).
lab_zdd_flags() {
    LAB_ZDD_FLAGS=(--service "$LAB_SERVICE" --ports "$LAB_PORTS" --host 127.0.0.1
        --upstream-file "$LAB_UPSTREAM_FILE" --upstream-name "$LAB_UPSTREAM_NAME"
        --state-dir "$LAB_STATE_DIR" --status-file "$LAB_STATUS_FILE"
        --token-file "$LAB_TOKEN_FILE" --probe-url "http://127.0.0.1/health/deployment")
    [[ -n ${LAB_NGINX_BIN:-} ]] && LAB_ZDD_FLAGS+=(--nginx-bin "$LAB_NGINX_BIN")
    [[ -n ${LAB_NGINX_CONF:-} ]] && LAB_ZDD_FLAGS+=(--nginx-conf "$LAB_NGINX_CONF")
    [[ -n ${LAB_NGINX_PREFIX:-} ]] && LAB_ZDD_FLAGS+=(--nginx-prefix "$LAB_NGINX_PREFIX")
    [[ -n ${LAB_NGINX_PID_FILE:-} ]] && LAB_ZDD_FLAGS+=(--nginx-pid-file "$LAB_NGINX_PID_FILE")
    [[ -n $LAB_RUNNER ]] && LAB_ZDD_FLAGS+=(--runner "$LAB_RUNNER")
    return 0
}

# The systemd runner's units for this lab, written by zdd itself; leftovers stopped.
lab_systemd_units() {
    local u
    for u in "$LAB_SERVICE-blue.service" "$LAB_SERVICE-green.service"; do
        # A stop waits for streams (TimeoutStopSec=infinity): bounded here, then killed.
        lab_on lb timeout 30 systemctl stop "$u" 2>/dev/null ||
            lab_on lb systemctl kill --signal=SIGKILL "$u" 2>/dev/null || true
        lab_on lb systemctl reset-failed "$u" 2>/dev/null || true
    done
    lab_on lb "$ZDD_BIN" install-units --service "$LAB_SERVICE" --state-dir "$LAB_STATE_DIR" \
        --ports "$LAB_PORTS" --dir /etc/systemd/system >/dev/null ||
        lab_die "zdd install-units failed"
    lab_on lb systemctl daemon-reload
}

lab_nginx() {  # nginx on the lb node with the lab's prefix and config
    local args=()
    [[ -n ${LAB_NGINX_PREFIX:-} ]] && args+=(-p "$LAB_NGINX_PREFIX")
    [[ -n ${LAB_NGINX_CONF:-} ]] && args+=(-c "$LAB_NGINX_CONF")
    lab_on lb "${LAB_NGINX_BIN:-nginx}" "${args[@]}" "$@"
}

# True while something listens on PORT on the lb node ("gone" in docs/design.md's sense).
lab_listening() {
    local out
    out=$(lab_on lb ss -Htln "( sport = :$1 )") || return 1
    [[ -n $out ]]
}

# The version /health reports through nginx, asked from the client node ("" on failure).
lab_version_via_nginx() {
    lab_on client curl -fsS --max-time 5 "http://$LAB_LB_ADDR/health" 2>/dev/null |
        sed -n 's/.*"version"[[:space:]]*:[[:space:]]*"\([^"]*\)".*/\1/p'
}

# Back to a clean slate: no instance on the lab ports, no zdd state, the upstream pointing at
# the blue port (nothing there yet: nginx answers 502 until the first deploy).
lab_reset() {
    [[ $LAB_RUNNER == systemd ]] && lab_systemd_units
    local pids
    pids=$(lab_on lb ss -Htlnp "( sport = :$LAB_BLUE_PORT or sport = :$LAB_GREEN_PORT )" |
        grep -o 'pid=[0-9]*' | cut -d= -f2 | sort -u) || true
    if [[ -n $pids ]]; then
        lab_log "stopping leftover instances: $(echo "$pids" | tr '\n' ' ')"
        # shellcheck disable=SC2086  # one pid per word
        lab_on lb kill -INT $pids 2>/dev/null || true
        sleep 2
        # shellcheck disable=SC2086
        lab_on lb kill -KILL $pids 2>/dev/null || true
    fi
    lab_on lb rm -rf "$LAB_STATE_DIR" "$LAB_STATUS_FILE"
    # shellcheck disable=SC2016  # expanded by the inner shell
    lab_on lb sh -c 'printf "upstream %s {\n    server 127.0.0.1:%s;\n}\n" "$1" "$2" >"$3"' sh \
        "$LAB_UPSTREAM_NAME" "$LAB_BLUE_PORT" "$LAB_UPSTREAM_FILE"
    lab_nginx -t -q || lab_die "nginx -t fails on the lab config"
    local out
    out=$(lab_nginx -s reload 2>&1) || lab_die "nginx reload failed (is the lab's nginx running?): $out"
    sleep 1
}

# Deploys APP as VERSION and waits for zdd (bounded). Extra zdd flags may follow `--flags`.
# Sets LAB_LAST_RC. Usage: lab_deploy JOBNAME VERSION [ENV=V...] [-- zdd deploy flags...]
lab_deploy_bg() {
    local name=$1 version=$2
    shift 2
    local envs=() extra=()
    while (($#)) && [[ $1 != -- ]]; do envs+=("$1"); shift; done
    (($#)) && shift
    extra=("$@")
    lab_zdd_flags
    lab_bg lb "$name" env "${envs[@]}" "$ZDD_BIN" deploy "${LAB_ZDD_FLAGS[@]}" "${extra[@]}" \
        "$APP_BIN" -- --version-string "$version"
}

lab_deploy() {
    local name=$1
    lab_deploy_bg "$@"
    if ! lab_job_wait lb "$name" 180; then
        lab_job_kill lb "$name" INT
        lab_job_out lb "$name" | tail -20 >&2
        lab_die "zdd deploy ($name) still running after 180 s"
    fi
    LAB_LAST_RC=$(lab_job_rc lb "$name")
}

# A stream through nginx from the client: /stream/test for SECS seconds, one event every MS.
lab_stream_start() {  # NAME SECS INTERVAL_MS
    lab_bg client "$1" curl -sS -N --max-time $(($2 + 600)) \
        "http://$LAB_LB_ADDR/stream/test?duration=$2&interval_ms=$3"
}
# Number of the last event a stream received (0 if none).
lab_stream_last() {
    lab_job_out client "$1" 2>/dev/null | awk '/^id: /{n=$2} END{print n+0}'
}
lab_stream_wait_first() {  # NAME: waits (10 s) for the first event
    local i
    for ((i = 0; i < 100; i++)); do
        (($(lab_stream_last "$1") >= 1)) && return 0
        sleep 0.1
    done
    return 1
}
# The stream received its `done` event.
lab_stream_got_done() {
    local out
    out=$(lab_job_out client "$1" 2>/dev/null) || return 1
    grep -q '^event: done' <<<"$out"
}
# Checks a finished stream: events 1..N with no gap or repeat, then `event: done` with
# total N, where N = ceil(SECS*1000/MS). Prints the reason when it fails.
lab_stream_complete() {  # NAME SECS MS
    local expect=$((($2 * 1000 + $3 - 1) / $3))
    lab_job_out client "$1" | awk -v expect="$expect" '
        /^id: / { n = $2 + 0; if (n != last + 1) { printf "event %d after %d\n", n, last; bad = 1 }
                  last = n }
        /^event: done/ { done = 1; next_total = 1; next }
        next_total && /^data: / { match($0, /"total":[0-9]+/)
                  total = substr($0, RSTART + 8, RLENGTH - 8) + 0; next_total = 0 }
        END {
            if (!done) { printf "no done event (last event %d of %d)\n", last, expect; exit 1 }
            if (bad) exit 1
            if (last != expect || total != expect) {
                printf "got %d events, done says %d, expected %d\n", last, total, expect; exit 1 }
        }'
}

# The largest figure "FIELD: N" in a zdd job's progress lines (FIELD: Streams, Stuck, ...).
lab_progress_max() {  # JOB FIELD
    lab_job_out lb "$1" 2>/dev/null | grep -o "$2: [0-9]*" | awk '{ if ($2 > m) m = $2 } END { print m + 0 }'
}
lab_not() { ! "$@"; }
lab_in_drain() {
    local out
    out=$(lab_job_out lb "$1" 2>/dev/null) || return 1
    grep -q 'Waiting \[' <<<"$out"
}

# Watches a drain until the zdd job ends (bounded by LIMIT seconds). While the stream on
# OLD_PORT's instance has not finished, the old instance must still listen and zdd must still be
# waiting; once zdd is draining, requests through nginx must reach NEW_VERSION.
# Usage: lab_watch_drain ZDD_JOB STREAM_JOB OLD_PORT NEW_VERSION LIMIT
lab_watch_drain() {
    local job=$1 stream=$2 old_port=$3 new_version=$4 limit=$5
    local end=$((SECONDS + limit)) early_stop=0 early_exit=0 routed=0 misrouted=0 v
    while ((SECONDS < end)); do
        local stream_done=0 listening=0 zdd_done=0
        lab_listening "$old_port" && listening=1
        lab_job_done lb "$job" && zdd_done=1
        # Sampled last: when the old port is found closed, a correct drain has already
        # delivered `done` to the client (nginx relays it before the app even closes). A stream
        # cut short never gets `done`, so stopping the old instance under it is caught here.
        lab_stream_got_done "$stream" && stream_done=1
        if ((!stream_done)); then
            ((listening)) || early_stop=1
            ((zdd_done)) && early_exit=1
        fi
        if ((!zdd_done)) && lab_in_drain "$job"; then
            v=$(lab_version_via_nginx)
            if [[ $v == "$new_version" ]]; then routed=$((routed + 1)); else
                misrouted=$((misrouted + 1))
                lab_log "during the drain nginx answered version '$v', not $new_version"
            fi
        fi
        ((zdd_done)) && break
        sleep 1
    done
    if ! lab_job_done lb "$job"; then
        lab_job_kill lb "$job" INT
        lab_fail "zdd ($job) finished within ${limit}s"
        return 0
    fi
    lab_check "the old instance (port $old_port) kept listening until the stream got done" \
        test "$early_stop" -eq 0
    lab_check "zdd kept waiting until the stream got done" test "$early_exit" -eq 0
    lab_check "requests during the drain reached $new_version ($routed asked)" \
        test "$misrouted" -eq 0 -a "$routed" -gt 0
}
