#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdlib>

#include "runner/instance_runner.hpp"
#include "runner/proc.hpp"
#include "state/state_store.hpp"
#include "temp_dir.hpp"
#include "test_support.hpp"

using namespace zdd;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

// A release that reports what it got, then waits; SIGTERM exits 0 (as the demo app does).
const char* kApp = R"SH(#!/bin/sh
echo "PORT=$PORT COLOR=$DEPLOYMENT_COLOR TOKEN=$VIBE_DEPLOYMENT_TOKEN APP_VERSION=$APP_VERSION EXTRA=$EXTRA ARGS=$*"
echo "CWD=$(pwd) NOFILE=$(ulimit -n) UID=$(id -u)"
echo "SID=$(cut -d' ' -f6 /proc/$$/stat) PID=$$"
echo READY
trap 'echo got-term; exit 0' TERM
while :; do sleep 0.05; done
)SH";

LaunchSpec spec_for(const zdd_test::TempDir& d, const std::string& script = kApp) {
    auto bin = d / "app.sh";
    if (!fs::exists(bin)) zdd_test::write_text(bin, script, 0755);
    LaunchSpec s;
    s.binary = bin;
    s.color = Color::green;
    s.port = 8081;
    s.token = Secret("tok-123");
    s.log_file = d / "logs" / "green.log";
    return s;
}

bool log_has(const fs::path& log, const std::string& what) {
    return zdd_test::wait_until(
        [&] { return zdd_test::read_text(log).find(what) != std::string::npos; }, 10s);
}

// Stops the instance at scope exit whatever the test outcome.
struct Reaper {
    ProcessRef p;
    ~Reaper() {
        if (signal_process(p, SIGKILL)) wait_exit(p, 5s);
    }
};

}  // namespace

TEST_CASE("exec runner: environment, args, session, log, closed fds") {
    zdd_test::TempDir d;
    ::setenv("APP_VERSION", "9.9.9", 1);
    ::setenv("EXTRA", "from-zdd-env", 1);
    // A descriptor zdd holds without CLOEXEC must not reach the instance.
    const fs::path marker = d / "leak-marker";
    zdd_test::write_text(marker, "x");
    drainmon::UniqueFd leak(::open(marker.c_str(), O_RDONLY));
    REQUIRE(leak.get() > 2);

    LaunchSpec s = spec_for(d);
    s.args = {"--flag", "x"};
    s.extra_env = {{"EXTRA", "from-env-file"}, {"PORT", "1"}};  // PORT stays ours
    ProcessRef p = start_detached(s);
    Reaper r{p};
    ::unsetenv("APP_VERSION");
    ::unsetenv("EXTRA");
    REQUIRE(p.pid > 0);
    CHECK(p.start_time == read_proc_stat(p.pid)->start_time);
    CHECK(alive(p));
    REQUIRE(log_has(s.log_file, "READY"));
    const std::string log = zdd_test::read_text(s.log_file);
    CHECK_THAT(log, Catch::Contains("PORT=8081 COLOR=green TOKEN=tok-123 APP_VERSION=9.9.9 "
                                    "EXTRA=from-env-file ARGS=--flag x"));
    CHECK_THAT(log, Catch::Contains("CWD=" + d.path().string()));  // default: the binary's dir
    CHECK_THAT(log, Catch::Contains("SID=" + std::to_string(p.pid) + " "));  // own session
    // stdin /dev/null, stdout+stderr the log, and nothing of ours.
    const fs::path fd_dir = "/proc/" + std::to_string(p.pid) + "/fd";
    CHECK(fs::read_symlink(fd_dir / "0") == "/dev/null");
    CHECK(fs::read_symlink(fd_dir / "1") == s.log_file);
    CHECK(fs::read_symlink(fd_dir / "2") == s.log_file);
    int fds = 0;
    for (const auto& e : fs::directory_iterator(fd_dir)) {
        ++fds;
        std::error_code ec;
        CHECK(fs::read_symlink(e.path(), ec) != marker);
    }
    CHECK(fds >= 3);
    // The token is in the environment, never in argv.
    CHECK(zdd_test::read_text("/proc/" + std::to_string(p.pid) + "/cmdline").find("tok-123") ==
          std::string::npos);

    CHECK(signal_process(p, SIGTERM));
    auto st = wait_exit(p, 10s);
    REQUIRE(st);
    CHECK(*st == 0);
    CHECK(log_has(s.log_file, "got-term"));
    CHECK_FALSE(alive(p));
    CHECK_FALSE(signal_process(p, SIGTERM));  // gone: nothing is signalled
}

