#include "render/snapshot_json.hpp"

namespace drainmon {

nlohmann::json socket_to_json(const SocketSample& s) {
    const zdd_classify_input& in = s.in;
    return {
        {"local", s.local.str()},
        {"remote", s.remote.str()},
        {"state", state_name(in.state)},
        {"class", zdd_class_name(s.verdict.cls)},
        {"reason", zdd_reason_name(s.verdict.reason)},
        {"last_send_ms", in.last_send_ms},
        {"last_recv_ms", in.last_recv_ms},
        {"last_ack_ms", in.last_ack_ms},
        {"unacked_bytes", in.unacked_bytes},
        {"send_queue", in.send_queue},
        {"recv_queue", in.recv_queue},
        {"retransmits", in.retransmits},
        {"backoff", in.backoff},
        {"probes", in.probes},
        {"snd_wnd", in.snd_wnd},
    };
}

nlohmann::json snapshot_to_json(const Snapshot& snap) {
    nlohmann::json ports = nlohmann::json::array();
    for (const auto& p : snap.ports)
        ports.push_back({
            {"port", p.port},
            {"established", p.established},
            {"close_wait", p.close_wait},
            {"closing", p.closing},
            {"active", p.active},
            {"idle", p.idle},
            {"stuck", p.stuck},
            {"listeners", p.listeners},
        });
    nlohmann::json sockets = nlohmann::json::array();
    for (const auto& s : snap.sockets) sockets.push_back(socket_to_json(s));
    return {
        {"backend", snap.backend},     {"overflow", snap.overflow},
        {"underflow", snap.underflow}, {"incomplete", snap.incomplete},
        {"ports", std::move(ports)},   {"sockets", std::move(sockets)},
    };
}

}  // namespace drainmon
