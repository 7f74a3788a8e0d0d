// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * drainmon: per-(netns, local port) TCP connection and listener counts, close events and
 * per-socket samples (docs/design.md, "Kernel facts").
 *
 * - zdd_set_state (tp_btf/inet_sock_set_state) moves sockets of watched ports between the
 *   established / close_wait / closing / listeners buckets and emits a ring buffer event when
 *   one leaves ESTABLISHED, CLOSE_WAIT or LISTEN. Sockets of ports nobody watches stop at a
 *   65,536-bit port bitmap, before any map or storage lookup.
 * - zdd_iter_tcp (iter/tcp) seeds sockets that existed before the port was watched (one walk
 *   per newly watched port set), and writes one zdd_sock_sample per connection of a watched
 *   port, classified in the kernel.
 * - zdd_iter_marks (iter/bpf_sk_storage_map over zdd_sk_marks) writes the same samples from
 *   the marked sockets only: only sockets of watched ports carry a mark, so a walk costs what
 *   the watched ports hold, whatever else the host has.
 * - Each socket's sk_storage mark says which bucket it is counted in. The tracepoint swaps the
 *   mark with xchg; the iterator only claims a socket whose mark is still UNSEEN (cmpxchg), so a
 *   socket is never counted twice. (Both also run under the socket lock: iter/tcp takes
 *   lock_sock_fast, state changes hold the socket lock, so the atomics are a second guard.)
 */
#include "vmlinux.h"

#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "drainmon.h"

#define AF_INET 2
#define AF_INET6 10
#define IPPROTO_TCP 6

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Set by userspace before load (BackendOptions). Read through volatile so clang keeps the
 * loads and libbpf's rewritten values are used. */
const volatile __u32 cfg_max_sockets = 1u << 20;
const volatile __u32 cfg_idle_after_ms = 5000;
const volatile __u32 cfg_push_gap_ms = 1000;
const volatile __u32 cfg_stuck_after_ms = 30000;
const volatile __u32 cfg_layout = ZDD_DRAINMON_LAYOUT; /* checked by readers of pinned maps */

/* Read by userspace through the skeleton's mmapped .bss. */
__u64 overflow_count = 0;  /* sockets/ports a bound could not hold, storage that failed */
__u64 underflow_count = 0; /* decrements below zero: must stay 0 */
__u64 dropped_events = 0;  /* ring buffer full */
__s64 tracked_sockets = 0; /* sockets counted in some bucket now (bounded by cfg_max_sockets) */
__u32 hz_fallback = 0;     /* HZ measured by userspace, used when CONFIG_HZ is unknown */
/* The process that pinned this monitor (0: not pinned) and its start time (clock ticks since
 * boot, /proc/PID/stat field 22): readers tell a live resident monitor from a stale one. */
__u32 owner_pid = 0;
__u64 owner_start = 0;

/* One bit per local port, set by userspace (mmapped .bss) when it watches the port in any
 * namespace; bits are never cleared while loaded. The tracepoint tests it first: for the
 * sockets of every other port that is the whole cost. zdd_watched still decides (netns). */
__u64 zdd_port_bits[1024] = {};

extern unsigned int CONFIG_HZ __kconfig __weak;

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 1024); /* max_ports, set before load */
    __type(key, struct zdd_port_key);
    __type(value, struct zdd_watch);
} zdd_watched SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 1024); /* max_ports, set before load */
    __type(key, struct zdd_port_key);
    __type(value, struct zdd_port_counters);
} zdd_counts SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_SK_STORAGE);
    __uint(map_flags, BPF_F_NO_PREALLOC);
    __type(key, int);
    __type(value, struct zdd_sk_mark);
} zdd_sk_marks SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_RINGBUF);
    __uint(max_entries, 1 << 20); /* ringbuf_bytes, set before load */
} zdd_events SEC(".maps");

static __always_inline __u32 netns_of(const struct sock_common* skc) {
    return BPF_CORE_READ(skc, skc_net.net, ns.inum);
}

