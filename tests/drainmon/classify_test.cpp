// One table of classifier inputs through the kernel copy of zdd_classify() (a SEC("syscall")
// program run with bpf_prog_test_run_opts) and the userspace copy (drainmon::classify): both
// must give the expected class and reason for every row of docs/design.md's table and at each
// threshold's boundary.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <memory>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "classify_test.skel.h"
#include "monitor/socket_sample.hpp"
#include "test_support.hpp"

extern "C" {
#include "drainmon.h"
}

namespace {

struct Row {
    std::string what;
    zdd_classify_input in;
    zdd_thresholds t;
    uint32_t cls;
    uint32_t reason;
};

constexpr zdd_thresholds T = drainmon::default_thresholds();  // 5000 / 1000 / 30000

zdd_classify_input est(uint32_t send_ms, uint32_t recv_ms, uint32_t ack_ms) {
    zdd_classify_input in{};
    in.state = ZDD_TCP_ESTABLISHED;
    in.last_send_ms = send_ms;
    in.last_recv_ms = recv_ms;
    in.last_ack_ms = ack_ms;
    in.snd_wnd = 65535;
    return in;
}

template <typename F>
zdd_classify_input with(zdd_classify_input in, F f) {
    f(in);
    return in;
}

std::vector<Row> table() {
    std::vector<Row> rows;
    auto add = [&](std::string what, zdd_classify_input in, uint32_t cls, uint32_t reason,
                   zdd_thresholds t = T) {
        rows.push_back({std::move(what), in, t, cls, reason});
    };

    // closing: kernel-owned states, whatever else the socket shows
    for (uint32_t st : {ZDD_TCP_FIN_WAIT1, ZDD_TCP_FIN_WAIT2, ZDD_TCP_CLOSING, ZDD_TCP_LAST_ACK})
        add(std::string("closing ") + drainmon::state_name(st),
            with(est(0, 0, 0),
                 [&](auto& i) {
                     i.state = st;
                     i.unacked_bytes = 10;
                 }),
            ZDD_CLASS_CLOSING, ZDD_REASON_CLOSING);

    // stuck / close_wait at stuck_after, and one ms short of it (a young CLOSE_WAIT: other)
    auto cw = [](uint32_t ms) {
        return with(est(ms, ms, ms), [](auto& i) { i.state = ZDD_TCP_CLOSE_WAIT; });
    };
    add("close_wait at stuck_after", cw(30000), ZDD_CLASS_STUCK, ZDD_REASON_CLOSE_WAIT);
    add("close_wait long", cw(600000), ZDD_CLASS_STUCK, ZDD_REASON_CLOSE_WAIT);
    add("close_wait just under stuck_after", cw(29999), ZDD_CLASS_ACTIVE, ZDD_REASON_OTHER);
    add("young close_wait", cw(0), ZDD_CLASS_ACTIVE, ZDD_REASON_OTHER);

    // stuck / zero_window: window 0, probes (or probe backoff), nothing sent for stuck_after
    auto zw = [](uint32_t send_ms, uint32_t probes, uint32_t backoff) {
        return with(est(send_ms, 60000, 100), [&](auto& i) {
            i.snd_wnd = 0;
            i.probes = probes;
            i.backoff = backoff;
            i.send_queue = 4096;
        });
    };
    add("zero window, probes", zw(30000, 1, 0), ZDD_CLASS_STUCK, ZDD_REASON_ZERO_WINDOW);
    add("zero window, probe backoff", zw(45000, 0, 3), ZDD_CLASS_STUCK, ZDD_REASON_ZERO_WINDOW);
    add("zero window just under stuck_after", zw(29999, 1, 0), ZDD_CLASS_ACTIVE, ZDD_REASON_QUEUED);
    add("zero window without probes", zw(40000, 0, 0), ZDD_CLASS_ACTIVE, ZDD_REASON_QUEUED);

    // stuck / retransmitting: unacked, retransmits or backoff, and no ACK for stuck_after
    add("in flight, no ack for stuck_after",
        with(est(31000, 31000, 30000), [](auto& i) { i.unacked_bytes = i.send_queue = 100; }),
        ZDD_CLASS_STUCK, ZDD_REASON_RETRANSMITTING);
    add("retransmits, no ack", with(est(31000, 31000, 40000), [](auto& i) { i.retransmits = 2; }),
        ZDD_CLASS_STUCK, ZDD_REASON_RETRANSMITTING);
    add("backoff, no ack", with(est(31000, 31000, 40000), [](auto& i) { i.backoff = 1; }),
        ZDD_CLASS_STUCK, ZDD_REASON_RETRANSMITTING);
    add("in flight, ack just under stuck_after",
        with(est(31000, 31000, 29999), [](auto& i) { i.unacked_bytes = i.send_queue = 100; }),
        ZDD_CLASS_ACTIVE, ZDD_REASON_QUEUED);
    add("no ack for long but nothing outstanding", est(40000, 40000, 40000), ZDD_CLASS_IDLE,
        ZDD_REASON_KEEPALIVE);

    // active / recent_data: either direction within idle_after
    add("sent just under idle_after", est(4999, 20000, 0), ZDD_CLASS_ACTIVE,
        ZDD_REASON_RECENT_DATA);
    add("received just under idle_after", est(20000, 4999, 0), ZDD_CLASS_ACTIVE,
        ZDD_REASON_RECENT_DATA);
    add("fresh connection", est(0, 0, 0), ZDD_CLASS_ACTIVE, ZDD_REASON_RECENT_DATA);
    add("both at idle_after", est(5000, 5000, 5000), ZDD_CLASS_IDLE, ZDD_REASON_KEEPALIVE);

    // active / queued: bytes waiting somewhere, the peer still acking
    add("send queue", with(est(6000, 6000, 10), [](auto& i) { i.send_queue = 1; }),
        ZDD_CLASS_ACTIVE, ZDD_REASON_QUEUED);
    add("in flight, acks coming",
        with(est(6000, 6000, 10), [](auto& i) { i.unacked_bytes = i.send_queue = 1; }),
        ZDD_CLASS_ACTIVE, ZDD_REASON_QUEUED);
    add("receive queue unread", with(est(6000, 6000, 10), [](auto& i) { i.recv_queue = 1; }),
        ZDD_CLASS_ACTIVE, ZDD_REASON_QUEUED);

    // active / request_pending: last data received newer than last data sent
    add("request pending", est(7000, 6000, 6000), ZDD_CLASS_ACTIVE, ZDD_REASON_REQUEST_PENDING);
    add("request pending by 1 ms", est(6001, 6000, 6000), ZDD_CLASS_ACTIVE,
        ZDD_REASON_REQUEST_PENDING);

    // active / server_push: the last send came >= push_gap after the last receive
    add("push at push_gap", est(6000, 7000, 6000), ZDD_CLASS_ACTIVE, ZDD_REASON_SERVER_PUSH);
    add("push long after request", est(6000, 600000, 6000), ZDD_CLASS_ACTIVE,
        ZDD_REASON_SERVER_PUSH);
    add("answer just under push_gap", est(6000, 6999, 6000), ZDD_CLASS_IDLE, ZDD_REASON_KEEPALIVE);

    // idle / keepalive
    add("prompt answer, then quiet", est(8000, 8000, 8000), ZDD_CLASS_IDLE, ZDD_REASON_KEEPALIVE);

    // active / other: not ESTABLISHED and no stronger row
    add("syn sent", with(est(0, 0, 0), [](auto& i) { i.state = ZDD_TCP_SYN_SENT; }),
        ZDD_CLASS_ACTIVE, ZDD_REASON_OTHER);

    // the thresholds are the caller's, not constants
    zdd_thresholds shorter{100, 50, 200};
    add("short idle_after", est(100, 100, 100), ZDD_CLASS_IDLE, ZDD_REASON_KEEPALIVE, shorter);
    add("short idle_after, 1 ms under", est(99, 500, 0), ZDD_CLASS_ACTIVE, ZDD_REASON_RECENT_DATA,
        shorter);
    add("short push_gap", est(100, 150, 0), ZDD_CLASS_ACTIVE, ZDD_REASON_SERVER_PUSH, shorter);
    add("short stuck_after", cw(200), ZDD_CLASS_STUCK, ZDD_REASON_CLOSE_WAIT, shorter);
    add("huge thresholds", est(8000, 8000, 8000), ZDD_CLASS_ACTIVE, ZDD_REASON_RECENT_DATA,
        zdd_thresholds{0xffffffffu, 0xffffffffu, 0xffffffffu});
    return rows;
}

struct SkelDeleter {
    void operator()(classify_test* s) const { classify_test__destroy(s); }
};

}  // namespace

