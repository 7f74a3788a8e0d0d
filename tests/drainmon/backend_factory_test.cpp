// parse_backend_kind() and make_backend(): "auto" uses BPF where it loads and falls back to
// sock_diag with a one-line reason where it cannot (shown by dropping root in a child).
#include <grp.h>
#include <sys/wait.h>
#include <unistd.h>

#include <stdexcept>
#include <string>

#include <catch2/catch.hpp>

#include "monitor/backend.hpp"
#include "test_support.hpp"

using drainmon::BackendKind;

TEST_CASE("parse_backend_kind accepts auto, bpf and sock_diag only") {
    CHECK(drainmon::parse_backend_kind("auto") == BackendKind::Auto);
    CHECK(drainmon::parse_backend_kind("bpf") == BackendKind::Bpf);
    CHECK(drainmon::parse_backend_kind("sock_diag") == BackendKind::SockDiag);
    CHECK_THROWS_AS(drainmon::parse_backend_kind("ebpf"), std::invalid_argument);
    CHECK_THROWS_WITH(drainmon::parse_backend_kind(""),
                      Catch::Contains("use auto, bpf or sock_diag"));
}

TEST_CASE("make_backend gives the backend asked for; auto prefers BPF") {
    zdd_test::require_root();
    drainmon::BackendOptions opts;
    CHECK(drainmon::make_backend(BackendKind::SockDiag, opts)->name() == "sock_diag");
    CHECK(drainmon::make_backend(BackendKind::Bpf, opts)->name() == "bpf");
    std::string note = "untouched";
    CHECK(drainmon::make_backend(BackendKind::Auto, opts, &note)->name() == "bpf");
    CHECK(note == "untouched");  // no fallback, nothing to say
}

TEST_CASE("auto falls back to sock_diag where BPF cannot load, and says why in one line") {
    zdd_test::require_root();  // to drop it: as nobody BPF cannot load
    int fds[2];
    REQUIRE(::pipe(fds) == 0);
    pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        ::close(fds[0]);
        std::string out;
        if (::setgroups(0, nullptr) != 0 || ::setresgid(65534, 65534, 65534) != 0 ||
            ::setresuid(65534, 65534, 65534) != 0) {
            out = "cannot drop root";
        } else {
            try {
                std::string note;
                auto b = drainmon::make_backend(BackendKind::Auto, {}, &note);
                bool bpf_throws = false;
                try {
                    drainmon::make_backend(BackendKind::Bpf, {});
                } catch (const drainmon::BackendError&) {
                    bpf_throws = true;
                }
                out = b->name() + "\n" + note + "\n" + (bpf_throws ? "throws" : "loads");
            } catch (const std::exception& e) {
                out = std::string("error: ") + e.what();
            }
        }
        ssize_t n = ::write(fds[1], out.data(), out.size());
        ::_exit(n == static_cast<ssize_t>(out.size()) ? 0 : 1);
    }
    ::close(fds[1]);
    std::string got;
    char buf[4096];
    ssize_t n;
    while ((n = ::read(fds[0], buf, sizeof buf)) > 0) got.append(buf, static_cast<size_t>(n));
    ::close(fds[0]);
    int st = 0;
    ::waitpid(pid, &st, 0);
    INFO(got);
    REQUIRE(WIFEXITED(st));
    CHECK(WEXITSTATUS(st) == 0);
    auto l1 = got.find('\n');
    auto l2 = got.find('\n', l1 + 1);
    REQUIRE(l2 != std::string::npos);
    CHECK(got.substr(0, l1) == "sock_diag");
    std::string note = got.substr(l1 + 1, l2 - l1 - 1);
    CHECK(note.rfind("BPF unavailable (", 0) == 0);
    CHECK(note.find("BPF unavailable", 1) == std::string::npos);  // said once
    CHECK(note.size() > std::string("BPF unavailable (); using sock_diag").size());
    CHECK(note.find("); using sock_diag") ==
          note.size() - std::string("); using sock_diag").size());
    CHECK(got.substr(l2 + 1) == "throws");  // --backend bpf gives an error, not a fallback
}
