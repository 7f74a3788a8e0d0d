#!/usr/bin/env bash
# The README's test command: install dependencies, configure, build, run every test.
# In CI the shipped binaries are also built as Release (-Werror), in "$BUILD_DIR-release".
# In CI (CI=true or CI=1) a test ctest did not run (skipped, disabled, not run) fails the run
# whatever its exit code said: CI must run every test. Elsewhere a skip stays a skip.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
build="${BUILD_DIR:-$root/build}"
in_ci=false
[[ ${CI:-} == true || ${CI:-} == 1 ]] && in_ci=true

bash scripts/install-deps.sh
# CI builds with the ci preset (-Werror); elsewhere a compiler's new warning never breaks it.
if [[ $in_ci == true ]]; then
  cmake --preset ci -B "$build"
else
  cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo
fi
cmake --build "$build" -j"$(nproc)"
if [[ $in_ci == true ]]; then
  # CI builds Release too (GCC's -O2 warnings show only there; a package is built that way):
  # the shipped binaries only, in a second build dir; the tests run once, on the first build.
  cmake --preset ci-release -B "$build-release"
  cmake --build "$build-release" -j"$(nproc)" --target zdd drain-inspector zdd-demo-app
fi
cd "$build"
# The tests set up every zdd setting they use: a host's /etc/zdd/zdd.conf (zdd reads it by
# default) must not change them. Tests of the config file name theirs.
export ZDD_CONFIG=none
log=$(mktemp)
trap 'rm -f "$log"' EXIT
# Tests that bind fixed ports or load nginx share RESOURCE_LOCKs, so -j is safe.
rc=0
ctest --output-on-failure -j2 --timeout 900 "$@" 2>&1 | tee "$log" || rc=$?
if [[ $in_ci == true ]]; then
  if grep -q '^The following tests did not run:' "$log"; then
    echo "test.sh: FAIL (CI): tests that did not run:" >&2
    sed -n '/^The following tests did not run:/,/^$/p' "$log" | tail -n +2 >&2
    exit 1
  fi
  if ! grep -Eq 'tests passed, [0-9]+ tests failed out of [1-9]' "$log"; then
    echo "test.sh: FAIL (CI): ctest ran no test" >&2
    exit 1
  fi
fi
exit "$rc"
