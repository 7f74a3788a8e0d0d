# shellcheck shell=bash
# Sourced by the integrations tests: a missing tool or privilege skips (exit 77) outside CI
# and fails under CI=true.
skip() {
    echo "$1" >&2
    if [[ "${CI:-}" == true ]]; then exit 1; fi
    exit 77
}
need() {
    local t
    for t in "$@"; do command -v "$t" >/dev/null || skip "missing tool: $t"; done
}
