#include <sys/stat.h>

#include <catch2/catch.hpp>

#include "state/atomic_file.hpp"
#include "temp_dir.hpp"

using namespace zdd;
using zdd_test::TempDir;

static int count_entries(const std::filesystem::path& d) {
    int n = 0;
    for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(d)) ++n;
    return n;
}

TEST_CASE("write_file_atomic replaces content, keeps mode, leaves no temp file") {
    TempDir d;
    auto p = d / "f.conf";
    write_file_atomic(p, "one\n", 0600);
    struct stat st {};
    REQUIRE(::stat(p.c_str(), &st) == 0);
    CHECK((st.st_mode & 07777) == 0600);
    CHECK(read_file_if_exists(p) == std::optional<std::string>("one\n"));

    write_file_atomic(p, "two\n", 0644);  // existing mode wins over the default
    REQUIRE(::stat(p.c_str(), &st) == 0);
    CHECK((st.st_mode & 07777) == 0600);
    CHECK(*read_file_if_exists(p) == "two\n");
    CHECK(count_entries(d.path()) == 1);
}

TEST_CASE("write_private_file_atomic: 0600 whatever mode the replaced file had") {
    TempDir d;
    auto p = d / "secret.env";
    zdd_test::write_text(p, "old\n", 0644);
    write_private_file_atomic(p, "TOKEN=x\n");
    struct stat st {};
    REQUIRE(::stat(p.c_str(), &st) == 0);
    CHECK((st.st_mode & 07777) == 0600);
    CHECK(*read_file_if_exists(p) == "TOKEN=x\n");
    CHECK(count_entries(d.path()) == 1);
}

TEST_CASE("read_file_if_exists: missing is nullopt, oversize and unreadable are errors") {
    TempDir d;
    CHECK_FALSE(read_file_if_exists(d / "nope").has_value());
    zdd_test::write_text(d / "big", std::string(100, 'x'));
    CHECK_THROWS_AS(read_file_if_exists(d / "big", 10), FileError);
    CHECK_THROWS_AS(read_file_if_exists(d.path()), FileError);  // a directory
}

TEST_CASE("write_file_atomic into a missing directory fails clearly") {
    TempDir d;
    try {
        write_file_atomic(d / "no/such/dir/f", "x");
        FAIL("expected FileError");
    } catch (const FileError& e) {
        CHECK(std::string(e.what()).find("no/such/dir") != std::string::npos);
    }
}
