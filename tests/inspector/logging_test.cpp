// The house log format through spdlog (common/logging.hpp): the original script's "[INFO] ..."
// lines, -q (warnings and errors only) and -v (debug).
#include <catch2/catch.hpp>
#include <spdlog/spdlog.h>

#include <iostream>
#include <sstream>

#include "common/logging.hpp"

using drainmon::logging::Verbosity;
namespace logging = drainmon::logging;

namespace {

// std::cerr's output while `body` runs (the default logger writes to std::cerr).
template <typename Body>
std::string cerr_of(Body body) {
    std::ostringstream captured;
    auto* saved = std::cerr.rdbuf(captured.rdbuf());
    body();
    std::cerr.rdbuf(saved);
    return captured.str();
}

}  // namespace

TEST_CASE("lines keep the original script's format") {
    logging::setup(Verbosity::normal);
    std::ostringstream out;
    logging::write(out, spdlog::level::info, "Step 1/5: starting green on port 8081");
    logging::write(out, spdlog::level::warn, "cannot write the status file: {braces} kept");
    logging::write(out, spdlog::level::err, "refusing: 100% sure");
    CHECK(out.str() ==
          "[INFO] Step 1/5: starting green on port 8081\n"
          "[WARN] cannot write the status file: {braces} kept\n"
          "[ERROR] refusing: 100% sure\n");
    CHECK(cerr_of([] {
              spdlog::error("{} (see '{} --help')", "bad", "zdd");
              spdlog::warn("w");
          }) == "[ERROR] bad (see 'zdd --help')\n[WARN] w\n");
}

TEST_CASE("-q shows warnings and errors only; -v adds debug lines") {
    logging::setup(Verbosity::quiet);
    std::ostringstream quiet;
    logging::write(quiet, spdlog::level::info, "hidden");
    logging::write(quiet, spdlog::level::debug, "hidden");
    logging::write(quiet, spdlog::level::warn, "shown");
    CHECK(quiet.str() == "[WARN] shown\n");
    CHECK_FALSE(logging::shows(spdlog::level::info));
    CHECK(cerr_of([] {
              spdlog::info("hidden");
              spdlog::error("shown");
          }) == "[ERROR] shown\n");

    logging::setup(Verbosity::verbose);
    std::ostringstream verbose;
    logging::write(verbose, spdlog::level::debug, "libbpf: loading object");
    CHECK(verbose.str() == "[DEBUG] libbpf: loading object\n");
    CHECK(cerr_of([] { spdlog::debug("d"); }) == "[DEBUG] d\n");

    logging::setup(Verbosity::normal);
    CHECK(logging::shows(spdlog::level::info));
    CHECK_FALSE(logging::shows(spdlog::level::debug));
    CHECK(cerr_of([] { spdlog::debug("hidden"); }).empty());
}
