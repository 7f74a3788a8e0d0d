// The snapshot JSON: exactly the names scripts read (issues 2 and 3), IPv6 in brackets.
#include <catch2/catch.hpp>
#include <set>
#include <sstream>
#include <string>

#include "render/snapshot_json.hpp"
#include "snapshot_fixture.hpp"

using namespace drainmon;

namespace {

std::set<std::string> keys(const nlohmann::json& j) {
    std::set<std::string> k;
    for (auto it = j.begin(); it != j.end(); ++it) k.insert(it.key());
    return k;
}

}  // namespace

TEST_CASE("snapshot json: names and values") {
    // Round-trip through text, as a script would read it.
    auto j = nlohmann::json::parse(snapshot_to_json(zdd_test::fixture_snapshot()).dump(2));

    CHECK(keys(j) == std::set<std::string>{"backend", "overflow", "underflow", "incomplete",
                                           "walks", "ports", "sockets"});
    CHECK(j["backend"] == "bpf");
    CHECK(j["overflow"] == 3);
    CHECK(j["underflow"] == 0);
    CHECK(j["incomplete"] == true);
    CHECK(j["walks"] == 4);

    REQUIRE(j["ports"].size() == 2);
    const auto& p = j["ports"][0];
    CHECK(keys(p) == std::set<std::string>{"port", "established", "close_wait", "closing", "active",
                                           "idle", "stuck", "listeners"});
    CHECK(p["port"] == 8080);
    CHECK(p["established"] == 2);
    CHECK(p["close_wait"] == 1);
    CHECK(p["closing"] == 1);
    CHECK(p["active"] == 1);
    CHECK(p["idle"] == 1);
    CHECK(p["stuck"] == 1);
    CHECK(p["listeners"] == 1);
    CHECK(j["ports"][1]["stuck"] == 1);

    REQUIRE(j["sockets"].size() == 5);
    const auto& s = j["sockets"][0];
    CHECK(keys(s) == std::set<std::string>{"local", "remote", "state", "class", "reason",
                                           "last_send_ms", "last_recv_ms", "last_ack_ms",
                                           "unacked_bytes", "send_queue", "recv_queue",
                                           "retransmits", "backoff", "probes", "snd_wnd"});
    CHECK(s["local"] == "127.0.0.1:8080");
    CHECK(s["remote"] == "127.0.0.1:50001");
    CHECK(s["state"] == "ESTABLISHED");
    CHECK(s["class"] == "active");
    CHECK(s["reason"] == "recent_data");
    CHECK(s["last_send_ms"] == 100);
    CHECK(s["last_recv_ms"] == 9000);
    CHECK(j["sockets"][2]["state"] == "CLOSE_WAIT");
    CHECK(j["sockets"][2]["class"] == "stuck");
    CHECK(j["sockets"][2]["reason"] == "close_wait");

    const auto& v6 = j["sockets"][4];
    CHECK(v6["local"] == "[::1]:8081");
    CHECK(v6["remote"] == "[::1]:50005");
    CHECK(v6["reason"] == "retransmitting");
    CHECK(v6["unacked_bytes"] == 1200);
    CHECK(v6["send_queue"] == 1200);
    CHECK(v6["recv_queue"] == 7);
    CHECK(v6["retransmits"] == 4);
    CHECK(v6["backoff"] == 5);
    CHECK(v6["probes"] == 0);
    CHECK(v6["snd_wnd"] == 1024);
}

TEST_CASE("snapshot json: an empty snapshot still has every top-level name") {
    Snapshot empty;
    empty.backend = "sock_diag";
    auto j = snapshot_to_json(empty);
    CHECK(j["ports"].is_array());
    CHECK(j["sockets"].is_array());
    CHECK(j["incomplete"] == false);
}

namespace {

std::string streamed(const Snapshot& snap) {
    std::ostringstream out;
    SnapshotJsonStream json(out, snap.backend);
    for (const auto& s : snap.sockets) json.add(s);
    Snapshot summary = snap;
    summary.sockets.clear();  // as Backend::walk leaves it
    json.finish(summary);
    return out.str();
}

}  // namespace

TEST_CASE("snapshot json: streamed socket by socket, the same object and layout") {
    const Snapshot snap = zdd_test::fixture_snapshot();
    const std::string text = streamed(snap);
    INFO(text);
    const auto document = snapshot_to_json(snap);
    CHECK(nlohmann::json::parse(text) == document);
    // Each socket is laid out as the document's dump(2) lays it out, in the same order.
    const std::string dumped = document.dump(2);
    const size_t from = dumped.find("  \"sockets\": [");
    const size_t to = dumped.find("\n  ]", from);
    REQUIRE(from != std::string::npos);
    CHECK(text.find(dumped.substr(from, to - from + 4)) != std::string::npos);

    Snapshot empty;
    empty.backend = "sock_diag";
    CHECK(nlohmann::json::parse(streamed(empty)) == snapshot_to_json(empty));
}