TEST_CASE("a pid with another start time is never signalled") {
    zdd_test::TempDir d;
    ProcessRef p = start_detached(spec_for(d));
    Reaper r{p};
    ProcessRef impostor{p.pid, p.start_time + 1};  // what a reused pid looks like
    CHECK_FALSE(alive(impostor));
    CHECK_FALSE(signal_process(impostor, SIGKILL));
    CHECK_FALSE(wait_exit(impostor, 100ms) == std::nullopt);  // "not ours" = not running
    CHECK(alive(p));                                          // the real process was not touched
    CHECK(signal_process(p, SIGKILL));
    auto st = wait_exit(p, 10s);
    REQUIRE(st);
    CHECK(*st == 128 + SIGKILL);
}

TEST_CASE("wait_exit is bounded and reports the exit code") {
    zdd_test::TempDir d;
    ProcessRef p = start_detached(spec_for(d));
    Reaper r{p};
    CHECK(wait_exit(p, 200ms) == std::nullopt);  // still running at the bound

    zdd_test::TempDir d2;
    ProcessRef q = start_detached(spec_for(d2, "#!/bin/sh\necho bye\nexit 3\n"));
    auto st = wait_exit(q, 10s);
    REQUIRE(st);
    CHECK(*st == 3);
    CHECK_FALSE(alive(q));
}

TEST_CASE("start failures are clear errors") {
    zdd_test::TempDir d;
    LaunchSpec s = spec_for(d);
    s.binary = d / "missing";
    CHECK_THROWS_WITH(start_detached(s), Catch::Contains("No such file"));
    zdd_test::write_text(d / "noexec", "#!/bin/sh\n", 0644);
    s.binary = d / "noexec";
    CHECK_THROWS_WITH(start_detached(s), Catch::Contains("Permission denied"));
    zdd_test::write_text(d / "badinterp", "#!/nonexistent/interpreter\n", 0755);
    s.binary = d / "badinterp";
    CHECK_THROWS_WITH(start_detached(s), Catch::Contains("execve"));
    s = spec_for(d);
    s.run_as = "zdd-no-such-user";
    CHECK_THROWS_WITH(start_detached(s), Catch::Contains("no such user"));
    s = spec_for(d);
    s.workdir = d / "nope";
    CHECK_THROWS_WITH(start_detached(s), Catch::Contains("chdir"));
}

TEST_CASE("workdir, nofile and log rotation") {
    zdd_test::TempDir d, wd;
    LaunchSpec s = spec_for(d);
    s.workdir = wd.path();
    s.nofile = 1234;
    s.log_max_bytes = 100;
    fs::create_directories(s.log_file.parent_path());
    zdd_test::write_text(s.log_file, std::string(200, 'o') + "\n");  // over the cap
    ProcessRef p = start_detached(s);
    Reaper r{p};
    REQUIRE(log_has(s.log_file, "READY"));
    const std::string log = zdd_test::read_text(s.log_file);
    CHECK_THAT(log, Catch::Contains("CWD=" + wd.path().string()));
    CHECK_THAT(log, Catch::Contains("NOFILE=1234"));
    CHECK(log.find("ooo") == std::string::npos);
    CHECK(zdd_test::read_text(s.log_file.string() + ".1").size() == 201);
}

TEST_CASE("run-as switches user") {
    zdd_test::require_root();
    passwd* pw = ::getpwnam("nobody");
    if (!pw) zdd_test::skip_or_fail("no user 'nobody'");
    zdd_test::TempDir d;
    ::chmod(d.path().c_str(), 0755);  // nobody must reach the script
    LaunchSpec s = spec_for(d);
    s.run_as = "nobody";
    ProcessRef p = start_detached(s);
    Reaper r{p};
    REQUIRE(log_has(s.log_file, "READY"));
    CHECK_THAT(zdd_test::read_text(s.log_file),
               Catch::Contains("UID=" + std::to_string(pw->pw_uid)));
}

TEST_CASE("an instance never holds zdd's deploy lock") {
    zdd_test::TempDir d, state;
    ProcessRef p;
    {
        DeployLock lock = DeployLock::acquire(state.path());
        p = start_detached(spec_for(d));
    }
    Reaper r{p};
    REQUIRE(alive(p));
    CHECK_NOTHROW(DeployLock::acquire(state.path()));  // released although the instance runs
}

