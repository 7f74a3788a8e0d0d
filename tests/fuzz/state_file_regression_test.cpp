// state.json inputs found by probing the state_file fuzz target (fuzz/) with huge numbers:
// nlohmann's get<int>() of a double beyond int's range is undefined behaviour (UBSan:
// "1e+300 is outside the range of representable values of type 'int'"). A state file holding
// one is corrupt (StateError), or the value is rejected; never a garbage pid or port.
#include <catch2/catch.hpp>
#include <string>

#include "state/state_store.hpp"

namespace {

std::string with_blue(const std::string& fields) {
    return R"({"schema":1,"active":"blue","draining":null,"colors":{"blue":{)" + fields +
           R"(}},"deploy":null,"last_error":"","updated_at":1})";
}

}  // namespace

TEST_CASE("huge numbers in pid or port are refused, not cast") {
    for (const std::string fields :
         {R"("port":1e300,"pid":1)", R"("port":29223372036854775808935,"pid":0)",
          R"("port":8080,"pid":1e300)", R"("port":8080,"pid":1,"pid_start_time":1e300)",
          R"("port":8080,"pid":-1e300)"}) {
        INFO(fields);
        try {
            auto s = zdd::state_from_json(with_blue(fields), "regression");
            const auto& blue = s.instances.at(zdd::Color::blue);
            CHECK(blue.pid >= 0);
            CHECK(blue.pid_start_time < (1ULL << 63));
        } catch (const zdd::StateError& e) {
            CHECK(std::string(e.what()).find("is corrupt") != std::string::npos);
        }
    }
}
