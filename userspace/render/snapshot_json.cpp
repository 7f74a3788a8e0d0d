#include "render/snapshot_json.hpp"

namespace drainmon {

namespace {

nlohmann::json ports_to_json(const Snapshot& snap) {
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
    return ports;
}

// A JSON string: the names and addresses here never need more than this escaping.
void append_string(std::string& out, std::string_view s) {
    out += '"';
    for (char c : s) {
        if (c == '"' || c == '\\') out += '\\';
        if (static_cast<unsigned char>(c) < 0x20) {
            char esc[8];
            std::snprintf(esc, sizeof esc, "\\u%04x", c);
            out += esc;
            continue;
        }
        out += c;
    }
    out += '"';
}

}  // namespace

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
    nlohmann::json sockets = nlohmann::json::array();
    for (const auto& s : snap.sockets) sockets.push_back(socket_to_json(s));
    return {
        {"backend", snap.backend},       {"overflow", snap.overflow},
        {"underflow", snap.underflow},   {"incomplete", snap.incomplete},
        {"walks", snap.walks},           {"ports", ports_to_json(snap)},
        {"sockets", std::move(sockets)},
    };
}

SnapshotJsonStream::SnapshotJsonStream(std::ostream& out, const std::string& backend)
    : out_(out), backend_(backend) {}

void SnapshotJsonStream::add(const SocketSample& s) {
    const zdd_classify_input& in = s.in;
    std::string& t = text_;
    t.clear();
    if (sockets_ == 0) {
        t += "{\n  \"backend\": ";
        append_string(t, backend_);
        t += ",\n  \"sockets\": [\n";
    } else {
        t += ",\n";
    }
    // The keys in nlohmann's (sorted) order and its dump(2) layout, one level in.
    auto num = [&](const char* key, uint32_t v, bool last = false) {
        t += "      \"";
        t += key;
        t += "\": ";
        t += std::to_string(v);
        t += last ? "\n" : ",\n";
    };
    auto str = [&](const char* key, std::string_view v) {
        t += "      \"";
        t += key;
        t += "\": ";
        append_string(t, v);
        t += ",\n";
    };
    t += "    {\n";
    num("backoff", in.backoff);
    str("class", zdd_class_name(s.verdict.cls));
    num("last_ack_ms", in.last_ack_ms);
    num("last_recv_ms", in.last_recv_ms);
    num("last_send_ms", in.last_send_ms);
    str("local", s.local.str());
    num("probes", in.probes);
    str("reason", zdd_reason_name(s.verdict.reason));
    num("recv_queue", in.recv_queue);
    str("remote", s.remote.str());
    num("retransmits", in.retransmits);
    num("send_queue", in.send_queue);
    num("snd_wnd", in.snd_wnd);
    str("state", state_name(in.state));
    num("unacked_bytes", in.unacked_bytes, true);
    t += "    }";
    out_.write(t.data(), static_cast<std::streamsize>(t.size()));
    ++sockets_;
}

void SnapshotJsonStream::finish(const Snapshot& summary) {
    for (const auto& s : summary.sockets) add(s);
    if (sockets_ == 0) {
        std::string t = "{\n  \"backend\": ";
        append_string(t, backend_);
        out_ << t << ",\n  \"sockets\": []";
    } else {
        out_ << "\n  ]";
    }
    // The rest as nlohmann lays it out, less its opening brace.
    nlohmann::json tail = {
        {"overflow", summary.overflow},     {"underflow", summary.underflow},
        {"incomplete", summary.incomplete}, {"walks", summary.walks},
        {"ports", ports_to_json(summary)},
    };
    std::string rest = tail.dump(2);
    out_ << ",\n" << rest.substr(2) << std::endl;
    sockets_ = 0;
}

}  // namespace drainmon
