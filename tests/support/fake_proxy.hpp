// A listening socket on loopback named in every proxy variable libcurl reads, for tests that
// show a client never goes through a proxy: it must receive nothing (no pending connection).
#pragma once

#include <poll.h>
#include <stdlib.h>

#include <map>
#include <optional>
#include <string>

#include "test_support.hpp"

namespace zdd_test {

class FakeProxy {
  public:
    FakeProxy() : fd_(tcp_listen("127.0.0.1", 0)) {
        const std::string url = "http://127.0.0.1:" + std::to_string(local_port(fd_.get()));
        for (const char* v :
             {"http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"}) {
            const char* old = ::getenv(v);
            saved_[v] = old ? std::optional<std::string>(old) : std::nullopt;
            ::setenv(v, url.c_str(), 1);
        }
        for (const char* v : {"no_proxy", "NO_PROXY"}) {
            const char* old = ::getenv(v);
            saved_[v] = old ? std::optional<std::string>(old) : std::nullopt;
            ::unsetenv(v);
        }
    }
    ~FakeProxy() {
        for (const auto& [k, v] : saved_) {
            if (v)
                ::setenv(k.c_str(), v->c_str(), 1);
            else
                ::unsetenv(k.c_str());
        }
    }
    FakeProxy(const FakeProxy&) = delete;
    FakeProxy& operator=(const FakeProxy&) = delete;

    // True when a client connected to the proxy (a connection waits in the backlog).
    bool contacted() const {
        pollfd p{fd_.get(), POLLIN, 0};
        return ::poll(&p, 1, 100) > 0;
    }

  private:
    UniqueFd fd_;
    std::map<std::string, std::optional<std::string>> saved_;
};

}  // namespace zdd_test
