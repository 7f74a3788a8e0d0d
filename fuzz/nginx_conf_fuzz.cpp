// `nginx -T` output as zdd doctor reads it (zdd::parse_nginx_dump) and the checks run on the
// tree (zdd::check_nginx_conf). Input without a dump header gets one, so most inputs reach
// the config lexer; inputs with headers exercise splitting and include expansion.
#include <cstddef>
#include <cstdint>
#include <string>

#include "fuzz_check.hpp"
#include "nginx/nginx_conf_checks.hpp"
#include "nginx/nginx_conf_scan.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string text(reinterpret_cast<const char*>(data), size);
    if (text.rfind("# configuration file ", 0) != 0)
        text = "# configuration file /etc/nginx/nginx.conf:\n" + text;
    zdd::NginxConf conf;
    try {
        conf = zdd::parse_nginx_dump(text);
    } catch (const zdd::NginxConfError& e) {
        zdd_fuzz::require_one_line(e.what());
        return 0;
    }
    zdd::Config cfg;
    for (const auto& f : zdd::check_nginx_conf(conf, cfg)) {
        if (f.text.empty() || f.text.find('\n') != std::string::npos)
            zdd_fuzz::broken("finding is not one line:", f.text);
    }
    (void)zdd::parse_nginx_time_ms(text.substr(0, 32));
    return 0;
}
