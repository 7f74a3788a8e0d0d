#!/usr/bin/env bash
# Builds zdd's Debian package from this checkout and installs it with apt, so the tools are on
# PATH (zdd, vibe-zero-downtime, drain-inspector, zdd-demo-app) with bash completion, the
# default /etc/zdd/zdd.conf and the docs. `apt-get remove zdd` undoes it (`purge` also drops
# /etc/zdd/zdd.conf). Run as root on Debian 12; it installs the build dependencies it needs
# (scripts/install-deps.sh --runtime --build) first.
# Usage: scripts/install.sh [--build-dir DIR] [--no-install]
#   --build-dir DIR  where to configure and build (default: build-deb in the checkout)
#   --no-install     build the .deb, print its path, install nothing
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$ROOT/build-deb
INSTALL=1
while (($#)); do
    case $1 in
    --build-dir)
        BUILD=${2:?--build-dir needs a directory}
        shift
        ;;
    --no-install) INSTALL=0 ;;
    -h | --help)
        sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'
        exit 0
        ;;
    *)
        echo "install.sh: unknown option $1 (see --help)" >&2
        exit 2
        ;;
    esac
    shift
done
[[ $(id -u) -eq 0 ]] || { echo "install.sh: run as root (apt installs the package)" >&2; exit 2; }

say() { printf '[install] %s\n' "$*"; }

say "dependencies (scripts/install-deps.sh --runtime --build)"
bash "$ROOT/scripts/install-deps.sh" --runtime --build

generator=()
command -v ninja >/dev/null && generator=(-G Ninja)
launcher=()
command -v ccache >/dev/null &&
    launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)
# RelWithDebInfo as CI and the lab build it (shared ccache hits); CPack strips the binaries.
say "configure and build in $BUILD (tests not built)"
cmake -S "$ROOT" -B "$BUILD" "${generator[@]}" "${launcher[@]}" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DZDD_BUILD_TESTS=OFF >/dev/null
cmake --build "$BUILD" --parallel "$(nproc)"

say "package (cpack -G DEB)"
rm -f "$BUILD"/zdd_*.deb
(cd "$BUILD" && cpack -G DEB >/dev/null)
deb=$(find "$BUILD" -maxdepth 1 -name 'zdd_*.deb' | head -1)
[[ -n $deb ]] || { echo "install.sh: cpack made no zdd_*.deb in $BUILD" >&2; exit 1; }
say "built $deb"
((INSTALL)) || exit 0

say "apt-get install $deb"
# apt needs a path with a slash to take a file; it resolves the package's library dependencies.
# --reinstall: a rebuild of the same version (a newer checkout) replaces the installed files.
DEBIAN_FRONTEND=noninteractive apt-get install -y --reinstall "$deb"
say "installed: $(command -v zdd) $(command -v drain-inspector) $(command -v zdd-demo-app)"
say "next: zdd init (sets up nginx, the token and /etc/zdd/zdd.conf); undo: apt-get remove zdd"
