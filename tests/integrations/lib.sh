# shellcheck shell=bash
# Sourced by the integrations tests: need TOOL... (a missing one skips outside CI, fails in CI).
# shellcheck source=tests/support/skip.sh
source "$(dirname "${BASH_SOURCE[0]}")/../support/skip.sh"
need() {
    local t
    for t in "$@"; do command -v "$t" >/dev/null || skip_or_fail "missing tool: $t"; done
}
