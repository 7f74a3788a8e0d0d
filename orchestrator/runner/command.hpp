// Run a short helper command (nginx -t, nginx -s reload, systemctl ...) with its output
// captured and a time bound. argv is passed as is: no shell, so nothing gets re-interpreted.
#pragma once

#include <chrono>
#include <cstddef>
#include <stdexcept>
#include <string>
#include <vector>

namespace zdd {

struct CommandError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

struct CommandResult {
    int status = -1;         // exit code, 128+signal if killed, -1 if it never ran to the end
    bool timed_out = false;  // killed (SIGKILL) after the bound
    std::string out;         // stdout, at most max_output bytes kept
    std::string err;         // stderr, likewise
    bool ok() const { return status == 0 && !timed_out; }
};

// Waits for the command's exit and for its output pipes to close (a daemon that keeps them
// open runs into the bound). Throws CommandError when the program cannot be started.
CommandResult run_command(const std::vector<std::string>& argv,
                          std::chrono::milliseconds timeout = std::chrono::seconds(30),
                          std::size_t max_output = 1u << 20);

// The first line of s that holds text, trimmed: error lines from tools for one-line reports.
std::string first_line(const std::string& s);

}  // namespace zdd
