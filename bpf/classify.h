/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The one classifier of a TCP socket on a watched port (docs/design.md, "Classes of a socket").
 * Plain C with no includes of its own: it is compiled into the BPF iterator (after vmlinux.h)
 * and into userspace (after <linux/types.h>), and one table of inputs must give identical
 * results in both. Keep it branchy and loop-free so the verifier accepts it as is.
 */
#ifndef ZDD_CLASSIFY_H
#define ZDD_CLASSIFY_H

/* TCP states as the kernel numbers them (include/net/tcp_states.h). */
enum zdd_tcp_state {
    ZDD_TCP_ESTABLISHED = 1,
    ZDD_TCP_SYN_SENT = 2,
    ZDD_TCP_SYN_RECV = 3,
    ZDD_TCP_FIN_WAIT1 = 4,
    ZDD_TCP_FIN_WAIT2 = 5,
    ZDD_TCP_TIME_WAIT = 6,
    ZDD_TCP_CLOSE = 7,
    ZDD_TCP_CLOSE_WAIT = 8,
    ZDD_TCP_LAST_ACK = 9,
    ZDD_TCP_LISTEN = 10,
    ZDD_TCP_CLOSING = 11,
    ZDD_TCP_NEW_SYN_RECV = 12,
    ZDD_TCP_MAX_STATES = 13,
};

enum zdd_class {
    ZDD_CLASS_ACTIVE = 0,
    ZDD_CLASS_IDLE = 1,
    ZDD_CLASS_STUCK = 2,
    ZDD_CLASS_CLOSING = 3,
    ZDD_CLASS_COUNT = 4,
};

enum zdd_reason {
    ZDD_REASON_CLOSING = 0,
    ZDD_REASON_CLOSE_WAIT = 1,
    ZDD_REASON_ZERO_WINDOW = 2,
    ZDD_REASON_RETRANSMITTING = 3,
    ZDD_REASON_RECENT_DATA = 4,
    ZDD_REASON_QUEUED = 5,
    ZDD_REASON_REQUEST_PENDING = 6,
    ZDD_REASON_SERVER_PUSH = 7,
    ZDD_REASON_KEEPALIVE = 8,
    ZDD_REASON_OTHER = 9,
    ZDD_REASON_COUNT = 10,
};

/* What both backends can read of a socket. Ages are milliseconds since the event. */
struct zdd_classify_input {
    __u32 state;         /* enum zdd_tcp_state */
    __u32 last_send_ms;  /* since last data sent (lsndtime / tcpi_last_data_sent) */
    __u32 last_recv_ms;  /* since last data received (lrcvtime / tcpi_last_data_recv) */
    __u32 last_ack_ms;   /* since last ACK received (rcv_tstamp / tcpi_last_ack_recv) */
    __u32 send_queue;    /* write_seq - snd_una: unsent + in flight */
    __u32 unacked_bytes; /* snd_nxt - snd_una: in flight */
    __u32 recv_queue;    /* rcv_nxt - copied_seq: received, not read by the app */
    __u32 retransmits;   /* icsk_retransmits / tcpi_retransmits */
    __u32 backoff;       /* icsk_backoff / tcpi_backoff */
    __u32 probes;        /* icsk_probes_out / tcpi_probes */
    __u32 snd_wnd;       /* peer's advertised window (tp->snd_wnd / tcpi_snd_wnd) */
};

struct zdd_thresholds {
    __u32 idle_after_ms;  /* default 5000 */
    __u32 push_gap_ms;    /* default 1000 */
    __u32 stuck_after_ms; /* default 30000 */
};

struct zdd_verdict {
    __u32 cls;    /* enum zdd_class */
    __u32 reason; /* enum zdd_reason */
};

static inline __attribute__((always_inline)) struct zdd_verdict zdd_make_verdict(__u32 cls,
                                                                                 __u32 reason) {
    struct zdd_verdict v;
    v.cls = cls;
    v.reason = reason;
    return v;
}

