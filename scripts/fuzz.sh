#!/usr/bin/env bash
# Builds the libFuzzer targets (fuzz/, a CMake project of its own, with clang) and runs each for
# a bounded time from its committed corpus (fuzz/corpus/<target>/). Exits non-zero on any crash
# and prints where the reproducer is and how to replay it.
#
# usage: scripts/fuzz.sh [--seconds N | --minutes N] [--merge] [--keep-going] [--fast-build]
#                        [--jobs N] [--build-dir DIR] [TARGET...]
#   --seconds N     time per target (default 60; CI's smoke run: 10)
#   --minutes N     time per target in minutes, for long runs (e.g. --minutes 30 --merge)
#   --merge         afterwards, add the inputs that found new coverage to fuzz/corpus/<target>/
#                   (libFuzzer -merge=1: only what adds coverage); commit them so it grows
#   --keep-going    fork mode: record every crash and go on until the time is up
#   --fast-build    build with -O0 (about twice as fast to build, slower to fuzz: CI smoke)
#   --jobs N        build with N parallel jobs (default: every core)
#   --build-dir D   where to build and keep the grown corpus (default <repo>/build-fuzz)
#   TARGET          any of: app_report nginx_upstream nginx_upstream_roundtrip nginx_time
#                   state_file config_file nginx_conf duration zdd_cli
# exit codes: 0 no crash, 1 a target crashed (or broke a contract), 2 usage or build error
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
seconds=60
build="$root/build-fuzz"
keep_going=()
opt=-O1
merge=false
jobs=$(nproc)
all=(app_report nginx_upstream nginx_upstream_roundtrip nginx_time state_file config_file
  nginx_conf duration zdd_cli)
targets=()

usage() { sed -n '2,20p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }

while (($#)); do
  case "$1" in
    --seconds)
      [[ $# -ge 2 && "$2" =~ ^[1-9][0-9]*$ ]] || { echo "fuzz.sh: --seconds needs a whole number > 0" >&2; exit 2; }
      seconds=$2; shift 2 ;;
    --minutes)
      [[ $# -ge 2 && "$2" =~ ^[1-9][0-9]*$ ]] || { echo "fuzz.sh: --minutes needs a whole number > 0" >&2; exit 2; }
      seconds=$(($2 * 60)); shift 2 ;;
    --jobs)
      [[ $# -ge 2 && "$2" =~ ^[1-9][0-9]*$ ]] || { echo "fuzz.sh: --jobs needs a whole number > 0" >&2; exit 2; }
      jobs=$2; shift 2 ;;
    --merge) merge=true; shift ;;
    --build-dir)
      [[ $# -ge 2 ]] || { echo "fuzz.sh: --build-dir needs a directory" >&2; exit 2; }
      build=$2; shift 2 ;;
    --keep-going) keep_going=(-fork=1 -ignore_crashes=1 -ignore_ooms=1 -ignore_timeouts=1); shift ;;
    --fast-build) opt=-O0; shift ;;
    -h|--help) usage; exit 0 ;;
    -*) echo "fuzz.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
    *)
      [[ " ${all[*]} " == *" $1 "* ]] || { echo "fuzz.sh: unknown target $1 (known: ${all[*]})" >&2; exit 2; }
      targets+=("$1"); shift ;;
  esac
done
((${#targets[@]})) || targets=("${all[@]}")

command -v clang++ >/dev/null || { echo "fuzz.sh: clang++ not found (scripts/install-deps.sh)" >&2; exit 2; }

# Its own build dir and compiler: the main build is never reconfigured. Warnings are errors
# here as in the ci preset: this build is a developer's, never a packager's.
gen=()
command -v ninja >/dev/null && gen=(-G Ninja)
[[ -f "$build/CMakeCache.txt" ]] && gen=()  # the generator is fixed at the first configure
mkdir -p "$build"
CC=clang CXX=clang++ cmake -S "$root/fuzz" -B "$build" "${gen[@]}" -DZDD_FUZZ_OPT="$opt" \
  -DCMAKE_COMPILE_WARNING_AS_ERROR=ON \
  >"$build/configure.log" 2>&1 ||
  { cat "$build/configure.log" >&2; echo "fuzz.sh: configure failed" >&2; exit 2; }
build_targets=()
for t in "${targets[@]}"; do build_targets+=(--target "fuzz_$t"); done
cmake --build "$build" -j"$jobs" "${build_targets[@]}" >"$build/build.log" 2>&1 ||
  { tail -40 "$build/build.log" >&2; echo "fuzz.sh: build failed (log: $build/build.log)" >&2; exit 2; }

failed=0
for t in "${targets[@]}"; do
  # New inputs go to the build dir's corpus; the committed corpus is only read (until --merge).
  corpus="$build/corpus/$t"
  artifacts="$build/artifacts/$t"
  log="$build/logs/$t.log"
  mkdir -p "$corpus" "$artifacts" "$build/logs"
  dict=()
  case "$t" in
    app_report|state_file) dict=(-dict="$root/fuzz/dict/json.dict") ;;
    nginx_upstream|nginx_conf) dict=(-dict="$root/fuzz/dict/nginx.dict") ;;
    nginx_time) dict=(-dict="$root/fuzz/dict/nginx_time.dict") ;;
    config_file) dict=(-dict="$root/fuzz/dict/toml.dict") ;;
  esac
  start=$SECONDS
  touch "$build/logs/$t.started"
  set +e
  "$build/fuzz_$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
    -print_final_stats=1 -artifact_prefix="$artifacts/" "${dict[@]}" "${keep_going[@]}" \
    "$corpus" "$root/fuzz/corpus/$t" >"$log" 2>&1
  rc=$?
  set -e
  # A crash on the first inputs prints no coverage line: an empty figure, not an exit.
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1 || true)
  cov=$({ grep -o 'cov: [0-9]*' "$log" || true; } | tail -1 | cut -d' ' -f2)
  if ((rc == 0)); then
    echo "fuzz: $t ok: ${runs:-?} runs in $((SECONDS - start))s, coverage ${cov:-?}, corpus $(find "$corpus" -type f | wc -l) inputs"
    if [[ $merge == true ]]; then
      committed="$root/fuzz/corpus/$t"
      mkdir -p "$committed"
      n_before=$(find "$committed" -type f | wc -l)
      "$build/fuzz_$t" -merge=1 -timeout=10 -rss_limit_mb=2048 -max_len=65536 "$committed" \
        "$corpus" >"$build/logs/$t.merge.log" 2>&1 ||
        { echo "fuzz: $t merge failed (log: $build/logs/$t.merge.log)" >&2; failed=1; continue; }
      echo "fuzz: $t merged $(($(find "$committed" -type f | wc -l) - n_before)) new input(s) into fuzz/corpus/$t (commit them)"
    fi
  else
    failed=1
    mapfile -t repros < <(find "$artifacts" -type f -newer "$build/logs/$t.started" | sort)
    echo "fuzz: $t FAILED (exit $rc) after $((SECONDS - start))s, ${#repros[@]} reproducer(s)"
    grep -a -m3 -E 'ERROR: |runtime error|contract broken|terminate called|what\(\)' "$log" | sed 's/^/  /' || true
    for r in "${repros[@]}"; do echo "  reproducer: $r"; done
    ((${#repros[@]})) && echo "  replay: $build/fuzz_$t ${repros[0]}"
    echo "  log: $log"
  fi
done
exit "$failed"
