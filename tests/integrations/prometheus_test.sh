#!/usr/bin/env bash
# The Prometheus rules and dashboard: promtool checks and unit tests, and every metric name they
# use is one the exporters emit (drain-inspector's real output; zdd's textfile from its writer).
# Usage: prometheus_test.sh SOURCE_DIR BUILD_DIR
set -euo pipefail
src=$1 build=$2
here=$(cd "$(dirname "$0")" && pwd)
prom="$src/integrations/prometheus"

# shellcheck source=tests/integrations/lib.sh
source "$here/lib.sh"
need promtool
need python3
inspector="$build/userspace/drain-inspector"
[[ -x "$inspector" ]] || { echo "not built: $inspector" >&2; exit 1; }

promtool check rules "$prom/zdd-alerts.rules.yml"
(cd "$prom" && promtool test rules zdd-alerts.test.yml)

work=$(mktemp -d)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT

# A listener with one open connection, so the per-port families have series.
python3 - "$work/port" <<'PY' &
import socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(4)
c = socket.create_connection(s.getsockname()); a, _ = s.accept()
open(sys.argv[1], "w").write(str(s.getsockname()[1]))
time.sleep(60)
PY
pids+=($!)
for _ in $(seq 100); do [[ -s "$work/port" ]] && break; sleep 0.1; done
port=$(cat "$work/port")

"$inspector" metrics --backend sock_diag --port "$port" >"$work/inspector.prom"
grep -q "^zdd_tcp_connections{port=\"$port\"" "$work/inspector.prom"
promtool check metrics <"$work/inspector.prom"

# zdd's --metrics-textfile: names from the code that writes it (the Ansible test checks a
# textfile from real deploys too).
python3 "$here/metric_names.py" "$prom/zdd-alerts.rules.yml" "$prom/grafana-zdd-dashboard.json" \
    --emitted "$work/inspector.prom" \
    --emitted-source "$src/orchestrator/flow/deploy_metrics.cpp"
