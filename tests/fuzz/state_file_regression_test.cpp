// state.json inputs found by probing the state_file fuzz target (fuzz/) with huge numbers:
// nlohmann's get<int>() of a double beyond int's range is undefined behaviour (UBSan:
// "1e+300 is outside the range of representable values of type 'int'"). A state file holding
// one is corrupt (StateError naming the field); never a garbage pid or port.
#include <catch2/catch.hpp>
#include <string>
#include <utility>

#include "state/state_store.hpp"

namespace {

std::string with_blue(const std::string& fields) {
    return R"({"schema":1,"active":"blue","draining":null,"colors":{"blue":{)" + fields +
           R"(}},"deploy":null,"last_error":"","updated_at":1})";
}

}  // namespace

TEST_CASE("huge or out-of-range numbers in pid or port are refused, not cast") {
    // fields -> the field the error must name
    const std::pair<std::string, std::string> cases[] = {
        {R"("port":1e300,"pid":1)", "\"port\""},
        {R"("port":29223372036854775808935,"pid":0)", "\"port\""},
        {R"("port":65536,"pid":1)", "\"port\""},
        {R"("port":-1,"pid":1)", "\"port\""},
        {R"("port":8080.5,"pid":1)", "\"port\""},
        {R"("pid":1)", "\"port\""},
        {R"("port":8080,"pid":1e300)", "\"pid\""},
        {R"("port":8080,"pid":-1e300)", "\"pid\""},
        {R"("port":8080,"pid":4294967296)", "\"pid\""},
        {R"("port":8080,"pid":1,"pid_start_time":1e300)", "\"pid_start_time\""},
    };
    for (const auto& [fields, field] : cases) {
        INFO(fields);
        try {
            auto s = zdd::state_from_json(with_blue(fields), "regression");
            const auto& blue = s.instances.at(zdd::Color::blue);
            FAIL("accepted: port " << blue.port << ", pid " << blue.pid << ", start time "
                                   << blue.pid_start_time);
        } catch (const zdd::StateError& e) {
            CHECK_THAT(e.what(), Catch::Contains("is corrupt") && Catch::Contains(field));
        }
    }
}

TEST_CASE("in-range pid and port are read exactly") {
    for (const auto& [port, pid] : {std::pair<int, int>{1, 0}, {8080, 1}, {65535, 2147483647}}) {
        INFO(port << " " << pid);
        auto s = zdd::state_from_json(with_blue("\"port\":" + std::to_string(port) + ",\"pid\":" +
                                                std::to_string(pid) + ",\"pid_start_time\":7"),
                                      "regression");
        const auto& blue = s.instances.at(zdd::Color::blue);
        CHECK(blue.port == port);
        CHECK(blue.pid == pid);
        CHECK(blue.pid_start_time == 7u);
    }
}
