#!/usr/bin/env bash
# A minimal Debian 12 with systemd as PID 1, in a container on this machine: where the VM lab's
# provisioner and zdd's systemd runner meet the real thing when no VM can boot (CI). The one
# helper every container test uses (tests/lab/container_lab.sh). Needs root, debootstrap and
# systemd-nspawn (scripts/install-deps.sh --test).
#
# Usage: container.sh COMMAND [ARGS]
#   base                  build the cached root once, then reuse it: debootstrap --variant=minbase
#                         bookworm + systemd, systemd-sysv, dbus, in $ZDD_LAB_CACHE/bookworm-minbase
#   create DIR [SRC]      DIR/root: a fresh copy of the cached root; with SRC, the source tree is
#                         copied to /vagrant as the Vagrantfile's rsync does (no .git, no build*)
#   offline-run DIR CMD.. CMD in DIR/root, not booted, on this machine's network with services
#                         kept from starting (policy-rc.d): the apt step, before the boot
#   boot DIR              boots DIR/root (systemd-nspawn --boot --register=no --private-network)
#                         and waits until systemd is up; console in DIR/console.log
#   exec DIR CMD...       CMD inside the booted container (nsenter into its PID 1), clean env
#   stop DIR              orderly shutdown, SIGKILL after 30 s
#   destroy DIR           stop, then remove DIR
# Env: ZDD_LAB_CACHE (default /var/cache/zdd-lab), ZDD_LAB_MIRROR (default deb.debian.org).
#
# Why the apt step runs before the boot: a booted container with networking would share this
# machine's network namespace (nginx on port 80, the app ports), so the booted one only ever has
# --private-network; apt runs in the same root before, where services cannot start.
set -euo pipefail

CACHE=${ZDD_LAB_CACHE:-/var/cache/zdd-lab}
MIRROR=${ZDD_LAB_MIRROR:-http://deb.debian.org/debian}
BASE=$CACHE/bookworm-minbase
# Bump when the package list changes: a new root is built next to the old one.
BASE_PKGS=systemd,systemd-sysv,dbus
BASE_STAMP="bookworm minbase $BASE_PKGS v1"
PATH_IN=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

die() {
    echo "container.sh: $*" >&2
    exit 2
}
need_root() { [[ $(id -u) -eq 0 ]] || die "needs root"; }
# nspawn's options for DIR: no machined and no scope unit (systemd is not PID 1 on the host),
# a machine name of its own so two containers never share nspawn's runtime paths.
nspawn_opts() {
    local name
    name=$(basename "$1" | tr -c 'A-Za-z0-9\n-' - | cut -c1-50)
    printf '%s\n' -q -D "$1/root" --register=no --keep-unit "--machine=zdd-$name"
}

cmd_base() {
    need_root
    mkdir -p "$CACHE"
    exec 8>"$CACHE/.lock"
    flock 8  # one builder at a time; the others reuse its root
    if [[ -f $BASE/.zdd-stamp && $(cat "$BASE/.zdd-stamp") == "$BASE_STAMP" ]]; then
        echo "$BASE"
        return 0
    fi
    command -v debootstrap >/dev/null || die "debootstrap not found (scripts/install-deps.sh --test)"
    local tmp=$CACHE/.bookworm-minbase.new
    rm -rf "$tmp"
    echo "container.sh: building $BASE (debootstrap, a few minutes, once)" >&2
    debootstrap --variant=minbase --include="$BASE_PKGS" bookworm "$tmp" "$MIRROR" >"$CACHE/debootstrap.log" 2>&1 ||
        die "debootstrap failed (see $CACHE/debootstrap.log)"
    # The same sources the host uses, so apt inside finds updates too.
    cat >"$tmp/etc/apt/sources.list" <<EOF
deb $MIRROR bookworm main
deb $MIRROR bookworm-updates main
deb http://deb.debian.org/debian-security bookworm-security main
EOF
    echo zdd-lab >"$tmp/etc/hostname"
    # Root login is never needed (nsenter), and no getty on a console nobody reads.
    ln -sf /dev/null "$tmp/etc/systemd/system/console-getty.service"
    echo "$BASE_STAMP" >"$tmp/.zdd-stamp"
    rm -rf "$BASE"
    mv "$tmp" "$BASE"
    echo "$BASE"
}

cmd_create() {
    local dir=${1:?create DIR [SRC]} src=${2:-}
    need_root
    cmd_base >/dev/null
    [[ ! -e $dir/nspawn.pid ]] || cmd_stop "$dir"
    rm -rf "$dir/root"
    mkdir -p "$dir"
    cp -a --reflink=auto "$BASE" "$dir/root"
    if [[ -n $src ]]; then
        mkdir -p "$dir/root/vagrant"
        tar -C "$src" --exclude=./.git --exclude='./build*' --exclude=./vagrant/.vagrant -cf - . |
            tar -C "$dir/root/vagrant" -xf -
    fi
}

cmd_offline_run() {
    local dir=${1:?offline-run DIR CMD...}
    shift
    need_root
    [[ -d $dir/root ]] || die "$dir/root missing (container.sh create)"
    mkdir -p "$CACHE/apt-archives/partial"
    # exit 101: "action forbidden", so package scripts never start nginx on this machine.
    printf '#!/bin/sh\nexit 101\n' >"$dir/root/usr/sbin/policy-rc.d"
    chmod 0755 "$dir/root/usr/sbin/policy-rc.d"
    local rc=0
    local opts
    mapfile -t opts < <(nspawn_opts "$dir")
    systemd-nspawn "${opts[@]}" --pipe \
        --bind="$CACHE/apt-archives:/var/cache/apt/archives" \
        env -i PATH=$PATH_IN HOME=/root LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive "$@" </dev/null || rc=$?
    rm -f "$dir/root/usr/sbin/policy-rc.d"
    return "$rc"
}

# The container's PID 1 as the host sees it: the child of nspawn that is pid 1 in its namespace.
leader_pid() {
    local nspawn=$1 f pid
    for f in /proc/[0-9]*/status; do
        pid=${f#/proc/}
        pid=${pid%/status}
        awk -v p="$nspawn" '$1 == "PPid:" && $2 == p { pp = 1 } $1 == "NSpid:" && $NF == 1 && NF > 2 { ns = 1 }
            END { exit !(pp && ns) }' "$f" 2>/dev/null && { echo "$pid"; return 0; }
    done
    return 1
}

cmd_boot() {
    local dir=${1:?boot DIR}
    need_root
    [[ -d $dir/root ]] || die "$dir/root missing (container.sh create)"
    command -v systemd-nspawn >/dev/null || die "systemd-nspawn not found (scripts/install-deps.sh --test)"
    [[ ! -e $dir/nspawn.pid ]] || cmd_stop "$dir"
    local opts
    mapfile -t opts < <(nspawn_opts "$dir")
    setsid systemd-nspawn "${opts[@]}" --boot --private-network \
        --console=read-only >"$dir/console.log" 2>&1 </dev/null &
    local nspawn=$!
    echo "$nspawn" >"$dir/nspawn.pid"
    local leader='' i
    for ((i = 0; i < 300; i++)); do
        kill -0 "$nspawn" 2>/dev/null || { tail -20 "$dir/console.log" >&2; die "systemd-nspawn exited"; }
        leader=$(leader_pid "$nspawn") && break
        sleep 0.1
    done
    [[ -n $leader ]] || die "no container PID 1 after 30 s (see $dir/console.log)"
    echo "$leader" >"$dir/leader.pid"
    # running or degraded: systemd has finished starting units either way.
    local state
    state=$(timeout 120 nsenter -t "$leader" -a env -i PATH=$PATH_IN \
        systemctl is-system-running --wait 2>/dev/null) || true
    case $state in
    running | degraded) echo "container.sh: $dir booted ($state, PID 1 is $leader here)" >&2 ;;
    *) tail -20 "$dir/console.log" >&2; die "systemd did not come up in 120 s (state '$state')" ;;
    esac
}

