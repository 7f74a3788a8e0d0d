#include "nginx_tuning.hpp"

#include <catch2/catch.hpp>
#include <regex>

#include "runner/command.hpp"
#include "nginx/nginx_control.hpp"

namespace zdd_load {

using namespace std::chrono_literals;

void set_worker_connections(zdd_e2e::E2eHost& h, int n) {
    const auto conf = h.nginx().conf();
    const std::string before = zdd_e2e::read_file(conf);
    const std::string after = std::regex_replace(before, std::regex(R"(worker_connections \d+;)"),
                                                 "worker_connections " + std::to_string(n) + ";");
    REQUIRE(after != before);
    zdd_test::write_text(conf, after);
    zdd::Nginx(h.nginx().options()).reload();
}

std::string version_through_nginx(const zdd_e2e::E2eHost& h) {
    auto r = zdd::run_command({"curl", "-s", "--noproxy", "*", "--max-time", "5",
                               "http://127.0.0.1:" + std::to_string(h.nginx_port()) + "/health"},
                              10s);
    auto j = nlohmann::json::parse(r.out, nullptr, false);
    return j.is_object() ? j.value("version", "") : "";
}

}  // namespace zdd_load
