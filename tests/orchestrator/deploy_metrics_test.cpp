// DeployMetrics (--metrics-textfile) rendering: the drain's handed-off streams (issue 12) next to
// its connections, zero until a drain reports them, and a file the real promtool accepts.
#include <catch2/catch.hpp>

#include "flow/deploy_metrics.hpp"
#include "temp_dir.hpp"
#include "test_support.hpp"

using namespace zdd;

TEST_CASE("deploy metrics: the drain's handed-off streams") {
    zdd_test::TempDir d;
    NginxOptions no;
    no.pid_file = (d / "no-nginx.pid").string();  // no nginx: the worker families are left out
    Nginx nginx(no);
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
