#!/usr/bin/env bash
# Runs COMMAND... when root; otherwise skips (exit 77) outside CI and fails in CI, as
# every root-only test does (tests/support/test_support.hpp).
set -euo pipefail
# shellcheck source=tests/support/skip.sh
source "$(dirname "${BASH_SOURCE[0]}")/../support/skip.sh"
[[ $(id -u) -eq 0 ]] || skip_or_fail "needs root"
exec "$@"
