#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <map>

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

TEST_CASE("the log is never written through a symlink: neither the log nor its dir") {
    zdd_test::TempDir d;
    LaunchSpec s = spec_for(d);
    fs::create_directories(d / "elsewhere");
    SECTION("logs/ is a symlink") {
        fs::create_directory_symlink(d / "elsewhere", d / "logs");
        CHECK_THROWS_AS(start_detached(s), RunnerError);
    }
    SECTION("logs/green.log is a symlink") {
        fs::create_directories(d / "logs");
        fs::create_symlink(d / "elsewhere" / "target", s.log_file);
        CHECK_THROWS_AS(start_detached(s), RunnerError);
    }
    CHECK(fs::is_empty(d / "elsewhere"));
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
    // The instance writes through the fd zdd opened; the log stays zdd's, so the state dir
    // check of the next run (d is laid out as a state dir: logs/green.log) still passes.
    struct stat st {};
    REQUIRE(::stat(s.log_file.c_str(), &st) == 0);
    CHECK(st.st_uid == 0);
    CHECK_NOTHROW(StateStore(d.path()).load());
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
    zdd_test::TempDir d, state, runtime;
    // The unit tests run without systemd as PID 1: a FAKE systemctl records its argv, answers
    // `show` from files the test writes. tests/lab/container_systemd.sh meets the real one.
    auto fake = d / "fake-systemctl";
    auto calls = d / "calls.txt";
    zdd_test::write_text(fake,
                         "#!/bin/sh\n# FAKE systemctl for tests: records argv\n"
                         "echo \"$*\" >> '" +
                             calls.string() +
                             "'\n"
                             "case \"$2\" in\n"
                             "  --property=MainPID) cat '" +
                             (d / "mainpid").string() +
                             "';;\n"
                             "  --property=ActiveState,SubState) cat '" +
                             (d / "state").string() +
                             "';;\n"
                             "  --property=User) cat '" +
                             (d / "user").string() +
                             "';;\n"
                             "esac\nexit 0\n",
                         0755);
    zdd_test::write_text(d / "mainpid", std::to_string(::getpid()) + "\n");
    zdd_test::write_text(d / "state", "ActiveState=active\nSubState=running\n");
    zdd_test::write_text(d / "user", "\n");

    SystemdRunner sr(fake.string(), "vibe-manager", state.path(), runtime.path());
    LaunchSpec s;
    s.color = Color::green;
    s.port = 8081;
    s.token = Secret("never-in-argv");
    ProcessRef p = sr.start(s);
    CHECK(p.pid == ::getpid());
    CHECK(p.start_time == read_proc_stat(::getpid())->start_time);
    CHECK(sr.alive(Color::green, p));
    // A stop job still waiting for streams is alive; a unit waiting to restart is not.
    zdd_test::write_text(d / "state", "ActiveState=deactivating\nSubState=stop-sigterm\n");
    CHECK(sr.alive(Color::green, p));
    zdd_test::write_text(d / "state", "ActiveState=activating\nSubState=auto-restart\n");
    CHECK_FALSE(sr.alive(Color::green, p));
    CHECK(sr.signal(Color::blue, p, SIGTERM));
    CHECK(sr.signal(Color::blue, p, SIGINT));
    zdd_test::write_text(d / "state", "ActiveState=failed\nSubState=failed\n");
    CHECK_FALSE(sr.alive(Color::green, p));
    CHECK(sr.wait_exit(Color::green, p, 1s));
    CHECK(sr.root_warning(s));  // no User= in the unit
    zdd_test::write_text(d / "user", "vibe\n");
    CHECK_FALSE(sr.root_warning(s));

    const std::string log = zdd_test::read_text(calls);
    CHECK(log ==
          "start vibe-manager-green.service\n"
          "show --property=MainPID --value vibe-manager-green.service\n"
          "show --property=ActiveState,SubState vibe-manager-green.service\n"
          "show --property=ActiveState,SubState vibe-manager-green.service\n"
          "show --property=ActiveState,SubState vibe-manager-green.service\n"
          // SIGTERM is a stop job; a cut is the stop job plus the signal to the main process.
          "stop --no-block vibe-manager-blue.service\n"
          "stop --no-block vibe-manager-blue.service\n"
          "kill --kill-who=main --signal=SIGINT vibe-manager-blue.service\n"
          "show --property=ActiveState,SubState vibe-manager-green.service\n"
          "show --property=ActiveState,SubState vibe-manager-green.service\n"
          "show --property=User --value vibe-manager-green.service\n"
          "show --property=User --value vibe-manager-green.service\n");
    CHECK(log.find("never-in-argv") == std::string::npos);
    // The token reaches the unit through the state dir's env file (0600), not argv or the unit.
    const fs::path env = unit_env_file(state.path(), Color::green);
    struct stat st {};
    REQUIRE(::stat(env.c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0600);
    const std::string env_text = zdd_test::read_text(env);
    CHECK_THAT(env_text, Catch::Contains("VIBE_DEPLOYMENT_TOKEN=\"never-in-argv\"\n"));
    CHECK_THAT(env_text, Catch::Contains("PORT=\"8081\"\n"));
    CHECK_THAT(env_text, Catch::Contains("DEPLOYMENT_COLOR=\"green\"\n"));
    // No args: no drop-in, no daemon-reload.
    CHECK_FALSE(fs::exists(runtime / "vibe-manager-green.service.d" / "zdd-args.conf"));

    zdd_test::write_text(fake, "#!/bin/sh\necho 'Unit x not found.' >&2\nexit 5\n", 0755);
    CHECK_THROWS_WITH(sr.start(s), Catch::Contains("Unit x not found."));
}

TEST_CASE("systemd runner: the deploy's args reach the unit through a runtime drop-in") {
    zdd_test::TempDir d, state, runtime;
    auto fake = d / "fake-systemctl";
    auto calls = d / "calls.txt";
    zdd_test::write_text(
        fake,
        "#!/bin/sh\n# FAKE systemctl for tests\necho \"$*\" >> '" + calls.string() + "'\nexit 0\n",
        0755);
    SystemdRunner sr(fake.string(), "svc", state.path(), runtime.path());
    LaunchSpec s;
    s.color = Color::blue;
    s.port = 8080;
    s.args = {"--version-string", "v1 %n $HOME"};
    sr.start(s);
    const fs::path dropin = runtime / "svc-blue.service.d" / "zdd-args.conf";
    CHECK(zdd_test::read_text(dropin) ==
          "# Written by zdd: the arguments of the last deploy of this color.\n[Service]\n"
          "ExecStart=\nExecStart=\"" +
              (state / "blue").string() + "\" \"--version-string\" \"v1 %%n $$HOME\"\n");
    sr.start(s);  // same args: no second daemon-reload
    s.args.clear();
    sr.start(s);  // no args: the drop-in goes, systemd reloads
    CHECK_FALSE(fs::exists(dropin));
    const std::string log = zdd_test::read_text(calls);
    size_t reloads = 0;
    for (size_t pos = 0; (pos = log.find("daemon-reload", pos)) != std::string::npos; ++pos)
        ++reloads;
    CHECK(reloads == 2);
}

TEST_CASE("systemd units exec the release the color link points at") {
    zdd_test::TempDir d;
    UnitSpec u;
    u.service = "vibe-manager";
    u.state_dir = "/var/lib/zdd/vibe-manager";
    u.env_file = "/etc/vibe/app.env";
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
    // The operator's env file, then zdd's (token included), which wins.
    CHECK_THAT(blue, Catch::Contains("EnvironmentFile=/etc/vibe/app.env\n"
                                     "EnvironmentFile=-/var/lib/zdd/vibe-manager/blue.env\n"));
    CHECK_THAT(blue, Catch::Contains("User=vibe\n"));
    CHECK_THAT(blue, Catch::Contains("LimitNOFILE=65536\n"));
    CHECK_THAT(blue, Catch::Contains("KillSignal=SIGTERM\n"));
    CHECK_THAT(green, Catch::Contains("ExecStart=\"/var/lib/zdd/vibe-manager/green\""));
    CHECK_THAT(green, Catch::Contains("EnvironmentFile=-/var/lib/zdd/vibe-manager/green.env\n"));
    CHECK_THAT(green, Catch::Contains("Environment=PORT=8081\n"));
}

TEST_CASE("unit files: values are escaped per systemd.syntax, injections refused") {
    UnitSpec u;
    u.service = "svc";
    u.state_dir = "/srv/100%/state";
    u.workdir = "/srv/a%b c";
    u.args = {"--x=$HOME", "say \"hi\"\\", "50%", "two\nlines"};
    const std::string blue = render_unit(u, Color::blue);
    CHECK_THAT(blue, Catch::Contains("ExecStart=\"/srv/100%%/state/blue\" \"--x=$$HOME\" "
                                     "\"say \\\"hi\\\"\\\\\" \"50%%\" \"two\\x0alines\"\n"));
    CHECK_THAT(blue, Catch::Contains("WorkingDirectory=/srv/a%%b c\n"));
    CHECK_THAT(blue, Catch::Contains("EnvironmentFile=-/srv/100%%/state/blue.env\n"));
    // Every line is one of ours: nothing an argument held started a line of its own.
    for (size_t pos = 0, nl; (nl = blue.find('\n', pos)) != std::string::npos; pos = nl + 1) {
        const bool ours = blue.substr(pos, nl - pos).find("lines") == std::string::npos ||
                          blue.substr(pos, 10) == "ExecStart=";
        CHECK(ours);
    }

    UnitSpec bad = u;
    bad.run_as = "vibe\nExecStartPre=/bin/sh -c id";
    CHECK_THROWS_AS(render_unit(bad, Color::blue), RunnerError);
    bad = u;
    bad.workdir = "/srv\nExecStartPre=/tmp/x";
    CHECK_THROWS_WITH(render_unit(bad, Color::blue), Catch::Contains("control character"));
    bad = u;
    bad.env_file = "/etc/app.env\\";
    CHECK_THROWS_WITH(render_unit(bad, Color::blue), Catch::Contains("backslash"));
}

TEST_CASE("--run-as, --workdir and --host are validated") {
    CHECK_FALSE(launch_options_error("", "", "127.0.0.1"));
    CHECK_FALSE(launch_options_error("vibe-app", "/srv/app", "::1"));
    CHECK_FALSE(launch_options_error("_svc.1", "/srv/my app", "app-1.internal.example"));
    CHECK(launch_options_error("vibe\nExecStartPre=/bin/id", "", "127.0.0.1"));
    CHECK(launch_options_error("-rf", "", "127.0.0.1"));
    CHECK(launch_options_error("root;id", "", "127.0.0.1"));
    CHECK(launch_options_error(std::string(33, 'a'), "", "127.0.0.1"));
    CHECK(launch_options_error("", "relative/dir", "127.0.0.1"));
    CHECK(launch_options_error("", "/srv\n[Service]", "127.0.0.1"));
    CHECK(launch_options_error("", "", ""));
    CHECK(launch_options_error("", "", "127.0.0.1;\n    server evil:80"));
    CHECK(launch_options_error("", "", "-bad.example"));
    CHECK(launch_options_error("", "", "a..b"));
    // The message names the flag, never echoes the value.
    auto e = launch_options_error("x\ny", "", "127.0.0.1");
    REQUIRE(e);
    CHECK_THAT(*e, Catch::StartsWith("--run-as"));
    CHECK(e->find('\n') == std::string::npos);
}

TEST_CASE("the instance gets a clean environment, not zdd's") {
    zdd_test::TempDir d;
    std::map<std::string, std::string> zdd_side{{"LANG", "de_DE.UTF-8"},
                                                {"APP_VERSION", "1.2"},
                                                {"http_proxy", "http://127.0.0.1:3128"},
                                                {"AWS_SECRET_ACCESS_KEY", "s3cret"},
                                                {"PATH", "/home/op/bin:/usr/bin"},
                                                {"VIBE_DEPLOYMENT_TOKEN", "from-zdd-env"}};
    auto lookup = [&](const std::string& k) -> std::optional<std::string> {
        auto it = zdd_side.find(k);
        if (it == zdd_side.end()) return std::nullopt;
        return it->second;
    };
    LaunchSpec s = spec_for(d);
    s.extra_env = {{"FROM_ENV_FILE", "1"}, {"DEPLOYMENT_COLOR", "red"}};
    auto env = instance_environment(s, lookup);
    std::map<std::string, std::string> m(env.begin(), env.end());
    CHECK(m == std::map<std::string, std::string>{
                   {"PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
                   {"LANG", "de_DE.UTF-8"},
                   {"APP_VERSION", "1.2"},
                   {"FROM_ENV_FILE", "1"},
                   {"PORT", "8081"},
                   {"DEPLOYMENT_COLOR", "green"},
                   {"VIBE_DEPLOYMENT_TOKEN", "tok-123"}});
    zdd_side.erase("LANG");
    auto env2 = instance_environment(s, lookup);
    CHECK(std::map<std::string, std::string>(env2.begin(), env2.end())["LANG"] == "C.UTF-8");
    // The env-file syntax systemd reads back verbatim.
    CHECK(render_env_file({{"A", "x\"y\\z$HOME`id`"}}) ==
          "# Written by zdd at each start of this color; the unit reads it.\n"
          "A=\"x\\\"y\\\\z\\$HOME\\`id\\`\"\n");
    CHECK_THROWS_AS(render_env_file({{"A", "two\nlines"}}), RunnerError);
    CHECK_THROWS_AS(render_env_file({{"A=B", "x"}}), RunnerError);

    // The exec runner: a variable only in zdd's environment never reaches the instance.
    ::setenv("ZDD_TEST_ONLY_IN_ZDD", "leak", 1);
    zdd_test::write_text(d / "env.sh", "#!/bin/sh\nenv\necho READY\nexec sleep 30\n", 0755);
    s.binary = d / "env.sh";
    ProcessRef p = start_detached(s);
    Reaper r{p};
    ::unsetenv("ZDD_TEST_ONLY_IN_ZDD");
    REQUIRE(log_has(s.log_file, "READY"));
    const std::string log = zdd_test::read_text(s.log_file);
    CHECK(log.find("ZDD_TEST_ONLY_IN_ZDD") == std::string::npos);
    CHECK_THAT(log, Catch::Contains(
                        "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n"));
    CHECK_THAT(log, Catch::Contains("FROM_ENV_FILE=1\n"));
}

TEST_CASE("zdd warns before running the instance as root") {
    LaunchSpec s;
    CHECK(exec_root_warning(s).has_value() == (::geteuid() == 0));
    s.run_as = "root";
    CHECK(exec_root_warning(s));
    s.run_as = "zdd-no-such-user";
    CHECK_FALSE(exec_root_warning(s));  // start fails later with its own error
}