cmd_exec() {
    local dir=${1:?exec DIR CMD...}
    shift
    [[ -s $dir/leader.pid ]] || die "$dir is not booted (container.sh boot)"
    local leader
    leader=$(cat "$dir/leader.pid")
    [[ -d /proc/$leader ]] || die "$dir: the container (PID 1 $leader) is gone"
    exec nsenter -t "$leader" -a env -i PATH=$PATH_IN HOME=/root LANG=C.UTF-8 TERM=dumb \
        ${CI:+CI=$CI} "$@"
}

cmd_stop() {
    local dir=${1:?stop DIR} nspawn i
    [[ -s $dir/nspawn.pid ]] || return 0
    nspawn=$(cat "$dir/nspawn.pid")
    if kill -0 "$nspawn" 2>/dev/null; then
        kill -TERM "$nspawn"  # nspawn --boot turns it into an orderly shutdown
        for ((i = 0; i < 300; i++)); do
            kill -0 "$nspawn" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$nspawn" 2>/dev/null || true
    fi
    rm -f "$dir/nspawn.pid" "$dir/leader.pid"
}

cmd_destroy() {
    local dir=${1:?destroy DIR}
    cmd_stop "$dir"
    rm -rf "$dir"
}

case ${1:-} in
base) shift; cmd_base "$@" ;;
create) shift; cmd_create "$@" ;;
offline-run) shift; cmd_offline_run "$@" ;;
boot) shift; cmd_boot "$@" ;;
exec) shift; cmd_exec "$@" ;;
stop) shift; cmd_stop "$@" ;;
destroy) shift; cmd_destroy "$@" ;;
-h | --help) sed -n '2,24p' "$0" | sed 's/^# \{0,1\}//' ;;
*) die "unknown command '${1:-}' (see --help)" ;;
esac
