#include <catch2/catch.hpp>

#include "runner/command.hpp"

using namespace zdd;

TEST_CASE("run_command captures stdout, stderr and the exit code") {
    auto r = run_command({"/bin/sh", "-c", "echo out; echo err >&2; exit 7"});
    CHECK(r.status == 7);
    CHECK_FALSE(r.timed_out);
    CHECK(r.out == "out\n");
    CHECK(r.err == "err\n");
    CHECK_FALSE(r.ok());
}

TEST_CASE("run_command passes argv without a shell") {
    auto r = run_command({"/bin/echo", "a b", "$HOME;", "`x`"});
    CHECK(r.ok());
    CHECK(r.out == "a b $HOME; `x`\n");
}

TEST_CASE("run_command kills a command that overruns its bound") {
    auto r = run_command({"/bin/sleep", "30"}, std::chrono::milliseconds(200));
    CHECK(r.timed_out);
    CHECK_FALSE(r.ok());
}

TEST_CASE("run_command: a missing program is a CommandError, a signal is 128+sig") {
    CHECK_THROWS_AS(run_command({"/nonexistent/zdd-no-such-binary"}), CommandError);
    auto r = run_command({"/bin/sh", "-c", "kill -9 $$"});
    CHECK(r.status == 128 + 9);
}

TEST_CASE("run_command caps captured output") {
    auto r =
        run_command({"/bin/sh", "-c", "head -c 100000 /dev/zero"}, std::chrono::seconds(10), 1000);
    CHECK(r.ok());
    CHECK(r.out.size() == 1000);
}

TEST_CASE("first_line trims and skips blank lines") {
    CHECK(first_line("\n  \n  nginx: [emerg] bad  \nsecond") == "nginx: [emerg] bad");
    CHECK(first_line("") == "");
}
