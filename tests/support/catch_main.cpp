// Catch2's main, with one change: any failure exits 1. Catch2 v2 exits with the number of
// failed assertions, so 77 of them would read as ctest's SKIP_RETURN_CODE; only skip_or_fail()
// (test_support.cpp) may exit 77.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

int main(int argc, char* argv[]) {
    const int failed = Catch::Session().run(argc, argv);
    return failed == 0 ? 0 : 1;
}
