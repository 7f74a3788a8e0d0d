#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "state/state_store.hpp"
#include "temp_dir.hpp"

using namespace zdd;

TEST_CASE("state round-trips through state.json") {
    zdd_test::TempDir d;
    StateStore store(d / "state");
    State empty = store.load();  // no file yet
    CHECK_FALSE(empty.active);
    CHECK(empty.instances.empty());

    State s;
    s.active = Color::blue;
    s.instances[Color::blue] = {8080,    4242,         987654,        "/r/1/app",
                                "1.0.0", 1700000000.5, {"--a", "b c"}};
    s.instances[Color::green] = {8081, 0, 0, "/r/2/app", "1.1.0", 0, {}};
    s.deploy = DeployRecord{Color::green, Color::blue, {}};
    for (Phase p : {Phase::starting, Phase::health_check, Phase::shifting, Phase::removing_old,
                    Phase::draining})
        s.enter_phase(p);
    s.draining = Color::blue;
    s.last_error = "nothing";
    store.save(s);

    State r = store.load();
    CHECK(r.active == Color::blue);
    CHECK(r.draining == Color::blue);
    CHECK(r.instances.at(Color::blue).pid == 4242);
    CHECK(r.instances.at(Color::blue).pid_start_time == 987654);
    CHECK(r.instances.at(Color::blue).release == "/r/1/app");
    CHECK(r.instances.at(Color::blue).args == std::vector<std::string>{"--a", "b c"});
    CHECK(r.instances.at(Color::green).args.empty());
    CHECK(r.instances.at(Color::green).version == "1.1.0");
    REQUIRE(r.deploy);
    CHECK(r.deploy->to == Color::green);
    CHECK(r.deploy->from == Color::blue);
    CHECK(r.deploy->phase() == Phase::draining);
    REQUIRE(r.deploy->phases.size() == 5);
    for (std::size_t i = 1; i < r.deploy->phases.size(); ++i)
        CHECK(r.deploy->phases[i].at >= r.deploy->phases[i - 1].at);
    CHECK(r.last_error == "nothing");
    CHECK(r.updated_at > 0);

    // The file is the documented JSON (docs/state-schema.md).
    auto j = nlohmann::json::parse(zdd_test::read_text(store.state_file()));
    CHECK(j["schema"] == 1);
    CHECK(j["active"] == "blue");
    CHECK(j["deploy"]["phase"] == "draining");
    CHECK(j["colors"]["green"]["port"] == 8081);
}

TEST_CASE("a corrupt state file gives a clear error") {
    zdd_test::TempDir d;
    StateStore store(d.path());
    const std::vector<std::pair<std::string, std::string>> cases = {
        {"{not json", "parse_error"},
        {"[]", "not a JSON object"},
        {R"({"active":"blue"})", "schema"},
        {R"({"schema":2})", "schema 2"},
        {R"({"schema":1,"active":"purple"})", "blue or green"},
        {R"({"schema":1,"colors":{"red":{"port":1}}})", "color 'red'"},
        {R"({"schema":1,"colors":{"blue":{"port":"x"}}})", "is not an integer"},
        {R"({"schema":1,"colors":{"blue":{"port":70000}}})", "corrupt"},
        {R"({"schema":1,"deploy":{"to":"green","phases":[{"phase":"warp","at":1}]}})",
         "unknown phase 'warp'"},
        {"", "corrupt"},
    };
    for (const auto& [text, want] : cases) {
        INFO(text);
        zdd_test::write_text(store.state_file(), text);
        try {
            store.load();
            FAIL("no error");
        } catch (const StateError& e) {
            std::string m = e.what();
            CHECK_THAT(
                m, Catch::StartsWith("state file " + store.state_file().string() + " is corrupt"));
            CHECK_THAT(m, Catch::Contains(want));
            // Not "`zdd status` explains": status reads the same file and fails the same way.
            CHECK_THAT(m, !Catch::Contains("zdd status") && Catch::Contains(".corrupt"));
        }
    }
}

TEST_CASE("status file holds the color word") {
    zdd_test::TempDir d;
    auto p = d / "vibe-manager-deployment.status";
    CHECK_FALSE(read_status_file(p));
    write_status_file(p, Color::green);
    CHECK(zdd_test::read_text(p) == "green\n");
    CHECK(read_status_file(p) == Color::green);
    zdd_test::write_text(p, "blue");  // the original script wrote it without a newline
    CHECK(read_status_file(p) == Color::blue);
    zdd_test::write_text(p, "purple\n");
    CHECK_THROWS_AS(read_status_file(p), StateError);
}

// Runs DeployLock::acquire in a forked child: 0 = acquired, 1 = busy (message checked), 2 = other.
static int try_lock_in_child(const std::filesystem::path& dir, pid_t expect_holder) {
    pid_t pid = ::fork();
    if (pid == 0) {
        int rc = 2;
        try {
            DeployLock::acquire(dir);
            rc = 0;
        } catch (const LockBusy& e) {
            std::string m = e.what();
            bool names = m.find("pid " + std::to_string(expect_holder)) != std::string::npos;
            rc = (names && e.holder_pid == expect_holder) ? 1 : 2;
        } catch (...) {
        }
        ::_exit(rc);
    }
    int st = 0;
    ::waitpid(pid, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 3;
}

TEST_CASE("the deploy lock refuses a second holder and names the first") {
    zdd_test::TempDir d;
    {
        DeployLock lock = DeployLock::acquire(d.path());
        CHECK(try_lock_in_child(d.path(), ::getpid()) == 1);
        // a second open file description in the same process is refused as well
        CHECK_THROWS_AS(DeployLock::acquire(d.path()), LockBusy);
    }
    CHECK(try_lock_in_child(d.path(), 0) == 0);  // released with the object
}

TEST_CASE("phase names are the issue's") {
    CHECK(to_string(Phase::removing_old) == "removing_old");
    CHECK(parse_phase("health_check") == Phase::health_check);
    CHECK_FALSE(parse_phase("x"));
}
