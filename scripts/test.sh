#!/usr/bin/env bash
# The README's test command: install dependencies, configure, build, run every test.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
build="${BUILD_DIR:-$root/build}"

bash scripts/install-deps.sh
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo
cmake --build "$build" -j"$(nproc)"
cd "$build"
# Tests that bind fixed ports or load nginx share RESOURCE_LOCKs, so -j is safe.
ctest --output-on-failure -j2 --timeout 900 "$@"
