// The human table: aligned columns, every socket listed, a warning when counts are incomplete.
#include <catch2/catch.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "render/snapshot_table.hpp"
#include "snapshot_fixture.hpp"

using namespace drainmon;

namespace {

std::vector<std::string> lines_of(const std::string& s) {
    std::vector<std::string> out;
    std::istringstream in(s);
    for (std::string l; std::getline(in, l);) out.push_back(l);
    return out;
}

}  // namespace

TEST_CASE("snapshot table: warning, aligned port and socket columns") {
    Snapshot snap = zdd_test::fixture_snapshot();
    auto lines = lines_of(render_snapshot_table(snap));
    REQUIRE(lines.size() > 4);
    CHECK(lines[0].rfind("WARNING: counts are incomplete: 3", 0) == 0);

    auto header = std::find_if(lines.begin(), lines.end(),
                               [](const auto& l) { return l.rfind("PORT", 0) == 0; });
    REQUIRE(header != lines.end());
    // Right-aligned numbers: every row of the ports table ends where its header ends.
    CHECK((header + 1)->size() == header->size());
    CHECK((header + 2)->size() == header->size());
    CHECK((header + 1)->find("8080") != std::string::npos);

    auto sock_header = std::find_if(lines.begin(), lines.end(),
                                    [](const auto& l) { return l.rfind("LOCAL", 0) == 0; });
    REQUIRE(sock_header != lines.end());
    const size_t class_col = sock_header->find("CLASS");
    int rows = 0;
    for (auto it = sock_header + 1; it != lines.end() && !it->empty(); ++it, ++rows)
        CHECK(it->find_first_of("acis", class_col) == class_col);  // active/idle/stuck/closing
    CHECK(rows == 5);
    std::string all = render_snapshot_table(snap);
    CHECK(all.find("[::1]:8081") != std::string::npos);
    CHECK(all.find("retransmitting") != std::string::npos);
    CHECK(all.find("close_wait") != std::string::npos);
}

TEST_CASE("snapshot table: no warning when complete") {
    Snapshot snap = zdd_test::fixture_snapshot();
    snap.incomplete = false;
    snap.overflow = 0;
    CHECK(render_snapshot_table(snap).find("WARNING") == std::string::npos);
}

// The table as render_snapshot_table printed it before it was streamed (the fixture's text,
// byte for byte): the streamed table must not change what people and scripts read.
const char* const kFixtureTable =
    R"(WARNING: counts are incomplete: 3 sockets or ports did not fit the monitor's maps (raise the map size)
backend: bpf

PORT  LISTEN  ESTAB  CLOSE_WAIT  CLOSING  ACTIVE  IDLE  STUCK
8080       1      2           1        1       1     1      1
8081       2      1           0        0       0     0      1

LOCAL           REMOTE           STATE        CLASS    REASON          SEND_MS  RECV_MS  ACK_MS  UNACKED  SEND_Q  RECV_Q  RETRANS    WND
127.0.0.1:8080  127.0.0.1:50001  ESTABLISHED  active   recent_data         100     9000     100        0       0       0        0  65535
127.0.0.1:8080  127.0.0.1:50002  ESTABLISHED  idle     keepalive         20000    20010   20000        0       0       0        0  65535
127.0.0.1:8080  127.0.0.1:50003  CLOSE_WAIT   stuck    close_wait        40000    40000   40000        0       0       0        0  65535
127.0.0.1:8080  127.0.0.1:50004  FIN_WAIT1    closing  closing              10       10      10        0       0       0        0  65535
[::1]:8081      [::1]:50005      ESTABLISHED  stuck    retransmitting    31000    60000   45000     1200    1200       7        4   1024
)";

TEST_CASE("snapshot table: streamed socket by socket, the same bytes as before") {
    Snapshot snap = zdd_test::fixture_snapshot();
    CHECK(render_snapshot_table(snap) == kFixtureTable);

    SnapshotTableStream table;
    for (const auto& s : snap.sockets) table.add(s);
    Snapshot summary = snap;
    summary.sockets.clear();  // as Backend::walk leaves it
    std::ostringstream out;
    table.finish(summary, out);
    CHECK(out.str() == kFixtureTable);
}

TEST_CASE("snapshot table: rows beyond the memory buffer come back whole and aligned") {
    Snapshot snap = zdd_test::fixture_snapshot();
    const SocketSample wide = snap.sockets.back();  // the IPv6 row
    snap.sockets.clear();
    SnapshotTableStream table;
    constexpr int kRows = 20000;  // ~2 MB of rows: past the 1 MiB buffer, into the temp file
    for (int i = 0; i < kRows; ++i) {
        SocketSample s = wide;
        s.remote.port = static_cast<uint16_t>(10000 + i % 50000);
        s.in.last_send_ms = static_cast<uint32_t>(i);
        table.add(s);
    }
    std::ostringstream out;
    table.finish(snap, out);
    auto lines = lines_of(out.str());
    auto header = std::find_if(lines.begin(), lines.end(),
                               [](const auto& l) { return l.rfind("LOCAL", 0) == 0; });
    REQUIRE(header != lines.end());
    REQUIRE(lines.end() - header == kRows + 1);
    for (int i = 0; i < kRows; ++i) {
        const std::string& row = *(header + 1 + i);
        INFO("row " << i << ": " << row);
        REQUIRE(row.size() == header->size());  // the last column is right-aligned
        std::istringstream cells(row);
        std::string local, remote, state, cls, reason, send_ms;
        cells >> local >> remote >> state >> cls >> reason >> send_ms;
        REQUIRE(remote == "[::1]:" + std::to_string(10000 + i % 50000));
        REQUIRE(send_ms == std::to_string(i));
    }
}