static __always_inline __u32 bucket_of(int state) {
    switch (state) {
        case ZDD_TCP_ESTABLISHED:
            return ZDD_MARK_ESTABLISHED;
        case ZDD_TCP_CLOSE_WAIT:
            return ZDD_MARK_CLOSE_WAIT;
        case ZDD_TCP_FIN_WAIT1:
        case ZDD_TCP_FIN_WAIT2:
        case ZDD_TCP_CLOSING:
        case ZDD_TCP_LAST_ACK:
            return ZDD_MARK_CLOSING;
        case ZDD_TCP_LISTEN:
            return ZDD_MARK_LISTEN;
        default:
            return ZDD_MARK_NONE; /* TIME_WAIT and CLOSE are never connections */
    }
}

/* A connection bucket: counted, and holding one of cfg_max_sockets slots. */
static __always_inline int conn(__u32 mark) {
    return mark >= ZDD_MARK_ESTABLISHED && mark <= ZDD_MARK_CLOSING;
}

/* Any bucket with a counter: the connection buckets and listeners. */
static __always_inline int held(__u32 mark) {
    return conn(mark) || mark == ZDD_MARK_LISTEN;
}

static __always_inline __s64* bucket_field(struct zdd_port_counters* c, __u32 mark) {
    if (mark == ZDD_MARK_ESTABLISHED) return &c->established;
    if (mark == ZDD_MARK_CLOSE_WAIT) return &c->close_wait;
    if (mark == ZDD_MARK_LISTEN) return &c->listeners;
    return &c->closing;
}

static __always_inline int port_watched(__u16 port) {
    return (zdd_port_bits[port >> 6] >> (port & 63)) & 1;
}

/* The port's counter entry, created on first use; NULL (and overflow) when the map is full. */
static __always_inline struct zdd_port_counters* port_counters(const struct zdd_port_key* key) {
    struct zdd_port_counters* c = bpf_map_lookup_elem(&zdd_counts, key);
    if (c) return c;
    struct zdd_port_counters zero = {};
    /* EEXIST from a concurrent insert is fine: look it up again either way */
    bpf_map_update_elem(&zdd_counts, key, &zero, BPF_NOEXIST);
    c = bpf_map_lookup_elem(&zdd_counts, key);
    if (!c) __sync_fetch_and_add(&overflow_count, 1);
    return c;
}

/* Take one of cfg_max_sockets slots; false (slot not taken) when all are in use. */
static __always_inline int reserve_slot(void) {
    if (__sync_fetch_and_add(&tracked_sockets, 1) >= (__s64)cfg_max_sockets) {
        __sync_fetch_and_add(&tracked_sockets, -1);
        return 0;
    }
    return 1;
}

static __always_inline void count_dec(struct zdd_port_counters* c, __u32 mark) {
    if (__sync_fetch_and_add(bucket_field(c, mark), -1) <= 0)
        __sync_fetch_and_add(&underflow_count, 1);
}

static __always_inline void read_addrs(const struct sock_common* skc, __u16 family, __u8* laddr,
                                       __u8* raddr) {
    if (family == AF_INET6) {
        BPF_CORE_READ_INTO((struct in6_addr*)laddr, skc, skc_v6_rcv_saddr);
        BPF_CORE_READ_INTO((struct in6_addr*)raddr, skc, skc_v6_daddr);
    } else {
        BPF_CORE_READ_INTO((__be32*)laddr, skc, skc_rcv_saddr);
        BPF_CORE_READ_INTO((__be32*)raddr, skc, skc_daddr);
    }
}

/* The socket's local port. The kernel zeroes inet_num (skc_num) in inet_put_port() just before
 * the transition to CLOSE; inet_sport still holds the port then. skc_num is read directly (a
 * plain load): this runs for every state change of the host. */
static __always_inline __u16 local_port_of(const struct sock* sk) {
    __u16 port = sk->__sk_common.skc_num;
    if (!port) port = bpf_ntohs(BPF_CORE_READ((const struct inet_sock*)sk, inet_sport));
    return port;
}

