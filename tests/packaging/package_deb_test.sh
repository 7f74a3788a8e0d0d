#!/usr/bin/env bash
# ctest `package_deb`: the Debian package as an operator meets it (issue 7, Packaging).
# Builds the .deb with `cpack -G DEB` in the build dir, installs it into this machine with
# `dpkg -i`, runs the installed binaries from /usr/bin, checks the default config and the nginx
# example, writes the systemd units with `zdd install-units` and passes them through
# `systemd-analyze verify` (it needs no systemd as PID 1). The package is purged afterwards,
# also on failure.
# Usage: package_deb_test.sh BUILD_DIR         (root; exit 77 = skipped, outside CI only)
set -euo pipefail

BUILD=${1:?usage: package_deb_test.sh BUILD_DIR}
PKG=zdd
# Set while the package on this machine is the one this test installed: a run killed by a
# timeout leaves it behind, and the next run may then remove it; any other zdd is not touched.
MARKER=/var/lib/zdd-package-test.installed

# shellcheck source=tests/support/check.sh
source "$(dirname "${BASH_SOURCE[0]}")/../support/check.sh"
[[ $(id -u) -eq 0 ]] || skip_or_fail "needs root (dpkg -i into the system)"
for c in cpack dpkg dpkg-deb systemd-analyze; do
    command -v "$c" >/dev/null || skip_or_fail "$c not found (scripts/install-deps.sh)"
done

if dpkg-query -W -f='${Status}' "$PKG" 2>/dev/null | grep -q 'ok installed'; then
    [[ -e $MARKER ]] || {
        echo "FAIL: a '$PKG' package is already installed and not by this test; remove it" \
            "(dpkg --purge $PKG) to run this test" >&2
        exit 1
    }
    echo "removing the $PKG package a killed earlier run left behind"
    dpkg --purge "$PKG" >/dev/null
fi

