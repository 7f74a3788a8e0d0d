/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Structs shared by the drainmon BPF programs and libdrainmon (bpf_backend.cpp). Plain C over
 * __u8..__u64: included after vmlinux.h in BPF and after <linux/types.h> in userspace.
 * Layouts are fixed-size with explicit padding so both compilers agree byte for byte.
 */
#ifndef ZDD_DRAINMON_H
#define ZDD_DRAINMON_H

#include "classify.h"

/* Bumped whenever a shared layout or a map's meaning changes: a process that reads a resident
 * monitor's pinned maps (bpf_backend.cpp) checks it against its own build. */
#define ZDD_DRAINMON_LAYOUT 11

/* A local port of one network namespace (netns = inode of /proc/<pid>/ns/net). */
struct zdd_port_key {
    __u32 netns;
    __u16 port; /* host byte order */
    __u16 pad;  /* always 0: hash keys compare every byte */
};

/* Value of the watched map. A close on the port wakes the waiter (a ring buffer event) only
 * when the port's connections (ESTABLISHED + CLOSE_WAIT) are at most wake_at afterwards: a
 * drain of 30,000 connections wakes for the ones it decides on, not for each close. A listener
 * closing always wakes. ZDD_WAKE_ALWAYS: every close wakes. */
struct zdd_watch {
    __s64 wake_at;
};
#define ZDD_WAKE_ALWAYS 0x7fffffffffffffffLL

/* Value of the counter map. Counts are signed and never clamped: a decrement below zero is
 * counted in the underflow counter and left visible. */
struct zdd_port_counters {
    __s64 established;
    __s64 close_wait;
    __s64 closing;                           /* FIN_WAIT1, FIN_WAIT2, CLOSING, LAST_ACK */
    __s64 listeners;                         /* LISTEN sockets */
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
    ZDD_MARK_LISTEN = 6,      /* counted in listeners (takes no max_sockets slot) */
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

/* Ring buffer event: a socket on a watched port left ESTABLISHED, CLOSE_WAIT or LISTEN (a
 * listener closing: the app is going away). */
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

/* One connection (ESTABLISHED, CLOSE_WAIT or closing) of a watched port as both iterators
 * write it with bpf_seq_write. LISTEN sockets are not sampled: the listeners counter holds
 * them. Orphaned FIN_WAIT2 timewait socks are not sampled either (see drainmon.bpf.c). */
struct zdd_sock_sample {
    __u32 netns;
    __u16 family;
    __u16 lport; /* host order */
    __u16 rport; /* host order */
    __u16 pad;
    __u8 laddr[16];
    __u8 raddr[16];
    struct zdd_classify_input in;
    struct zdd_verdict verdict;
    __u32 mark; /* enum zdd_mark: which counter holds the socket (after seeding) */
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
