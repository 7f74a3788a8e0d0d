#include <signal.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include "runner/proc.hpp"
#include "test_support.hpp"

using namespace zdd;

TEST_CASE("parse_proc_stat survives spaces and parentheses in comm") {
    std::string line =
        "1234 (a (weird) name) S 77 1234 1234 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 "
        "1000 100 18446744073709551615";
    auto st = parse_proc_stat(line);
    REQUIRE(st);
    CHECK(st->pid == 1234);
    CHECK(st->state == 'S');
    CHECK(st->ppid == 77);
    CHECK(st->start_time == 987654);
    CHECK_FALSE(parse_proc_stat("garbage"));
    CHECK_FALSE(parse_proc_stat("12 (x) S 1 2"));
    CHECK_FALSE(parse_proc_stat(""));
}

TEST_CASE("read_proc_stat and child_pids see real processes") {
    auto me = read_proc_stat(::getpid());
    REQUIRE(me);
    CHECK(me->ppid == ::getppid());
    CHECK(me->start_time > 0);

    zdd_test::Subprocess a({"/bin/sleep", "30"});
    zdd_test::Subprocess b({"/bin/sleep", "30"});
    auto kids = child_pids(::getpid());
    CHECK(std::find(kids.begin(), kids.end(), a.pid()) != kids.end());
    CHECK(std::find(kids.begin(), kids.end(), b.pid()) != kids.end());
    a.signal(SIGKILL);
    a.wait(std::chrono::seconds(5));
    kids = child_pids(::getpid());
    CHECK(std::find(kids.begin(), kids.end(), a.pid()) == kids.end());
    CHECK_FALSE(read_proc_stat(a.pid()).has_value());
}
