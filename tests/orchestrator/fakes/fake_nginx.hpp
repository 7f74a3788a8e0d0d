// A fake NginxController: keeps the upstream text in memory, records every apply that took
// ("nginx green:100 blue:1" in the journal, by color port), and fails the applies it is told
// to, as the real one does (nothing changes, NginxError thrown).
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "fakes/journal.hpp"
#include "nginx/nginx_controller.hpp"

namespace zdd_fake {

class FakeNginx : public zdd::NginxController {
  public:
    enum class Fail { none, test, reload };

    FakeNginx(std::filesystem::path path, Journal& j, std::map<uint16_t, std::string> names)
        : path_(std::move(path)), journal_(j), names_(std::move(names)) {}

    std::optional<std::string> text;  // the upstream nginx runs; nullopt: no file
    std::vector<Fail> failures;       // the n-th apply fails as failures[n] says
    bool runs_file = true;            // runs_upstream_file()
    bool revert_fails = false;
    int attempts = 0;
    int reverts = 0;
    std::vector<zdd::Upstream> applied;  // the applies that took, in order

    const std::filesystem::path& upstream_path() const override { return path_; }
    std::optional<std::string> read_upstream() const override { return text; }
    void apply(const zdd::Upstream& u) override {
        const size_t n = static_cast<size_t>(attempts++);
        const Fail f = n < failures.size() ? failures[n] : Fail::none;
        if (f == Fail::test)
            throw zdd::NginxError(zdd::NginxError::Kind::test_failed,
                                  "nginx: [emerg] fake rejects the upstream");
        if (f == Fail::reload)
            throw zdd::NginxError(zdd::NginxError::Kind::reload_not_taken,
                                  "no new worker after the reload (fake)");
        previous_ = text;
        text = zdd::render_upstream(u);
        applied.push_back(u);
        journal_.add("nginx " + describe(u));
    }
    void revert() override {
        ++reverts;
        text = previous_;
        journal_.add("nginx revert");
        if (revert_fails)
            throw zdd::NginxError(zdd::NginxError::Kind::reload_failed, "fake reload failure");
    }
    bool runs_upstream_file() const override { return runs_file; }
    std::vector<zdd::ShuttingDownWorker> shutting_down_workers() const override { return workers; }
    std::vector<zdd::ShuttingDownWorker> workers;

    // "green:100 blue:1": the servers by color name (port number when no color has it).
    std::string describe(const zdd::Upstream& u) const {
        std::string out;
        for (const auto& s : u.servers) {
            auto it = names_.find(s.port);
            out += (out.empty() ? "" : " ") +
                   (it != names_.end() ? it->second : std::to_string(s.port)) + ":" +
                   std::to_string(s.weight);
        }
        return out;
    }

  private:
    std::filesystem::path path_;
    Journal& journal_;
    std::map<uint16_t, std::string> names_;
    std::optional<std::string> previous_;
};

}  // namespace zdd_fake
