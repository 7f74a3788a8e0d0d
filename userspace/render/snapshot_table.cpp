#include "render/snapshot_table.hpp"

#include <algorithm>
#include <cstring>
#include <sstream>
#include <vector>

namespace drainmon {

namespace {

using Row = std::vector<std::string>;

constexpr size_t kSocketTextColumns = 5;         // LOCAL..REASON left-aligned, numbers right
constexpr size_t kSpillBytes = size_t{1} << 20;  // rows kept in memory before the temp file

const std::array<const char*, SnapshotTableStream::kColumns> kSocketHeader = {
    "LOCAL",  "REMOTE",  "STATE",  "CLASS",  "REASON",  "SEND_MS", "RECV_MS",
    "ACK_MS", "UNACKED", "SEND_Q", "RECV_Q", "RETRANS", "WND"};

// Numbers right-aligned, text left-aligned, two spaces between columns, no trailing blanks.
template <typename Cells>
void write_aligned(std::ostream& o, const Cells& cells, const size_t* width, size_t left_cols) {
    std::string line;
    for (size_t i = 0; i < cells.size(); ++i) {
        const std::string_view c = cells[i];
        if (i) line += "  ";
        if (i >= left_cols) line.append(width[i] - c.size(), ' ');
        line += c;
        if (i < left_cols) line.append(width[i] - c.size(), ' ');
    }
    line.erase(line.find_last_not_of(' ') + 1);
    line += '\n';
    o << line;
}

void render_rows(std::ostream& o, const std::vector<Row>& rows, size_t left_cols) {
    if (rows.empty()) return;
    std::vector<size_t> width(rows[0].size(), 0);
    for (const auto& r : rows)
        for (size_t i = 0; i < r.size(); ++i) width[i] = std::max(width[i], r[i].size());
    for (const auto& r : rows) write_aligned(o, r, width.data(), left_cols);
}

}  // namespace

SnapshotTableStream::SnapshotTableStream() {
    for (size_t i = 0; i < kColumns; ++i) width_[i] = std::strlen(kSocketHeader[i]);
}

SnapshotTableStream::~SnapshotTableStream() = default;

void SnapshotTableStream::add(const SocketSample& s) {
    const std::string cells[kColumns] = {s.local.str(),
                                         s.remote.str(),
                                         state_name(s.in.state),
                                         zdd_class_name(s.verdict.cls),
                                         zdd_reason_name(s.verdict.reason),
                                         std::to_string(s.in.last_send_ms),
                                         std::to_string(s.in.last_recv_ms),
                                         std::to_string(s.in.last_ack_ms),
                                         std::to_string(s.in.unacked_bytes),
                                         std::to_string(s.in.send_queue),
                                         std::to_string(s.in.recv_queue),
                                         std::to_string(s.in.retransmits),
                                         std::to_string(s.in.snd_wnd)};
    for (size_t i = 0; i < kColumns; ++i) {
        width_[i] = std::max(width_[i], cells[i].size());
        if (i) buffer_ += '\t';
        buffer_ += cells[i];
    }
    buffer_ += '\n';
    ++rows_;
    if (buffer_.size() >= kSpillBytes) spill();
}

void SnapshotTableStream::spill() {
    // An unlinked temp file: page cache, not this process's memory. Without one (no writable
    // /tmp) the rows stay in memory, which is only a cost.
    if (!spill_) spill_.reset(std::tmpfile());
    if (!spill_) return;
    if (std::fwrite(buffer_.data(), 1, buffer_.size(), spill_.get()) == buffer_.size())
        buffer_.clear();
}

void SnapshotTableStream::write_row(std::ostream& out, const std::string& row) const {
    std::array<std::string_view, kColumns> cells{};
    size_t at = 0;
    for (size_t i = 0; i < kColumns; ++i) {
        size_t end = i + 1 < kColumns ? row.find('\t', at) : row.size();
        if (end == std::string::npos) end = row.size();
        cells[i] = std::string_view(row).substr(at, end - at);
        at = std::min(end + 1, row.size());
    }
    write_aligned(out, cells, width_.data(), kSocketTextColumns);
}

void SnapshotTableStream::finish(const Snapshot& snap, std::ostream& o) {
    for (const auto& s : snap.sockets) add(s);
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

    if (rows_ == 0) return;
    o << "\n";
    write_aligned(o, kSocketHeader, width_.data(), kSocketTextColumns);
    std::string row;
    if (spill_) {
        std::rewind(spill_.get());
        char chunk[1 << 16];
        size_t n;
        while ((n = std::fread(chunk, 1, sizeof chunk, spill_.get())) > 0) {
            for (size_t i = 0; i < n; ++i) {
                if (chunk[i] != '\n') {
                    row += chunk[i];
                    continue;
                }
                write_row(o, row);
                row.clear();
            }
        }
    }
    for (char c : buffer_) {
        if (c != '\n') {
            row += c;
            continue;
        }
        write_row(o, row);
        row.clear();
    }
    buffer_.clear();
    spill_.reset();
    rows_ = 0;
}

std::string render_snapshot_table(const Snapshot& snap) {
    std::ostringstream o;
    SnapshotTableStream table;
    table.finish(snap, o);
    return o.str();
}

}  // namespace drainmon
