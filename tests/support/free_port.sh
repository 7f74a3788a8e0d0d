# shellcheck shell=bash
# Sourced by shell tests: `free_port [TAKEN...]` prints a loopback port no TCP socket uses now
# (and not one of TAKEN), from the block below the kernel's ephemeral range, as
# tests/support/test_support.cpp's free_port() and scripts/demo.sh pick theirs: a port bound to 0
# and closed comes from the ephemeral range, where any connect() may take it before it is used.
read -r zdd_ephemeral_lo zdd_ephemeral_hi </proc/sys/net/ipv4/ip_local_port_range

free_port() {
    local lo hi p i
    if ((zdd_ephemeral_lo >= 5024)); then
        lo=$((zdd_ephemeral_lo - 4000)) hi=$((zdd_ephemeral_lo - 1))
    elif ((zdd_ephemeral_hi <= 61535)); then
        lo=$((zdd_ephemeral_hi + 1)) hi=$((zdd_ephemeral_hi + 4000))
    else
        lo=10000 hi=13999 # the ephemeral range is everything: any block is as good
    fi
    for ((i = 0; i < 20000; i++)); do
        p=$((lo + RANDOM % (hi - lo + 1)))
        [[ " $* " == *" $p "* ]] && continue
        [[ -z $(ss -Htan "( sport = :$p )" 2>/dev/null) ]] && { echo "$p"; return 0; }
    done
    echo "free_port: no free port in $lo-$hi" >&2
    return 1
}
