/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Structs shared by the drainmon BPF programs and libdrainmon (bpf_backend.cpp). Plain C over
 * __u8..__u64: included after vmlinux.h in BPF and after <linux/types.h> in userspace.
 * Layouts are fixed-size with explicit padding so both compilers agree byte for byte.
 */
#ifndef ZDD_DRAINMON_H
#define ZDD_DRAINMON_H

#include "classify.h"

/* A local port of one network namespace (netns = inode of /proc/<pid>/ns/net). */
struct zdd_port_key {
    __u32 netns;
    __u16 port; /* host byte order */
    __u16 pad;  /* always 0: hash keys compare every byte */
};

/* Value of the counter map. Counts are signed and never clamped: a decrement below zero is
 * counted in the underflow counter and left visible. */
struct zdd_port_counters {
    __s64 established;
    __s64 close_wait;
    __s64 closing;                           /* FIN_WAIT1, FIN_WAIT2, CLOSING, LAST_ACK */
    __u64 state_changes[ZDD_TCP_MAX_STATES]; /* transitions into each state */
};

/* Which bucket a socket is counted in: the value of its sk_storage mark. */
enum zdd_mark {
    ZDD_MARK_UNSEEN = 0,      /* fresh storage: neither program has looked at the socket */
    ZDD_MARK_NONE = 1,        /* seen, counted nowhere (CLOSE, SYN_RECV, ...) */
    ZDD_MARK_ESTABLISHED = 2, /* counted in established */
    ZDD_MARK_CLOSE_WAIT = 3,  /* counted in close_wait */
    ZDD_MARK_CLOSING = 4,     /* counted in closing */
    ZDD_MARK_OVERFLOW = 5,    /* max_sockets reached: not counted until it leaves its bucket */
};

/* The key is kept with the mark because the kernel zeroes the socket's local port
 * (inet_num, in inet_put_port) before the final transition to CLOSE: that decrement must hit
 * the same counter entry the increment did. */
struct zdd_sk_mark {
    __u32 bucket; /* enum zdd_mark, changed only with atomic xchg/cmpxchg */
    __u32 netns;  /* the socket's zdd_port_key, set when the mark is created */
    __u16 port;
    __u16 pad;
};

/* Ring buffer event: a socket on a watched port left ESTABLISHED or CLOSE_WAIT. */
struct zdd_close_event {
    __u32 netns;
    __u16 family; /* AF_INET or AF_INET6 */
    __u16 lport;  /* host order */
    __u16 rport;  /* host order */
    __u16 pad;
    __u32 old_state; /* enum zdd_tcp_state */
    __u32 new_state;
    __u8 laddr[16]; /* IPv4: first 4 bytes */
    __u8 raddr[16];
};

/* zdd_sock_sample.flags */
enum zdd_sample_flags {
    /* An orphaned FIN_WAIT2 socket the kernel has already replaced by a timewait socket
     * (tcp_time_wait with substate FIN_WAIT2; `ss` shows it as FIN-WAIT-2). No counter holds
     * it: its full socket went to CLOSE, so userspace adds it to "closing" from the walk. */
    ZDD_SAMPLE_TIMEWAIT = 1,
};

/* One socket as the iterator writes it with bpf_seq_write (LISTEN sockets and timewait
 * FIN_WAIT2 sockets included, with zeroed input apart from the state). */
struct zdd_sock_sample {
    __u32 netns;
    __u16 family;
    __u16 lport; /* host order */
    __u16 rport; /* host order */
    __u16 flags; /* enum zdd_sample_flags */
    __u8 laddr[16];
    __u8 raddr[16];
    struct zdd_classify_input in;
    struct zdd_verdict verdict;
    __u32 mark; /* enum zdd_mark after seeding, for diagnostics */
};

/* ctx of the SEC("syscall") program that reads bpf_jiffies64() (to measure HZ where the
 * kernel config cannot be read). */
struct zdd_jiffies_ctx {
    __u64 jiffies;
};

/* ctx of classify_test.bpf.c: the kernel copy of zdd_classify() run on one table row. */
struct zdd_classify_ctx {
    struct zdd_classify_input in;
    struct zdd_thresholds thresholds;
    struct zdd_verdict verdict;
};

#endif /* ZDD_DRAINMON_H */
