#!/usr/bin/env bash
# ctest `completion`: packaging/completion/zdd.bash, sourced into bash with the build's zdd and
# drain-inspector first on PATH, completes subcommands, options (every long option of `zdd init
# --help` and `drain-inspector wait --help`, since both are read from --help), option values
# (--color, --backend), the deploy BINARY as a path, and is registered for all three names.
# Usage: completion_test.sh SOURCE_DIR BUILD_DIR        (no root, no network)
set -euo pipefail

SRC=${1:?usage: completion_test.sh SOURCE_DIR BUILD_DIR}
BUILD=${2:?usage: completion_test.sh SOURCE_DIR BUILD_DIR}
for b in "$BUILD/orchestrator/zdd" "$BUILD/userspace/drain-inspector"; do
    [[ -x $b ]] || { echo "FAIL: $b not built" >&2; exit 1; }
done
PATH=$BUILD/orchestrator:$BUILD/userspace:$PATH
ln -sf zdd "$BUILD/orchestrator/vibe-zero-downtime"  # as the build's POST_BUILD step makes it

# shellcheck source=packaging/completion/zdd.bash
source "$SRC/packaging/completion/zdd.bash"

# shellcheck source=tests/support/check.sh
source "$SRC/tests/support/check.sh"
# What bash would offer for the words given (the last one is the word being completed).
complete_line() {
    COMP_WORDS=("$@")
    COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
    COMPREPLY=()
    _zdd_complete "$1" "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
    printf '%s\n' "${COMPREPLY[@]}" | sort
}
expect() {  # "WANTED WORDS" LINE...: the offers are exactly WANTED (sorted)
    local want got
    want=$(tr ' ' '\n' <<<"$1" | sort)
    shift
    got=$(complete_line "$@")
    check "$* -> [${got//$'\n'/ }], wanted [${want//$'\n'/ }]" test "$got" == "$want"
}
includes() {  # WORD LINE...: WORD is among the offers
    local word=$1
    shift
    check "$* offers $word" grep -qxF -- "$word" < <(complete_line "$@")
}

expect "deploy status rollback drain doctor init install-units --help" zdd ""
expect "init install-units" zdd in
# Each subcommand offers its own options: init takes no drain options.
expect "--dry-run" zdd init --d
expect "--drain-timeout" zdd deploy --dr
expect "--force" zdd init --fo
expect "blue green" zdd drain --color ""
expect "bpf" zdd status --backend b
expect "deploy status rollback --help" vibe-zero-downtime ""
expect "snapshot wait watch metrics serve --help" drain-inspector ""
expect "--json" drain-inspector snapshot --js
expect "--textfile-dir" drain-inspector metrics --text
expect "auto bpf sock_diag" drain-inspector wait --backend ""
includes "$SRC/scripts/install.sh" zdd deploy "$SRC/scripts/ins"
includes "$SRC/packaging/zdd.conf" zdd init --config "$SRC/packaging/zdd"

# Every long option the binaries list is offered (completion reads --help, so none is missed).
for line in "zdd init" "drain-inspector wait"; do
    read -r cmd sub <<<"$line"
    while read -r opt; do
        includes "$opt" "$cmd" "$sub" "$opt"
    done < <("$cmd" "$sub" --help | grep -oE -- '(^|[ ,])--[a-z][a-z0-9-]*' | grep -oE -- '--[a-z0-9-]+' | sort -u)
done

for name in zdd vibe-zero-downtime drain-inspector; do
    check "completion registered for $name" grep -q -- '-F _zdd_complete' < <(complete -p "$name")
done

finish_checks completion_test
