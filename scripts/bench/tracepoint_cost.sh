#!/usr/bin/env bash
# Tracepoint cost (issue 10): what the inet_sock_set_state program (zdd_set_state) costs per
# call, from the kernel's own accounting (kernel.bpf_stats_enabled: run_time_ns / run_cnt of the
# program), for TCP state changes of a port nobody watches and of a watched port.
#
# A `drain-inspector wait --backend bpf` watches port W (one idle connection held there keeps it
# waiting). A churn helper then opens and closes CONNS loopback connections on an unwatched
# port U, then on W; each connection's both ends change state ~4 times, and every change of
# every TCP socket on the host runs the program. Per round and port: the program's run_cnt and
# run_time_ns delta over the churn, and the ratio watched / unwatched. The port bitmap decides
# an unwatched port before any map lookup, so that case should cost a fraction of the other.
#
# Usage: sudo scripts/bench/tracepoint_cost.sh   (env: CONNS=5000 ROUNDS=5)
# kernel.bpf_stats_enabled is set for the run and restored on exit. Always exits 0 once it ran.
# shellcheck source-path=SCRIPTDIR
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

CONNS=${CONNS:-5000}
ROUNDS=${ROUNDS:-5}

bench_require_root
bench_require_exe "$DRAIN_INSPECTOR" drain-inspector
command -v bpftool >/dev/null || bench_die "bpftool is needed (apt-get install bpftool)"
command -v python3 >/dev/null || bench_die "python3 is needed"
bench_tmpdir

bench_header "tracepoint cost: ns per call of zdd_set_state, unwatched vs watched port"
echo "setup:   $CONNS connections opened and closed per port and round, $ROUNDS rounds"
bench_sysctl kernel.bpf_stats_enabled 1

# Ids of the loaded zdd_set_state programs, one per line.
set_state_ids() {
    bpftool prog show --json | python3 -c '
import json, sys
for p in json.load(sys.stdin):
    if p.get("name") == "zdd_set_state": print(p["id"])'
}
# "run_cnt run_time_ns" of program ID.
prog_stats() {
    bpftool prog show id "$1" --json |
        python3 -c 'import json,sys; p=json.load(sys.stdin); print(p.get("run_cnt",0), p.get("run_time_ns",0))'
}

watched=$(bench_free_port)
unwatched=$(bench_free_port)
# The churn helper: listens on both ports, holds one connection on the watched one, then churns
# on the port named by each line of its stdin and answers "done".
mkfifo "$BENCH_TMP/cmd" "$BENCH_TMP/ack"
cat >"$BENCH_TMP/churn.py" <<'EOF'
import socket, sys
w, u, n = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
lst = {}
for p in (w, u):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", p))
    s.listen(1024)
    lst[p] = s
held = socket.create_connection(("127.0.0.1", w))
held_srv, _ = lst[w].accept()
print("ready", flush=True)
for line in sys.stdin:
    p = int(line)
    for _ in range(n):
        c = socket.create_connection(("127.0.0.1", p))
        a, _ = lst[p].accept()
        a.close()
        c.close()
    print("done", flush=True)
EOF
python3 "$BENCH_TMP/churn.py" "$watched" "$unwatched" "$CONNS" <"$BENCH_TMP/cmd" >"$BENCH_TMP/ack" &
churn_pid=$!
BENCH_PIDS+=("$churn_pid")
exec 3>"$BENCH_TMP/cmd" 4<"$BENCH_TMP/ack"
if ! read -r -t 10 line <&4 || [[ $line != ready ]]; then
    bench_die "the churn helper did not start"
fi

before=$(set_state_ids | sort)
bench_spawn "$DRAIN_INSPECTOR" wait --port "$watched" --backend bpf --timeout 0 \
    >"$BENCH_TMP/wait.log" 2>&1
for _ in $(seq 100); do
    id=$(comm -13 <(echo "$before") <(set_state_ids | sort) | head -1)
    [[ -n $id ]] && break
    sleep 0.1
done
[[ -n ${id:-} ]] || bench_die "the waiter's zdd_set_state program did not appear: $(cat "$BENCH_TMP/wait.log")"
bench_log "waiter's program id $id; watched port $watched, unwatched port $unwatched"

# Churns on PORT; appends "calls ns_per_call" to FILE.
measure() {
    local port=$1 file=$2 c0 t0 c1 t1
    read -r c0 t0 < <(prog_stats "$id")
    echo "$port" >&3
    if ! read -r -t 300 line <&4 || [[ $line != "done" ]]; then
        bench_die "the churn helper stopped"
    fi
    read -r c1 t1 < <(prog_stats "$id")
    awk -v c=$((c1 - c0)) -v t=$((t1 - t0)) 'BEGIN { if (c > 0) printf "%d %.1f\n", c, t / c }' >>"$file"
}

for ((r = 0; r < ROUNDS; r++)); do
    measure "$unwatched" "$BENCH_TMP/unwatched"
    measure "$watched" "$BENCH_TMP/watched"
    bench_log "round $((r + 1))/$ROUNDS (load $(cut -d' ' -f1-3 /proc/loadavg))"
done
kill -0 "$BENCH_LAST_PID" 2>/dev/null || bench_die "the waiter exited: $(cat "$BENCH_TMP/wait.log")"

cut -d' ' -f2 "$BENCH_TMP/unwatched" >"$BENCH_TMP/unwatched.ns"
cut -d' ' -f2 "$BENCH_TMP/watched" >"$BENCH_TMP/watched.ns"
echo
echo "load at the end: $(cut -d' ' -f1-3 /proc/loadavg) (1/5/15 min)"
echo "calls per round: unwatched $(cut -d' ' -f1 "$BENCH_TMP/unwatched" | tr '\n' ' ')," \
    "watched $(cut -d' ' -f1 "$BENCH_TMP/watched" | tr '\n' ' ')"
bench_report "unwatched port, ns per call" ns "$BENCH_TMP/unwatched.ns"
bench_report "watched port, ns per call" ns "$BENCH_TMP/watched.ns"
echo "  unwatched / watched: $(bench_ratio "$(bench_median "$BENCH_TMP/unwatched.ns")" \
    "$(bench_median "$BENCH_TMP/watched.ns")")"
exit 0
