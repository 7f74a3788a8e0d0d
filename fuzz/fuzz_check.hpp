// Shared by the fuzz targets: a broken contract is a crash libFuzzer records with its input.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <string>

namespace zdd_fuzz {

[[noreturn]] inline void broken(const char* what, const std::string& detail = {}) {
    std::fprintf(stderr, "contract broken: %s %s\n", what, detail.c_str());
    std::abort();
}

// Parse errors are promised as one line for operators.
inline void require_one_line(const std::string& message) {
    if (message.empty() || message.find('\n') != std::string::npos)
        broken("error message is not one line:", message);
}

}  // namespace zdd_fuzz
