#!/usr/bin/env bash
# Runs COMMAND... when root; otherwise skips (exit 77) outside CI and fails under CI=true, as
# every root-only test does (tests/support/test_support.hpp).
set -euo pipefail
if [[ $(id -u) -ne 0 ]]; then
    if [[ ${CI:-} == true ]]; then
        echo "FAIL (CI): needs root" >&2
        exit 1
    fi
    echo "SKIP: needs root" >&2
    exit 77
fi
exec "$@"
