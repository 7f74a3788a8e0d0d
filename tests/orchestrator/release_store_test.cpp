#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <thread>

#include "runner/command.hpp"
#include "state/release_store.hpp"
#include "temp_dir.hpp"

using namespace zdd;
namespace fs = std::filesystem;

static fs::path make_app(const zdd_test::TempDir& d, const std::string& name,
                         const std::string& version) {
    auto p = d / name;
    zdd_test::write_text(p, "#!/bin/sh\necho " + version + "\n", 0700);
    return p;
}

TEST_CASE("add copies the binary (mode 0755) and it runs after the original is gone") {
    zdd_test::TempDir src, state;
    auto app = make_app(src, "vibe-manager", "v1");
    const std::string digest = sha256_file(app);
    CHECK(digest.size() == 64);
    // sha256 of a known text, checked against coreutils' sha256sum
    CHECK(run_command({"sha256sum", app.string()}).out.substr(0, 64) == digest);

    ReleaseStore store(state.path());
    Release r = store.add(app);
    CHECK(r.dir.parent_path() == store.releases_dir());
    CHECK(r.binary == r.dir / "vibe-manager");
    CHECK(r.id == digest.substr(0, 16));  // content-addressed
    CHECK(r.sha256 == digest);
    struct stat st {};
    REQUIRE(::stat(r.binary.c_str(), &st) == 0);
    CHECK((st.st_mode & 07777) == 0755);
    CHECK(sha256_file(r.binary) == digest);

    fs::remove(app);
    auto out = run_command({r.binary.string()});
    CHECK(out.ok());
    CHECK(out.out == "v1\n");
    CHECK(store.list() == std::vector<fs::path>{r.dir});
}

TEST_CASE("add refuses what cannot run") {
    zdd_test::TempDir src, state;
    ReleaseStore store(state.path());
    zdd_test::write_text(src / "notexec", "x", 0644);
    CHECK_THROWS_WITH(store.add(src / "notexec"), Catch::Contains("not executable"));
    CHECK_THROWS_WITH(store.add(src / "missing"), Catch::Contains("No such file"));
    CHECK_THROWS_WITH(store.add(src.path()), Catch::Contains("not a file"));
    CHECK(store.list().empty());
}

TEST_CASE("prune keeps the newest N and never the protected releases") {
    zdd_test::TempDir src, state;
    ReleaseStore store(state.path());
    std::vector<Release> rs;
    for (int i = 0; i < 6; ++i) {
        rs.push_back(store.add(make_app(src, "app", "v" + std::to_string(i))));
        std::this_thread::sleep_for(std::chrono::milliseconds(3));  // distinct mtimes
    }
    REQUIRE(store.list().size() == 6);
    for (std::size_t i = 0; i < rs.size(); ++i) CHECK(store.list()[i] == rs[i].dir);  // by age

    // rs[0] is the previous color's release, rs[1] the active one (binary path or dir).
    auto removed = store.prune(2, {rs[0].binary, rs[1].dir});
    CHECK(removed == std::vector<fs::path>{rs[2].dir, rs[3].dir});
    CHECK(store.list() == std::vector<fs::path>{rs[0].dir, rs[1].dir, rs[4].dir, rs[5].dir});
    CHECK(fs::exists(rs[0].binary));
    CHECK(store.prune(10, {}).empty());
}

TEST_CASE("the color link points at the release and execs it") {
    zdd_test::TempDir src, state;
    ReleaseStore store(state.path());
    Release a = store.add(make_app(src, "app", "blue-v1"));
    std::this_thread::sleep_for(std::chrono::milliseconds(3));
    Release b = store.add(make_app(src, "app", "blue-v2"));
    auto link = store.link_color(Color::blue, a.binary);
    CHECK(link == state / "blue");
    CHECK(fs::read_symlink(link) == a.binary);
    CHECK(run_command({link.string()}).out == "blue-v1\n");
    store.link_color(Color::blue, b.binary);  // swapped atomically
    CHECK(run_command({link.string()}).out == "blue-v2\n");
}

TEST_CASE("the same binary deployed again reuses its release") {
    zdd_test::TempDir src, state;
    ReleaseStore store(state.path());
    Release a = store.add(make_app(src, "app", "v1"));
    std::this_thread::sleep_for(std::chrono::milliseconds(3));
    Release b = store.add(make_app(src, "app", "v2"));
    std::this_thread::sleep_for(std::chrono::milliseconds(3));
    Release a2 = store.add(make_app(src, "app", "v1"));  // a retry of the same binary
    CHECK(a2.dir == a.dir);
    CHECK(a2.binary == a.binary);
    // One dir per content, ordered by the last deploy: v1 was deployed after v2 now.
    CHECK(store.list() == std::vector<fs::path>{b.dir, a.dir});
    // The same content under another name: the same release dir, both names run.
    Release a3 = store.add(make_app(src, "app-renamed", "v1"));
    CHECK(a3.dir == a.dir);
    CHECK(run_command({a3.binary.string()}).out == "v1\n");
    CHECK(run_command({a.binary.string()}).out == "v1\n");
    // No temp dirs left behind.
    for (const auto& e : fs::directory_iterator(store.releases_dir()))
        CHECK(e.path().filename().string().rfind(".tmp-", 0) == std::string::npos);
}

TEST_CASE("failed attempts do not pile up: leftovers of a failed add are pruned") {
    zdd_test::TempDir src, state;
    ReleaseStore store(state.path());
    Release a = store.add(make_app(src, "app", "v1"));
    // What a crash in the middle of a copy leaves.
    fs::create_directory(store.releases_dir() / ".tmp-deadbeef");
    zdd_test::write_text(store.releases_dir() / ".tmp-deadbeef" / "app", "half", 0700);
    // Ten failed deploys of ten different builds, then a prune keeping 2 (+ the protected one).
    std::vector<Release> failed;
    for (int i = 0; i < 10; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
        failed.push_back(store.add(make_app(src, "app", "bad" + std::to_string(i))));
    }
    store.prune(2, {a.binary});
    CHECK(store.list() == std::vector<fs::path>{a.dir, failed[8].dir, failed[9].dir});
    CHECK_FALSE(fs::exists(store.releases_dir() / ".tmp-deadbeef"));
}

TEST_CASE("the hash names what was copied") {
    zdd_test::TempDir src, state;
    ReleaseStore store(state.path());
    // A large file: several read() calls, one pass for the hash and the copy.
    std::string big(3 << 20, 'x');
    zdd_test::write_text(src / "big", "#!/bin/sh\n#" + big + "\n", 0755);
    Release r = store.add(src / "big");
    CHECK(sha256_file(r.binary) == r.sha256);
    CHECK(r.id == r.sha256.substr(0, 16));
    CHECK(zdd_test::read_text(r.binary) == zdd_test::read_text(src / "big"));
}