/* First matching row of docs/design.md's table wins. */
static inline __attribute__((always_inline)) struct zdd_verdict zdd_classify(
    const struct zdd_classify_input* in, const struct zdd_thresholds* t) {
    __u32 st = in->state;

    if (st == ZDD_TCP_FIN_WAIT1 || st == ZDD_TCP_FIN_WAIT2 || st == ZDD_TCP_CLOSING ||
        st == ZDD_TCP_LAST_ACK)
        return zdd_make_verdict(ZDD_CLASS_CLOSING, ZDD_REASON_CLOSING);

    /* Peer closed long ago and nothing moved since: the app never closed its end. */
    if (st == ZDD_TCP_CLOSE_WAIT && in->last_ack_ms >= t->stuck_after_ms &&
        in->last_send_ms >= t->stuck_after_ms)
        return zdd_make_verdict(ZDD_CLASS_STUCK, ZDD_REASON_CLOSE_WAIT);

    /* Zero-window probes: the peer ACKs each probe (which resets probes_out), so the probe
     * backoff is the lasting sign; either counts. */
    if (in->snd_wnd == 0 && (in->probes > 0 || in->backoff > 0) &&
        in->last_send_ms >= t->stuck_after_ms)
        return zdd_make_verdict(ZDD_CLASS_STUCK, ZDD_REASON_ZERO_WINDOW);

    if ((in->unacked_bytes > 0 || in->retransmits > 0 || in->backoff > 0) &&
        in->last_ack_ms >= t->stuck_after_ms)
        return zdd_make_verdict(ZDD_CLASS_STUCK, ZDD_REASON_RETRANSMITTING);

    if (st != ZDD_TCP_ESTABLISHED) return zdd_make_verdict(ZDD_CLASS_ACTIVE, ZDD_REASON_OTHER);

    if (in->last_send_ms < t->idle_after_ms || in->last_recv_ms < t->idle_after_ms)
        return zdd_make_verdict(ZDD_CLASS_ACTIVE, ZDD_REASON_RECENT_DATA);

    if (in->send_queue > 0 || in->unacked_bytes > 0 || in->recv_queue > 0)
        return zdd_make_verdict(ZDD_CLASS_ACTIVE, ZDD_REASON_QUEUED);

    /* Smaller age = newer event. */
    if (in->last_recv_ms < in->last_send_ms)
        return zdd_make_verdict(ZDD_CLASS_ACTIVE, ZDD_REASON_REQUEST_PENDING);

    if (in->last_recv_ms - in->last_send_ms >= t->push_gap_ms)
        return zdd_make_verdict(ZDD_CLASS_ACTIVE, ZDD_REASON_SERVER_PUSH);

    return zdd_make_verdict(ZDD_CLASS_IDLE, ZDD_REASON_KEEPALIVE);
}

static inline __attribute__((always_inline)) const char* zdd_class_name(__u32 cls) {
    switch (cls) {
        case ZDD_CLASS_ACTIVE:
            return "active";
        case ZDD_CLASS_IDLE:
            return "idle";
        case ZDD_CLASS_STUCK:
            return "stuck";
        case ZDD_CLASS_CLOSING:
            return "closing";
        default:
            return "unknown";
    }
}

static inline __attribute__((always_inline)) const char* zdd_reason_name(__u32 reason) {
    switch (reason) {
        case ZDD_REASON_CLOSING:
            return "closing";
        case ZDD_REASON_CLOSE_WAIT:
            return "close_wait";
        case ZDD_REASON_ZERO_WINDOW:
            return "zero_window";
        case ZDD_REASON_RETRANSMITTING:
            return "retransmitting";
        case ZDD_REASON_RECENT_DATA:
            return "recent_data";
        case ZDD_REASON_QUEUED:
            return "queued";
        case ZDD_REASON_REQUEST_PENDING:
            return "request_pending";
        case ZDD_REASON_SERVER_PUSH:
            return "server_push";
        case ZDD_REASON_KEEPALIVE:
            return "keepalive";
        case ZDD_REASON_OTHER:
            return "other";
        default:
            return "unknown";
    }
}

#endif /* ZDD_CLASSIFY_H */