TEST_CASE("systemd runner: the systemctl command lines (fake systemctl)") {
    zdd_test::TempDir d;
    // This machine has no systemd as PID 1: a FAKE systemctl records its argv, answers
    // `show` with a MainPID the test chooses and `is-active` from a file.
    auto fake = d / "fake-systemctl";
    auto calls = d / "calls.txt";
    zdd_test::write_text(fake,
                         "#!/bin/sh\n# FAKE systemctl for tests: records argv\n"
                         "echo \"$*\" >> '" +
                             calls.string() +
                             "'\n"
                             "case \"$1\" in\n"
                             "  show) cat '" +
                             (d / "mainpid").string() +
                             "';;\n"
                             "  is-active) exit $(cat '" +
                             (d / "active").string() +
                             "');;\n"
                             "esac\nexit 0\n",
                         0755);
    zdd_test::write_text(d / "mainpid", std::to_string(::getpid()) + "\n");
    zdd_test::write_text(d / "active", "0");

    SystemdRunner sr(fake.string(), "vibe-manager");
    LaunchSpec s;
    s.color = Color::green;
    s.token = Secret("never-in-argv");
    ProcessRef p = sr.start(s);
    CHECK(p.pid == ::getpid());
    CHECK(p.start_time == read_proc_stat(::getpid())->start_time);
    CHECK(sr.alive(Color::green, p));
    CHECK(sr.signal(Color::blue, p, SIGINT));
    zdd_test::write_text(d / "active", "3");
    CHECK_FALSE(sr.alive(Color::green, p));
    CHECK(sr.wait_exit(Color::green, p, 1s));
    sr.stop(Color::blue);

    const std::string log = zdd_test::read_text(calls);
    CHECK(log ==
          "start vibe-manager-green.service\n"
          "show --property=MainPID --value vibe-manager-green.service\n"
          "is-active --quiet vibe-manager-green.service\n"
          "kill --kill-who=main --signal=SIGINT vibe-manager-blue.service\n"
          "is-active --quiet vibe-manager-green.service\n"
          "is-active --quiet vibe-manager-green.service\n"
          "stop vibe-manager-blue.service\n");
    CHECK(log.find("never-in-argv") == std::string::npos);

    zdd_test::write_text(fake, "#!/bin/sh\necho 'Unit x not found.' >&2\nexit 5\n", 0755);
    CHECK_THROWS_WITH(sr.start(s), Catch::Contains("Unit x not found."));
}

TEST_CASE("systemd units exec the release the color link points at") {
    zdd_test::TempDir d;
    UnitSpec u;
    u.service = "vibe-manager";
    u.state_dir = "/var/lib/zdd/vibe-manager";
    u.token_file = "/opt/vibe-manager/config/deployment.env";
    u.run_as = "vibe";
    u.nofile = 65536;
    u.args = {"--mode", "a b"};
    auto files = write_units(u, d.path());
    REQUIRE(files.size() == 2);
    CHECK(files[0] == d / "vibe-manager-blue.service");
    CHECK(files[1] == d / "vibe-manager-green.service");
    const std::string blue = zdd_test::read_text(files[0]);
    const std::string green = zdd_test::read_text(files[1]);
    CHECK_THAT(
        blue, Catch::Contains("ExecStart=\"/var/lib/zdd/vibe-manager/blue\" \"--mode\" \"a b\"\n"));
    CHECK_THAT(blue, Catch::Contains("Environment=PORT=8080\n"));
    CHECK_THAT(blue, Catch::Contains("Environment=DEPLOYMENT_COLOR=blue\n"));
    CHECK_THAT(blue, Catch::Contains("EnvironmentFile=-/opt/vibe-manager/config/deployment.env\n"));
    CHECK_THAT(blue, Catch::Contains("User=vibe\n"));
    CHECK_THAT(blue, Catch::Contains("LimitNOFILE=65536\n"));
    CHECK_THAT(blue, Catch::Contains("KillSignal=SIGTERM\n"));
    CHECK_THAT(green, Catch::Contains("ExecStart=\"/var/lib/zdd/vibe-manager/green\""));
    CHECK_THAT(green, Catch::Contains("Environment=PORT=8081\n"));
}
