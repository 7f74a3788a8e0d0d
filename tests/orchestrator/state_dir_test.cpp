// The state dir trust check (issue 13, finding 1): another user's state dir, planted symlinks,
// group-writable entries and a umask 000 run, against the real StateStore, DeployLock and the
// zdd binary. Owning files as uid 65534 needs root.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>

#include <catch2/catch.hpp>

#include "core/exit_codes.hpp"
#include "state/release_store.hpp"
#include "state/state_dir.hpp"
#include "state/state_store.hpp"
#include "temp_dir.hpp"
#include "test_support.hpp"

using namespace zdd;
namespace fs = std::filesystem;

namespace {

constexpr uid_t kNobody = 65534;

mode_t mode_of(const fs::path& p) {
    struct stat st {};
    REQUIRE(::lstat(p.c_str(), &st) == 0);
    return st.st_mode & 07777;
}

// The exit code a Failure carries, or -1 when `f` does not throw one.
template <typename F>
int failure_code(F&& f, std::string* msg = nullptr) {
    try {
        f();
    } catch (const Failure& e) {
        if (msg) *msg = e.what();
        return exit_code(e.outcome);
    }
    return -1;
}

// A state dir as zdd leaves it: state.json, deploy.lock, logs/, releases/.
fs::path populated_state(const zdd_test::TempDir& d) {
    const fs::path dir = d / "state";
    StateStore store(dir);
    State s;
    s.active = Color::blue;
    store.save(s);
    DeployLock::acquire(dir);
    return dir;
}

struct RestoreUmask {
    mode_t old;
    explicit RestoreUmask(mode_t m) : old(::umask(m)) {}
    ~RestoreUmask() { ::umask(old); }
};

}  // namespace

TEST_CASE("a state dir owned by another user is refused, whatever the command") {
    zdd_test::require_root();
    zdd_test::TempDir d;
    const fs::path dir = populated_state(d);
    REQUIRE(::chown(dir.c_str(), kNobody, kNobody) == 0);
    std::string msg;
    CHECK(failure_code([&] { StateStore(dir).load(); }, &msg) == kExitUnsafeStateDir);
    CHECK_THAT(msg, Catch::Contains(dir.string()) && Catch::Contains("owned by uid 65534"));
    CHECK(msg.find('\n') == std::string::npos);
    State s;
    CHECK(failure_code([&] { StateStore(dir).save(s); }) == kExitUnsafeStateDir);
    CHECK(failure_code([&] { DeployLock::acquire(dir); }) == kExitUnsafeStateDir);

    // The zdd binary says it in one line with its own exit code, in every command that reads
    // the state dir (status reads it too), before anything else.
    for (const char* cmd : {"status", "rollback", "drain", "deploy /bin/true"}) {
        INFO(cmd);
        int status = 0;
        const std::string out =
            zdd_test::run_capture(zdd_test::build_dir() + "/orchestrator/zdd " + cmd +
                                      " --state-dir " + dir.string() + " 2>&1",
                                  &status);
        CHECK(status == kExitUnsafeStateDir);
        CHECK_THAT(out, Catch::Contains("unsafe state dir"));
        CHECK(std::count(out.begin(), out.end(), '\n') == 1);
    }
}

TEST_CASE("a planted deploy.lock symlink never makes zdd write into its target") {
    zdd_test::require_root();
    zdd_test::TempDir d;
    const fs::path dir = populated_state(d);
    const fs::path victim = d / "root-file";
    zdd_test::write_text(victim, "precious\n", 0644);
    fs::remove(dir / "deploy.lock");
    fs::create_symlink(victim, dir / "deploy.lock");

    SECTION("planted by another user: the check refuses it") {
        REQUIRE(::lchown((dir / "deploy.lock").c_str(), kNobody, kNobody) == 0);
        std::string msg;
        CHECK(failure_code([&] { DeployLock::acquire(dir); }, &msg) == kExitUnsafeStateDir);
        CHECK_THAT(msg, Catch::Contains("deploy.lock"));
    }
    SECTION("even one owned by root is not followed (O_NOFOLLOW)") {
        CHECK_THROWS_AS(DeployLock::acquire(dir), StateError);
    }
    CHECK(zdd_test::read_text(victim) == "precious\n");
}

TEST_CASE("a planted log symlink owned by another user is refused") {
    zdd_test::require_root();
    zdd_test::TempDir d;
    const fs::path dir = populated_state(d);
    fs::create_symlink("/etc/shadow", dir / "logs" / "blue.log");
    REQUIRE(::lchown((dir / "logs" / "blue.log").c_str(), kNobody, kNobody) == 0);
    std::string msg;
    CHECK(failure_code([&] { StateStore(dir).load(); }, &msg) == kExitUnsafeStateDir);
    CHECK_THAT(msg, Catch::Contains("logs/blue.log"));
}

