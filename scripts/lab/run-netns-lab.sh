#!/usr/bin/env bash
# The lab scenarios on this machine, in one command (what the ctest test runs): builds the
# network-namespace stand-in (netns.sh up), runs the scenarios at a short scale, and tears
# everything down again, also on failure or Ctrl-C. Needs root.
#
# Usage: run-netns-lab.sh [--scenario long-stream|stuck|rollback]... [--scale N]
#                         [--zdd PATH] [--app PATH] [--inspector PATH] [--lab-dir DIR]
#   --scenario  run only these (repeatable; default all three)
#   --scale N   passed to every scenario (default: each one's CI scale, about 20 s of stream)
# Binaries default to the build dir (BUILD_DIR, default ./build). Exit 0 when every check of
# every scenario passed, 1 when a check failed, 2 on a setup error.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

scenarios=()
scale=
lab_dir=${LAB_DIR:-/tmp/zdd-netns-lab}
pass=()
while (($#)); do
    case $1 in
    --scenario)
        case ${2:-} in
        long-stream | stuck | rollback) scenarios+=("$2") ;;
        *) echo "run-netns-lab.sh: --scenario must be long-stream, stuck or rollback" >&2; exit 2 ;;
        esac
        shift 2
        ;;
    --scale) scale=${2:?--scale needs a value}; shift 2 ;;
    --lab-dir) lab_dir=${2:?--lab-dir needs a value}; shift 2 ;;
    --zdd | --app | --inspector) pass+=("$1" "${2:?$1 needs a value}"); shift 2 ;;
    -h | --help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "run-netns-lab.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
done
((${#scenarios[@]})) || scenarios=(long-stream stuck rollback)

# CI scales: a 20 s stream for the 20-minute one, 15 s drains and streams for the others.
ci_scale() { case $1 in long-stream) echo 60 ;; *) echo 8 ;; esac; }

teardown() { bash "$here/netns.sh" down --lab-dir "$lab_dir" || true; }
trap teardown EXIT
trap 'exit 130' INT TERM
bash "$here/netns.sh" up --lab-dir "$lab_dir"

failed=()
for s in "${scenarios[@]}"; do
    echo "=== scenario $s"
    rc=0
    bash "$here/$s.sh" --mode netns --lab-dir "$lab_dir" --scale "${scale:-$(ci_scale "$s")}" \
        "${pass[@]}" || rc=$?
    if ((rc == 2)); then
        echo "run-netns-lab.sh: scenario $s could not run (setup error)" >&2
        exit 2
    fi
    ((rc == 0)) || failed+=("$s")
done
if ((${#failed[@]})); then
    echo "=== FAILED: ${failed[*]}"
    exit 1
fi
echo "=== all scenarios passed: ${scenarios[*]}"