/* A mark takes the socket's key when it is counted nowhere yet (a closed socket may be bound
 * or connected again on another port); while counted, it keeps the key it was counted under. */
static __always_inline void mark_key(struct zdd_sk_mark* m, const struct zdd_port_key* key) {
    if (!m->port || m->bucket == ZDD_MARK_NONE) {
        m->netns = key->netns;
        m->port = key->port;
    }
}

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(zdd_set_state, const struct sock* sk, int oldstate, int newstate) {
    /* inet_sk_set_state() also fires for other inet protocols */
    if (sk->sk_protocol != IPPROTO_TCP) return 0;
    __u16 port = local_port_of(sk);
    if (!port_watched(port)) return 0;

    const struct sock_common* skc = &sk->__sk_common;
    struct zdd_port_key key = {};
    struct zdd_sk_mark* m = bpf_sk_storage_get(&zdd_sk_marks, (void*)sk, 0, 0);
    if (m && m->port && m->bucket != ZDD_MARK_NONE) {
        /* counted under this key: decrement under it too */
        key.netns = m->netns;
        key.port = m->port;
    } else {
        key.netns = netns_of(skc);
        key.port = port;
    }
    const struct zdd_watch* w = bpf_map_lookup_elem(&zdd_watched, &key);
    if (!w) return 0;

    struct zdd_port_counters* c = port_counters(&key);
    if (c && oldstate != newstate && newstate >= 0 && newstate < ZDD_TCP_MAX_STATES)
        __sync_fetch_and_add(&c->state_changes[newstate], 1);

    __u32 nb = bucket_of(newstate);
    /* A socket with no mark was never counted: it gets one only on its way into a counted
     * bucket, which saves an allocation for connections that never get there. */
    if (!m && held(nb)) {
        m = bpf_sk_storage_get(&zdd_sk_marks, (void*)sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
        if (!m) __sync_fetch_and_add(&overflow_count, 1);
    }
    if (m) {
        mark_key(m, &key);
        __u32 old = __sync_lock_test_and_set(&m->bucket, nb);
        __u32 now_in = nb;
        if (held(nb) && (old == ZDD_MARK_OVERFLOW || !c)) {
            /* It was never counted: keep it out until it leaves the counted buckets. */
            __sync_lock_test_and_set(&m->bucket, ZDD_MARK_OVERFLOW);
            now_in = ZDD_MARK_OVERFLOW;
        } else if (conn(nb) && !conn(old) && !reserve_slot()) {
            __sync_lock_test_and_set(&m->bucket, ZDD_MARK_OVERFLOW);
            __sync_fetch_and_add(&overflow_count, 1);
            now_in = ZDD_MARK_OVERFLOW;
        }
        if (c && held(now_in)) __sync_fetch_and_add(bucket_field(c, now_in), 1);
        if (c && held(old)) count_dec(c, old);
        if (conn(old) && !conn(now_in)) __sync_fetch_and_add(&tracked_sockets, -1);
    }

    /* A listener closing wakes the waiter too: "the app is gone" is seen at once. (LISTEN ->
     * SYN_RECV is no close: inet_csk_clone_lock() gives each new child the listener's state.) */
    int wake = oldstate == ZDD_TCP_LISTEN && newstate == ZDD_TCP_CLOSE;
    if (oldstate == ZDD_TCP_ESTABLISHED || oldstate == ZDD_TCP_CLOSE_WAIT) {
        /* Read after this socket's own (atomic) update: of closes racing on two CPUs, the
         * later one sees both. */
        __s64 left = c ? c->established + c->close_wait : 0;
        wake = left <= *(volatile const __s64*)&w->wake_at; /* userspace moves it */
    }
    if (wake) {
        struct zdd_close_event* e = bpf_ringbuf_reserve(&zdd_events, sizeof(*e), 0);
        if (!e) {
            __sync_fetch_and_add(&dropped_events, 1);
            return 0;
        }
        __builtin_memset(e, 0, sizeof(*e));
        e->netns = key.netns;
        e->family = BPF_CORE_READ(skc, skc_family);
        e->lport = key.port;
        e->rport = bpf_ntohs(BPF_CORE_READ(skc, skc_dport));
        e->old_state = oldstate;
        e->new_state = newstate;
        read_addrs(skc, e->family, e->laddr, e->raddr);
        bpf_ringbuf_submit(e, 0);
    }
    return 0;
}

static __always_inline __u32 age_ms(__u32 now, __u32 then, __u32 hz) {
    __u64 ms = (__u64)(__u32)(now - then) * 1000 / hz;
    return ms > 0xffffffffULL ? 0xffffffffU : (__u32)ms;
}

/* Count a socket that existed before its port was watched, unless a program already has. */
static __always_inline __u32 seed(struct tcp_sock* tp, const struct zdd_port_key* key,
                                  __u32 state) {
    __u32 nb = bucket_of(state);
    if (!held(nb)) return ZDD_MARK_NONE;
    struct zdd_sk_mark* m = bpf_sk_storage_get(&zdd_sk_marks, tp, 0, BPF_SK_STORAGE_GET_F_CREATE);
    if (!m) {
        __sync_fetch_and_add(&overflow_count, 1);
        return ZDD_MARK_UNSEEN;
    }
    if (m->bucket != ZDD_MARK_UNSEEN) return m->bucket;
    mark_key(m, key);
    struct zdd_port_counters* c = port_counters(key);
    if (!c) { /* port_counters() has counted the overflow */
        __sync_val_compare_and_swap(&m->bucket, ZDD_MARK_UNSEEN, ZDD_MARK_OVERFLOW);
        return m->bucket;
    }
    if (conn(nb) && !reserve_slot()) {
        if (__sync_val_compare_and_swap(&m->bucket, ZDD_MARK_UNSEEN, ZDD_MARK_OVERFLOW) ==
            ZDD_MARK_UNSEEN)
            __sync_fetch_and_add(&overflow_count, 1);
        return m->bucket;
    }
    /* Count first, then claim: a lost claim undoes the count, so no reader ever sees the
     * tracepoint decrement a bucket this socket was never added to. */
    __sync_fetch_and_add(bucket_field(c, nb), 1);
    if (__sync_val_compare_and_swap(&m->bucket, ZDD_MARK_UNSEEN, nb) != ZDD_MARK_UNSEEN) {
        __sync_fetch_and_add(bucket_field(c, nb), -1);
        if (conn(nb)) __sync_fetch_and_add(&tracked_sockets, -1);
    }
    return m->bucket;
}

static __always_inline struct zdd_thresholds thresholds(void) {
    struct zdd_thresholds t = {};
    t.idle_after_ms = cfg_idle_after_ms;
    t.push_gap_ms = cfg_push_gap_ms;
    t.stuck_after_ms = cfg_stuck_after_ms;
    return t;
}

/* Writes one classified sample of a connection (both iterators). */
static __always_inline void emit_sample(struct seq_file* seq, struct tcp_sock* tp,
                                        const struct zdd_port_key* key, __u32 state, __u32 mark) {
    const struct sock_common* skc = &tp->inet_conn.icsk_inet.sk.__sk_common;
    struct zdd_sock_sample s = {};
    s.netns = key->netns;
    s.family = skc->skc_family;
    s.lport = key->port;
    s.rport = bpf_ntohs(skc->skc_dport);
    read_addrs(skc, s.family, s.laddr, s.raddr);
    s.in.state = state;
    s.mark = mark;

    __u32 hz = CONFIG_HZ ? CONFIG_HZ : hz_fallback;
    if (!hz) hz = 1000; /* unreachable: userspace sets hz_fallback before any walk */
    __u32 now = (__u32)bpf_jiffies64();
    struct inet_connection_sock* icsk = &tp->inet_conn;
    s.in.last_send_ms = age_ms(now, tp->lsndtime, hz);
    s.in.last_recv_ms = age_ms(now, icsk->icsk_ack.lrcvtime, hz);
    s.in.last_ack_ms = age_ms(now, tp->rcv_tstamp, hz);
    s.in.send_queue = tp->write_seq - tp->snd_una;
    s.in.unacked_bytes = tp->snd_nxt - tp->snd_una;
    s.in.recv_queue = tp->rcv_nxt - tp->copied_seq;
    s.in.retransmits = icsk->icsk_retransmits;
    s.in.backoff = icsk->icsk_backoff;
    s.in.probes = icsk->icsk_probes_out;
    s.in.snd_wnd = tp->snd_wnd;

    struct zdd_thresholds t = thresholds();
    s.verdict = zdd_classify(&s.in, &t);
    bpf_seq_write(seq, &s, sizeof(s));
}

/* Every TCP socket of the namespace: seeds the sockets of newly watched ports (listeners
 * included) and samples their connections.
 *
 * Orphaned FIN_WAIT2 sockets are not sampled once the kernel has replaced them by a timewait
 * sock (tcp_time_wait with substate FIN_WAIT2, which `ss` lists as FIN-WAIT-2): their full
 * socket went to CLOSE, so no counter and no mark holds them, and zdd_iter_marks cannot see
 * them. The app has let go of them and the kernel ends them on its own, so they are no
 * connection of the app to drain; skipping them here too keeps "closing" the same number in
 * every walk and in the counters. */
SEC("iter/tcp")
int zdd_iter_tcp(struct bpf_iter__tcp* ctx) {
    struct sock_common* skc = ctx->sk_common;
    struct seq_file* seq = ctx->meta->seq;
    if (!skc) return 0;

    __u16 family = skc->skc_family;
    if (family != AF_INET && family != AF_INET6) return 0;
    __u32 state = skc->skc_state;
    /* TIME_WAIT (timewait socks), request socks, SYN_SENT, CLOSE: never counted */
    if (!held(bucket_of(state))) return 0;

    struct zdd_port_key key = {};
    key.netns = netns_of(skc);
    key.port = skc->skc_num;
    if (!bpf_map_lookup_elem(&zdd_watched, &key)) return 0;

    struct tcp_sock* tp = bpf_skc_to_tcp_sock(skc);
    if (!tp) return 0;
    __u32 mark = seed(tp, &key, state);
    if (state == ZDD_TCP_LISTEN) return 0; /* the listeners counter holds it */
    emit_sample(seq, tp, &key, state, mark);
    return 0;
}

/* The marked sockets only (sockets of watched ports that entered a counted bucket): the walk
 * of snapshots once the ports are seeded. It runs under RCU without the socket lock (TCP
 * socks are SLAB_TYPESAFE_BY_RCU), so a sample may mix fields of two instants, as sock_diag's
 * may; the mark and the state are read once each. Overflowed sockets are sampled (they are
 * connections, only uncounted); marks of sockets that left the counted buckets are not. */
SEC("iter/bpf_sk_storage_map")
int zdd_iter_marks(struct bpf_iter__bpf_sk_storage_map* ctx) {
    struct sock* sk = ctx->sk;
    struct zdd_sk_mark* m = ctx->value;
    if (!sk || !m) return 0;
    __u32 mark = *(volatile __u32*)&m->bucket; /* clang 14 has no BPF atomic load */
    if (!conn(mark) && mark != ZDD_MARK_OVERFLOW) return 0;
    __u32 state = sk->__sk_common.skc_state;
    if (!conn(bucket_of(state))) return 0;
    struct tcp_sock* tp = bpf_skc_to_tcp_sock(sk);
    if (!tp) return 0;
    struct zdd_port_key key = {};
    key.netns = m->netns;
    key.port = m->port;
    emit_sample(ctx->meta->seq, tp, &key, state, mark);
    return 0;
}

/* Reads jiffies for userspace, which measures HZ from two readings where the kernel config
 * (CONFIG_HZ) cannot be read. */
SEC("syscall")
int zdd_jiffies(struct zdd_jiffies_ctx* ctx) {
    ctx->jiffies = bpf_jiffies64();
    return 0;
}
