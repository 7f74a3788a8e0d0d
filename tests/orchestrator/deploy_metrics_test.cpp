// DeployMetrics (--metrics-textfile) rendering: the drain's handed-off streams (issue 12) next to
// its connections, zero until a drain reports them, and a file the real promtool accepts.
#include <catch2/catch.hpp>

#include "flow/deploy_metrics.hpp"
#include "nginx/nginx_controller.hpp"
#include "temp_dir.hpp"
#include "test_support.hpp"

using namespace zdd;

namespace {

// No nginx: the worker families are left out of the text.
class NoNginx : public NginxController {
  public:
    const std::filesystem::path& upstream_path() const override { return path_; }
    std::optional<std::string> read_upstream() const override { return std::nullopt; }
    void apply(const Upstream&) override {}
    void revert() override {}
    bool runs_upstream_file() const override { return false; }
    std::vector<ShuttingDownWorker> shutting_down_workers() const override {
        throw NginxError(NginxError::Kind::test_failed, "no nginx in this test");
    }

  private:
    std::filesystem::path path_;
};

}  // namespace

TEST_CASE("deploy metrics: the drain's handed-off streams") {
    zdd_test::TempDir d;
    NoNginx nginx;
    const std::string path = (d / "zdd.prom").string();
    DeployMetrics m(path, "svc", nginx);
    const std::string family = "zdd_deploy_drain_handed_off_streams{service=\"svc\",color=\"";
    CHECK(m.render().find(family + "\"} 0\n") != std::string::npos);

    drainmon::GateFigures f;
    f.active = 3;
    m.on_drain(Color::blue, 1.5, f);  // no handoff asked: -1 shows as 0
    CHECK(m.render().find(family + "blue\"} 0\n") != std::string::npos);
    f.handed_off = 198;
    m.on_drain(Color::blue, 2, f);
    CHECK(m.render().find(family + "blue\"} 198\n") != std::string::npos);

    int status = -1;
    const std::string out =
        zdd_test::run_capture("promtool check metrics < " + path + " 2>&1", &status);
    INFO(zdd_test::read_text(path) << out);
    CHECK(status == 0);
}