TEST_CASE("a state.json symlink is an error, not a redirection") {
    zdd_test::TempDir d;
    const fs::path dir = populated_state(d);
    const fs::path other = d / "other.json";
    fs::copy_file(dir / "state.json", other);
    fs::remove(dir / "state.json");
    fs::create_symlink(other, dir / "state.json");
    CHECK_THROWS_WITH(StateStore(dir).load(), Catch::Contains("symlink"));
}

TEST_CASE("group- or world-writable entries and parents are refused") {
    zdd_test::TempDir d;
    const fs::path dir = populated_state(d);
    SECTION("state.json mode 0666") {
        REQUIRE(::chmod((dir / "state.json").c_str(), 0666) == 0);
        std::string msg;
        CHECK(failure_code([&] { StateStore(dir).load(); }, &msg) == kExitUnsafeStateDir);
        CHECK_THAT(msg, Catch::Contains("state.json") && Catch::Contains("mode 0666"));
    }
    SECTION("releases/ mode 0777") {
        REQUIRE(::chmod((dir / "releases").c_str(), 0777) == 0);
        CHECK(failure_code([&] { DeployLock::acquire(dir); }) == kExitUnsafeStateDir);
    }
    SECTION("a world-writable parent (not sticky)") {
        REQUIRE(::chmod(d.path().c_str(), 0777) == 0);
        CHECK(failure_code([&] { StateStore(dir).load(); }) == kExitUnsafeStateDir);
    }
    SECTION("a sticky world-writable parent such as /tmp is fine") {
        REQUIRE(::chmod(d.path().c_str(), 01777) == 0);
        CHECK(StateStore(dir).load().active == Color::blue);
    }
}

TEST_CASE("the state dir is a symlink: refused") {
    zdd_test::TempDir d;
    const fs::path dir = populated_state(d);
    fs::create_directory_symlink(dir, d / "link");
    CHECK(failure_code([&] { StateStore(d / "link").load(); }) == kExitUnsafeStateDir);
}

TEST_CASE("under umask 000 the dirs and files get their own modes") {
    zdd_test::TempDir d;
    RestoreUmask um(0);
    const fs::path dir = d / "a" / "state";
    State s;
    StateStore(dir).save(s);
    DeployLock::acquire(dir);
    ReleaseStore rs(dir);
    zdd_test::write_text(d / "app", "#!/bin/sh\n", 0755);
    Release r = rs.add(d / "app");
    CHECK(mode_of(d / "a") == 0755);
    CHECK(mode_of(dir) == kStateDirMode);
    CHECK(mode_of(dir / "logs") == kLogsDirMode);
    CHECK(mode_of(dir / "releases") == kReleasesDirMode);
    CHECK(mode_of(r.dir) == kReleasesDirMode);
    CHECK(mode_of(r.binary) == 0755);
    CHECK(mode_of(dir / "state.json") == 0644);
    CHECK(mode_of(dir / "deploy.lock") == 0644);
    // And the check passes on what zdd itself made.
    CHECK_NOTHROW(StateStore(dir).load());
}

TEST_CASE("a release runs only from the checked releases dir") {
    zdd_test::TempDir d;
    const fs::path dir = populated_state(d);
    ReleaseStore rs(dir);
    zdd_test::write_text(d / "app", "#!/bin/sh\necho ok\n", 0755);
    Release r = rs.add(d / "app");
    CHECK(rs.checked_release(r.binary) == fs::absolute(r.binary));

    // A state.json edited to point at the user's script.
    zdd_test::write_text(d / "evil.sh", "#!/bin/sh\ntouch /tmp/pwned\n", 0755);
    std::string msg;
    CHECK(failure_code([&] { rs.checked_release(d / "evil.sh"); }, &msg) == kExitUnsafeStateDir);
    CHECK_THAT(msg, Catch::Contains("releases run only from"));
    CHECK(failure_code([&] { rs.checked_release(dir / "releases" / ".." / ".." / "evil.sh"); }) ==
          kExitUnsafeStateDir);
    CHECK(failure_code([&] { rs.checked_release(dir / "releases" / "app"); }) ==
          kExitUnsafeStateDir);
    // A symlink inside releases/ is not a release either.
    fs::create_directory(dir / "releases" / "x");
    fs::create_symlink(d / "evil.sh", dir / "releases" / "x" / "app");
    CHECK(failure_code([&] { rs.checked_release(dir / "releases" / "x" / "app"); }) ==
          kExitRelease);
}
