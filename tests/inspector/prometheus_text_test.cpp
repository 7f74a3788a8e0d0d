// Prometheus exposition: accepted by the real promtool, right values, label escaping, and the
// atomic textfile write.
#include <atomic>
#include <catch2/catch.hpp>
#include <filesystem>
#include <map>
#include <regex>
#include <sstream>
#include <thread>

#include "render/prometheus_text.hpp"
#include "snapshot_fixture.hpp"
#include "temp_dir.hpp"
#include "test_support.hpp"

using namespace drainmon;

namespace {

// "name{labels}" -> value, for every sample line.
std::map<std::string, double> samples(const std::string& text) {
    std::map<std::string, double> out;
    std::istringstream in(text);
    for (std::string l; std::getline(in, l);) {
        if (l.empty() || l[0] == '#') continue;
        auto sp = l.rfind(' ');
        out[l.substr(0, sp)] = std::stod(l.substr(sp + 1));
    }
    return out;
}

// The one lint note promtool 2.42 gives: the issue fixes this family's name, and promtool's
// style lint dislikes "counter" inside a counter's name. Scrapers parse it fine.
constexpr const char* kKnownLint =
    "zdd_monitor_counter_underflow_total metric name should not include type 'counter'";

// Runs the real promtool over the text. True when it parses (exit 0) or its only complaints
// are the known naming lint (exit 3 = lint problems; 1 = parse error); output in *out.
bool promtool_accepts(const std::string& text, std::string* out) {
    zdd_test::TempDir dir;
    std::string path = dir.write("m.prom", text);
    int status = -1;
    *out = zdd_test::run_capture("promtool check metrics < " + path + " 2>&1", &status);
    if (status == 0) return true;
    if (status != 3) return false;
    std::istringstream lines(*out);
    for (std::string l; std::getline(lines, l);)
        if (!l.empty() && l != kKnownLint) return false;
    return true;
}

}  // namespace

TEST_CASE("prometheus text: promtool accepts it and the values are right") {
    if (zdd_test::run_capture("command -v promtool").empty())
        zdd_test::skip_or_fail("promtool is not installed (Debian package prometheus)");
    std::string text = render_prometheus(zdd_test::fixture_snapshot());
    std::string out;
    bool accepted = promtool_accepts(text, &out);
    INFO(text);
    INFO("promtool: " << out);
    CHECK(accepted);

    for (const char* family :
         {"zdd_tcp_connections gauge", "zdd_tcp_state_changes_total counter",
          "zdd_monitor_map_overflow_total counter", "zdd_monitor_counter_underflow_total counter",
          "zdd_monitor_walks_total counter", "zdd_monitor_info gauge"}) {
        std::string name = std::string(family).substr(0, std::string(family).find(' '));
        CHECK(text.find("# HELP " + name + " ") != std::string::npos);
        CHECK(text.find(std::string("# TYPE ") + family + "\n") != std::string::npos);
    }

    auto s = samples(text);
    CHECK(s.at(R"(zdd_tcp_connections{port="8080",class="active",reason="recent_data"})") == 1);
    CHECK(s.at(R"(zdd_tcp_connections{port="8080",class="idle",reason="keepalive"})") == 1);
    CHECK(s.at(R"(zdd_tcp_connections{port="8080",class="stuck",reason="close_wait"})") == 1);
    CHECK(s.at(R"(zdd_tcp_connections{port="8080",class="closing",reason="closing"})") == 1);
    CHECK(s.at(R"(zdd_tcp_connections{port="8081",class="stuck",reason="retransmitting"})") == 1);
    // Zeros are exported too, so a series does not vanish when its last connection closes.
    CHECK(s.at(R"(zdd_tcp_connections{port="8081",class="active",reason="recent_data"})") == 0);
    CHECK(s.at(R"(zdd_tcp_state_changes_total{port="8080",state="ESTABLISHED"})") == 7);
    CHECK(s.at(R"(zdd_tcp_state_changes_total{port="8080",state="CLOSE_WAIT"})") == 2);
    CHECK(s.at(R"(zdd_tcp_sockets{port="8080",state="established"})") == 2);
    CHECK(s.at(R"(zdd_tcp_listeners{port="8081"})") == 2);
    CHECK(s.at("zdd_monitor_map_overflow_total") == 3);
    CHECK(s.at("zdd_monitor_counter_underflow_total") == 0);
    CHECK(s.at("zdd_monitor_incomplete") == 1);
    CHECK(s.at("zdd_monitor_walks_total") == 4);
    CHECK(s.at(R"(zdd_monitor_info{backend="bpf"})") == 1);

    // Class counts of a port add up to its sampled sockets.
    double sum8080 = 0;
    for (const auto& [k, v] : s)
        if (k.rfind(R"(zdd_tcp_connections{port="8080")", 0) == 0) sum8080 += v;
    CHECK(sum8080 == 4);
}

TEST_CASE("prometheus text: label values are escaped per the format") {
    CHECK(escape_label_value("plain") == "plain");
    CHECK(escape_label_value("a\"b\\c\nd") == "a\\\"b\\\\c\\nd");
    Snapshot snap;
    snap.backend = "we\"ird\\back\nend";
    std::string text = render_prometheus(snap);
    CHECK(text.find(R"(zdd_monitor_info{backend="we\"ird\\back\nend"} 1)") != std::string::npos);
    if (zdd_test::run_capture("command -v promtool").empty())
        zdd_test::skip_or_fail("promtool is not installed (Debian package prometheus)");
    std::string out;
    bool accepted = promtool_accepts(text, &out);
    INFO("promtool: " << out);
    CHECK(accepted);
}

TEST_CASE("textfile: atomic replace, no temp files left, readers never see half a file") {
    zdd_test::TempDir dir;
    const std::string target = dir.file("drain_inspector.prom");
    const std::string a(200000, 'a'), b(200000, 'b');
    write_textfile_atomic(dir.path(), "drain_inspector.prom", a);
    REQUIRE(zdd_test::read_file(target) == a);

    std::atomic<bool> done{false};
    std::atomic<int> torn{0}, reads{0};
    std::thread reader([&] {
        while (!done) {
            std::string got = zdd_test::read_file(target);
            if (got != a && got != b) ++torn;
            ++reads;
        }
    });
    for (int i = 0; i < 200; ++i)
        write_textfile_atomic(dir.path(), "drain_inspector.prom", i % 2 ? a : b);
    done = true;
    reader.join();
    CHECK(reads > 0);
    CHECK(torn == 0);
    CHECK(zdd_test::read_file(target) == a);

    int entries = 0;
    for (const auto& e : std::filesystem::directory_iterator(dir.path())) {
        ++entries;
        CHECK(e.path().filename() == "drain_inspector.prom");
    }
    CHECK(entries == 1);
    CHECK_THROWS_AS(write_textfile_atomic(dir.file("no/such/dir"), "x.prom", "x"), TextfileError);
}
