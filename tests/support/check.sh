# Shell tests' shared helpers (source it): skip_or_fail, and [CHECK] lines counted in $failures.
# shellcheck shell=bash

# skip_or_fail: a test that cannot run skips (exit 77) outside CI and fails in CI (skip.sh).
# shellcheck source=tests/support/skip.sh
source "$(dirname "${BASH_SOURCE[0]}")/skip.sh"

failures=0
pass() { printf '[CHECK] ok   %s\n' "$*"; }
fail() {
    printf '[CHECK] FAIL %s\n' "$*"
    failures=$((failures + 1))
}
check() {  # DESCRIPTION COMMAND...
    local what=$1
    shift
    if "$@"; then pass "$what"; else fail "$what"; fi
}
# Ends the test: exit 1 when any check failed.
finish_checks() {  # NAME
    if ((failures)); then
        echo "$1: $failures check(s) failed" >&2
        exit 1
    fi
    echo "$1: all checks passed"
}
