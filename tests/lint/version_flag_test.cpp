// `--version` of each shipped binary: exit 0, one line on stdout naming the program, the CMake
// project version and, in a checkout, the commit the build came from. `zdd --version` answers
// without a subcommand.
#include <catch2/catch.hpp>

#include <regex>
#include <string>

#include "common/version.hpp"
#include "test_support.hpp"

namespace {

struct Case {
    const char* program;
    const char* path;  // under the build dir
};

const Case kBinaries[] = {
    {"zdd", "/orchestrator/zdd"},
    {"drain-inspector", "/userspace/drain-inspector"},
    {"zdd-demo-app", "/examples/demo-app/zdd-demo-app"},
};

}  // namespace

TEST_CASE("version: each binary prints its name, the project version and the build's commit") {
    REQUIRE(std::regex_match(zdd_build::kVersion, std::regex(R"(\d+\.\d+\.\d+)")));
    for (const Case& c : kBinaries) {
        int status = -1;
        std::string out =
            zdd_test::run_capture(zdd_test::build_dir() + c.path + " --version 2>&1", &status);
        INFO(c.program << " --version: " << out);
        CHECK(status == 0);
        CHECK(out == zdd_build::version_line(c.program) + "\n");
        CHECK(out.rfind(std::string(c.program) + " " + zdd_build::kVersion, 0) == 0);
    }
}

TEST_CASE("version: a build from a checkout names a commit of that checkout") {
    const std::string src = zdd_test::source_dir();
    int status = -1;
    // The source dir's own checkout, as cmake/version_header.cmake asks.
    zdd_test::run_capture("test \"$(git -C '" + src +
                              "' rev-parse --show-toplevel 2>/dev/null)\" = \"$(realpath '" + src +
                              "')\"",
                          &status);
    if (status != 0) {
        // Not a checkout (a tarball build): no describe, the bare version.
        CHECK(std::string(zdd_build::kGitDescribe).empty());
        return;
    }
    std::string describe = zdd_build::kGitDescribe;
    INFO("git describe at build time: " << describe);
    REQUIRE(!describe.empty());
    // `--always --dirty`: TAG, TAG-N-gHASH or HASH, then "-dirty" if the tree had changes.
    std::string rev = describe;
    if (rev.size() > 6 && rev.compare(rev.size() - 6, 6, "-dirty") == 0) rev.resize(rev.size() - 6);
    std::smatch m;
    if (std::regex_match(rev, m, std::regex(R"(.*-\d+-g([0-9a-f]{4,40}))"))) rev = m[1].str();
    zdd_test::run_capture("git -C '" + src + "' cat-file -e '" + rev + "^{commit}'", &status);
    CHECK(status == 0);
}