WORK=$(mktemp -d /tmp/zdd-package-test.XXXXXX)
cleanup() {
    local rc=$?
    if [[ -e $MARKER ]]; then
        dpkg --purge "$PKG" >/dev/null 2>&1 || echo "warning: dpkg --purge $PKG failed" >&2
        rm -f "$MARKER"
    fi
    rm -rf "$WORK"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- The package ---------------------------------------------------------------------------------
echo "== cpack -G DEB in $BUILD (output in $WORK)"
(cd "$BUILD" && cpack -G DEB -B "$WORK/cpack") >"$WORK/cpack.log" 2>&1 || {
    tail -30 "$WORK/cpack.log"
    echo "FAIL: cpack -G DEB failed" >&2
    exit 1
}
DEB=$(find "$WORK/cpack" -maxdepth 1 -name "${PKG}_*.deb" | head -1)
[[ -n $DEB ]] || { echo "FAIL: cpack made no ${PKG}_*.deb" >&2; exit 1; }
echo "   $(basename "$DEB"): $(stat -c %s "$DEB") bytes"
dpkg-deb --info "$DEB" | sed -n '/Package:/,$p' | sed 's/^/   /'
CONTENTS=$(dpkg-deb --contents "$DEB")
for f in ./usr/bin/zdd ./usr/bin/drain-inspector ./usr/bin/zdd-demo-app ./usr/bin/vibe-zero-downtime \
    ./etc/zdd/zdd.conf ./usr/share/doc/zdd/examples/nginx/zdd-site.conf; do
    check "the package holds $f" grep -q " $f\( \|$\)" <<<"$CONTENTS"
done
# Nothing may land elsewhere (an install(CODE) path built from an unset variable ends up in /).
stray=$(awk '{print $6}' <<<"$CONTENTS" | grep -v -E '^\./(usr|etc)/' | grep -v -x '\./' || true)
check "the package installs only under /usr and /etc${stray:+ (stray: $(echo "$stray" | tr '\n' ' '))}" \
    test -z "$stray"
check "vibe-zero-downtime is a symlink to zdd" grep -q ' ./usr/bin/vibe-zero-downtime -> zdd$' <<<"$CONTENTS"
check "/etc/zdd/zdd.conf is a conffile" grep -qx '/etc/zdd/zdd.conf' <(dpkg-deb --ctrl-tarfile "$DEB" | tar -xO ./conffiles)

# --- Installed into this machine -----------------------------------------------------------------
echo "== dpkg -i $(basename "$DEB")"
touch "$MARKER"
if ! dpkg -i "$DEB" >"$WORK/dpkg.log" 2>&1; then
    cat "$WORK/dpkg.log"
    echo "FAIL: dpkg -i failed" >&2
    exit 1
fi
pass "dpkg -i installs the package"

helps() {  # BINARY WORD: --help from /usr/bin exits 0 and mentions WORD
    local out
    out=$("$1" --help 2>&1) || { echo "$out" | head -5; return 1; }
    grep -q -- "$2" <<<"$out"
}
check "/usr/bin/zdd --help lists deploy" helps /usr/bin/zdd deploy
check "/usr/bin/zdd --help lists install-units" helps /usr/bin/zdd install-units
check "/usr/bin/vibe-zero-downtime --help (the original script's name)" \
    helps /usr/bin/vibe-zero-downtime vibe-zero-downtime
check "/usr/bin/drain-inspector --help" helps /usr/bin/drain-inspector snapshot
check "/usr/bin/zdd-demo-app --help" helps /usr/bin/zdd-demo-app /health/deployment

# Every setting in the default config is commented out, so env vars and defaults rule.
check "/etc/zdd/zdd.conf sets nothing (every non-blank line a comment)" \
    test -z "$(grep -v -E '^[[:space:]]*(#|$)' /etc/zdd/zdd.conf)"
# zdd reads it without error: an unknown or mistyped key would be refused.
mkdir -p "$WORK/cfg-units"
check "zdd accepts /etc/zdd/zdd.conf (install-units --config)" \
    /usr/bin/zdd install-units --config /etc/zdd/zdd.conf --service zddcfg --dir "$WORK/cfg-units"
check "the nginx example is installed" test -s /usr/share/doc/zdd/examples/nginx/zdd-site.conf
for c in zdd vibe-zero-downtime drain-inspector; do
    check "bash completion for $c is installed" test -s "/usr/share/bash-completion/completions/$c"
done

# --- systemd units ---------------------------------------------------------------------------------
echo "== zdd install-units --service zddpkg --dir $WORK/units"
mkdir -p "$WORK/units" "$WORK/state"
if /usr/bin/zdd install-units --service zddpkg --dir "$WORK/units" --state-dir "$WORK/state" \
    >"$WORK/units.log" 2>&1; then
    pass "zdd install-units exits 0"
else
    sed 's/^/   /' "$WORK/units.log"
    fail "zdd install-units exits 0"
fi
for color in blue green; do
    check "zddpkg-$color.service written" test -s "$WORK/units/zddpkg-$color.service"
done
if [[ -s $WORK/units/zddpkg-blue.service && -s $WORK/units/zddpkg-green.service ]]; then
    sed 's/^/   /' "$WORK/units/zddpkg-blue.service"
    # A deployed host has a release behind each color link (zdd's state dir); stand one in, so
    # verify judges the units as they would run.
    ln -s /usr/bin/zdd-demo-app "$WORK/state/blue"
    ln -s /usr/bin/zdd-demo-app "$WORK/state/green"
    if systemd-analyze verify "$WORK/units/zddpkg-blue.service" "$WORK/units/zddpkg-green.service" \
        >"$WORK/verify.log" 2>&1; then
        pass "systemd-analyze verify accepts both units"
    else
        sed 's/^/   /' "$WORK/verify.log"
        fail "systemd-analyze verify accepts both units"
    fi
    # The same verify fails on a unit whose release is missing: the check above can fail.
    rm "$WORK/state/green"
    rejects() { ! systemd-analyze verify "$1" >/dev/null 2>&1; }
    check "systemd-analyze verify rejects a unit whose release link is missing" \
        rejects "$WORK/units/zddpkg-green.service"
fi

# --- Removal ------------------------------------------------------------------------------------
check "dpkg --purge removes the package" dpkg --purge "$PKG"
rm -f "$MARKER"
check "/usr/bin/zdd is gone after the purge" test ! -e /usr/bin/zdd
check "/etc/zdd/zdd.conf is gone after the purge" test ! -e /etc/zdd/zdd.conf

finish_checks package_deb
