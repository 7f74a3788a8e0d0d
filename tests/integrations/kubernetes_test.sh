#!/usr/bin/env bash
# The Kubernetes example: yamllint the manifests; run the Deployment's preStop command (as the
# manifest spells it, with a local port, URL and token file) against the demo app: with an SSE
# stream open it returns only after the stream ended, never before --min-drain, and exits 0.
# The app and the hook run as the pod runs them: every capability dropped, no new privileges
# (so no CAP_BPF: the reason for the manifest's sock_diag backend).
# Usage: kubernetes_test.sh SOURCE_DIR BUILD_DIR
set -euo pipefail
src=$1 build=$2
here=$(cd "$(dirname "$0")" && pwd)
manifest="$src/integrations/kubernetes/deployment.yaml"

# shellcheck source=tests/integrations/lib.sh
source "$here/lib.sh"
need yamllint
need curl
need setpriv
python3 -c 'import yaml' || { echo "missing python3-yaml" >&2; exit 1; }
inspector="$build/userspace/drain-inspector"
app="$build/examples/demo-app/zdd-demo-app"
for b in "$inspector" "$app"; do [[ -x "$b" ]] || { echo "not built: $b" >&2; exit 1; }; done

yamllint -s -c "$src/integrations/.yamllint" "$src/integrations"

# The grace period must outlast the hook: min-drain + timeout.
python3 - "$manifest" <<'PY'
import sys, yaml
d = [x for x in yaml.safe_load_all(open(sys.argv[1])) if x and x["kind"] == "Deployment"][0]
pod = d["spec"]["template"]["spec"]
hook = [c for c in pod["containers"] if c["name"] == "app"][0]["lifecycle"]["preStop"]["exec"]["command"]
opts = dict(a.split("=", 1) for a in hook if a.startswith("--") and "=" in a)
need = float(opts["--min-drain"]) + float(opts["--timeout"])
grace = pod["terminationGracePeriodSeconds"]
assert grace > need, f"terminationGracePeriodSeconds {grace} <= min-drain + timeout {need}"
assert opts["--backend"] == "sock_diag", "a pod without CAP_BPF needs --backend=sock_diag"
sc = [c for c in pod["containers"] if c["name"] == "app"][0]["securityContext"]
assert sc["capabilities"]["drop"] == ["ALL"] and sc["allowPrivilegeEscalation"] is False, \
    "the test runs the hook with every capability dropped: the manifest must say so"
ann = d["spec"]["template"]["metadata"]["annotations"]
ports = [p["containerPort"] for c in pod["containers"] for p in c.get("ports", [])]
assert ann["prometheus.io/scrape"] == "true" and int(ann["prometheus.io/port"]) in ports
PY

work=$(mktemp -d)
app_pid=
cleanup() {
    if [[ -n "$app_pid" ]]; then kill "$app_pid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

# shellcheck source=tests/support/free_port.sh
source "$here/../support/free_port.sh"
# Below the ephemeral range: no connect() takes it before the app binds it.
# shellcheck disable=SC2119  # free_port takes no argument here
port=$(free_port)
token=$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
printf '%s\n' "$token" >"$work/token"
chmod 600 "$work/token"
# The pod's securityContext: capabilities drop ALL, allowPrivilegeEscalation false.
no_caps=(setpriv --no-new-privs --inh-caps=-all --bounding-set=-all)
"${no_caps[@]}" grep -qx 'CapEff:[[:space:]]*0*' /proc/self/status ||
    { echo "setpriv did not drop the capabilities" >&2; exit 1; }
VIBE_DEPLOYMENT_TOKEN=$token "${no_caps[@]}" "$app" --port "$port" >"$work/app.log" 2>&1 &
app_pid=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/health" >/dev/null && break; sleep 0.1; done

mapfile -t hook < <(python3 "$here/prestop_command.py" "$manifest" app "$inspector" "$port" "$work/token")
min_drain=$(printf '%s\n' "${hook[@]}" | sed -n 's/^--min-drain=//p')
[[ -n "$min_drain" ]] || { echo "the preStop hook has no --min-drain" >&2; exit 1; }
echo "preStop: ${hook[*]}"

run_hook() {  # prints the hook's elapsed seconds; fails if it does not exit 0
    local t0 t1
    t0=$(date +%s.%N)
    "${no_caps[@]}" "${hook[@]}" >>"$work/hook.log" 2>&1 || { cat "$work/hook.log" >&2; return 1; }
    t1=$(date +%s.%N)
    python3 -c "print($t1 - $t0)"
}

# 1. An SSE stream longer than min-drain: the hook returns after the stream's last event.
stream_s=$(python3 -c "print(int($min_drain) + 4)")
curl -sN "http://127.0.0.1:$port/stream/test?duration=$stream_s&interval_ms=500" >"$work/stream" &
curl_pid=$!
for _ in $(seq 100); do [[ -s "$work/stream" ]] && break; sleep 0.1; done
[[ -s "$work/stream" ]] || { echo "the stream never started" >&2; exit 1; }
run_hook >/dev/null
if kill -0 "$curl_pid" 2>/dev/null; then
    echo "the preStop hook returned while the stream was still open" >&2
    exit 1
fi
wait "$curl_pid"
grep -q '^event: done' "$work/stream" || { echo "stream did not end normally:" >&2; tail -3 "$work/stream" >&2; exit 1; }

# 2. Nothing open: the hook still waits min-drain (routing changes propagate after it starts).
elapsed=$(run_hook)
python3 -c "import sys; sys.exit(0 if $elapsed >= $min_drain else 1)" ||
    { echo "the hook returned after ${elapsed}s, before --min-drain=${min_drain}s" >&2; exit 1; }
echo "ok: waited for the stream, then ${elapsed}s with no connection (min-drain ${min_drain}s)"
