// The human table: aligned columns, every socket listed, a warning when counts are incomplete.
#include <catch2/catch.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "snapshot_fixture.hpp"
#include "render/snapshot_table.hpp"

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