TEST_CASE("kernel and userspace classifiers agree on every row of the class table") {
    zdd_test::require_root();
    libbpf_set_print([](enum libbpf_print_level, const char*, va_list) { return 0; });
    std::unique_ptr<classify_test, SkelDeleter> skel(classify_test__open_and_load());
    if (!skel) zdd_test::skip_or_fail("cannot load classify_test.bpf.o (BPF unavailable)");
    int prog_fd = bpf_program__fd(skel->progs.zdd_cls_test);

    auto rows = table();
    std::vector<bool> reasons_seen(ZDD_REASON_COUNT, false);
    for (const auto& row : rows) {
        INFO(row.what);
        zdd_classify_ctx ctx{};
        ctx.in = row.in;
        ctx.thresholds = row.t;
        ctx.verdict = {0xdead, 0xbeef};
        // syscall programs take no ctx_out: the kernel writes the ctx back into ctx_in
        LIBBPF_OPTS(bpf_test_run_opts, run, .ctx_in = &ctx, .ctx_size_in = sizeof ctx);
        REQUIRE(bpf_prog_test_run_opts(prog_fd, &run) == 0);
        REQUIRE(run.retval == 0);

        zdd_verdict user = drainmon::classify(row.in, row.t);
        CHECK(zdd_class_name(ctx.verdict.cls) == std::string(zdd_class_name(row.cls)));
        CHECK(zdd_reason_name(ctx.verdict.reason) == std::string(zdd_reason_name(row.reason)));
        CHECK(user.cls == ctx.verdict.cls);
        CHECK(user.reason == ctx.verdict.reason);
        reasons_seen[row.reason] = true;
    }
    for (uint32_t r = 0; r < ZDD_REASON_COUNT; ++r) {
        INFO("no row expects reason " << zdd_reason_name(r));
        CHECK(reasons_seen[r]);
    }
}
