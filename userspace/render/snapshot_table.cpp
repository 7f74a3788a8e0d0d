#include "render/snapshot_table.hpp"

#include <algorithm>
#include <sstream>
#include <vector>

namespace drainmon {

namespace {

using Row = std::vector<std::string>;

// Numbers right-aligned, text left-aligned, two spaces between columns.
void render_rows(std::ostringstream& o, const std::vector<Row>& rows, size_t left_cols) {
    if (rows.empty()) return;
    std::vector<size_t> width(rows[0].size(), 0);
    for (const auto& r : rows)
        for (size_t i = 0; i < r.size(); ++i) width[i] = std::max(width[i], r[i].size());
    for (const auto& r : rows) {
        std::string line;
        for (size_t i = 0; i < r.size(); ++i) {
            std::string pad(width[i] - r[i].size(), ' ');
            if (i) line += "  ";
            line += i < left_cols ? r[i] + pad : pad + r[i];
        }
        line.erase(line.find_last_not_of(' ') + 1);
        o << line << "\n";
    }
}

}  // namespace

std::string render_snapshot_table(const Snapshot& snap) {
    std::ostringstream o;
    if (snap.incomplete)
        o << "WARNING: counts are incomplete: " << snap.overflow
          << " sockets or ports did not fit the monitor's maps (raise the map size)\n";
    if (snap.underflow > 0)
        o << "WARNING: " << snap.underflow << " counter underflows (a monitor bug)\n";
    o << "backend: " << snap.backend << "\n\n";

    std::vector<Row> ports{
        {"PORT", "LISTEN", "ESTAB", "CLOSE_WAIT", "CLOSING", "ACTIVE", "IDLE", "STUCK"}};
    for (const auto& p : snap.ports)
        ports.push_back({std::to_string(p.port), std::to_string(p.listeners),
                         std::to_string(p.established), std::to_string(p.close_wait),
                         std::to_string(p.closing), std::to_string(p.active),
                         std::to_string(p.idle), std::to_string(p.stuck)});
    if (snap.ports.empty())
        o << "no ports (nothing listens in this network namespace)\n";
    else
        render_rows(o, ports, 0);

    if (snap.sockets.empty()) return o.str();
    o << "\n";
    std::vector<Row> socks{{"LOCAL", "REMOTE", "STATE", "CLASS", "REASON", "SEND_MS", "RECV_MS",
                            "ACK_MS", "UNACKED", "SEND_Q", "RECV_Q", "RETRANS", "WND"}};
    for (const auto& s : snap.sockets)
        socks.push_back({s.local.str(), s.remote.str(), state_name(s.in.state),
                         zdd_class_name(s.verdict.cls), zdd_reason_name(s.verdict.reason),
                         std::to_string(s.in.last_send_ms), std::to_string(s.in.last_recv_ms),
                         std::to_string(s.in.last_ack_ms), std::to_string(s.in.unacked_bytes),
                         std::to_string(s.in.send_queue), std::to_string(s.in.recv_queue),
                         std::to_string(s.in.retransmits), std::to_string(s.in.snd_wnd)});
    render_rows(o, socks, 5);
    return o.str();
}

}  // namespace drainmon
