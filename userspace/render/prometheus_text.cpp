#include "render/prometheus_text.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <map>
#include <sstream>
#include <utility>

#include "common/unique_fd.hpp"

namespace drainmon {

namespace {

// The class/reason pairs the classifier can give (DESIGN.md's table).
constexpr std::pair<zdd_class, zdd_reason> kClassReasons[] = {
    {ZDD_CLASS_ACTIVE, ZDD_REASON_RECENT_DATA},     {ZDD_CLASS_ACTIVE, ZDD_REASON_QUEUED},
    {ZDD_CLASS_ACTIVE, ZDD_REASON_REQUEST_PENDING}, {ZDD_CLASS_ACTIVE, ZDD_REASON_SERVER_PUSH},
    {ZDD_CLASS_ACTIVE, ZDD_REASON_OTHER},           {ZDD_CLASS_IDLE, ZDD_REASON_KEEPALIVE},
    {ZDD_CLASS_STUCK, ZDD_REASON_CLOSE_WAIT},       {ZDD_CLASS_STUCK, ZDD_REASON_ZERO_WINDOW},
    {ZDD_CLASS_STUCK, ZDD_REASON_RETRANSMITTING},   {ZDD_CLASS_CLOSING, ZDD_REASON_CLOSING},
};

void family(std::ostringstream& o, const char* name, const char* type, const char* help) {
    o << "# HELP " << name << " " << help << "\n# TYPE " << name << " " << type << "\n";
}

std::string label(const char* k, const std::string& v) {
    return std::string(k) + "=\"" + escape_label_value(v) + "\"";
}

}  // namespace

std::string escape_label_value(const std::string& v) {
    std::string out;
    out.reserve(v.size());
    for (char c : v) {
        if (c == '\\')
            out += "\\\\";
        else if (c == '"')
            out += "\\\"";
        else if (c == '\n')
            out += "\\n";
        else
            out += c;
    }
    return out;
}

std::string render_prometheus(const Snapshot& snap) {
    std::ostringstream o;

    std::map<std::tuple<uint16_t, uint32_t, uint32_t>, uint64_t> by_class;
    for (const auto& s : snap.sockets) ++by_class[{s.local.port, s.verdict.cls, s.verdict.reason}];

    family(o, "zdd_tcp_connections", "gauge",
           "TCP connections on a local port by drain class and reason.");
    for (const auto& p : snap.ports) {
        std::string port = label("port", std::to_string(p.port));
        for (auto [cls, reason] : kClassReasons) {
            auto it = by_class.find({p.port, cls, reason});
            o << "zdd_tcp_connections{" << port << "," << label("class", zdd_class_name(cls)) << ","
              << label("reason", zdd_reason_name(reason)) << "} "
              << (it == by_class.end() ? 0 : it->second) << "\n";
        }
    }

    family(o, "zdd_tcp_sockets", "gauge",
           "TCP sockets on a local port by state, from the monitor's counters.");
    for (const auto& p : snap.ports) {
        std::string port = label("port", std::to_string(p.port));
        const std::pair<const char*, int64_t> states[] = {
            {"established", p.established}, {"close_wait", p.close_wait}, {"closing", p.closing}};
        for (auto [state, n] : states)
            o << "zdd_tcp_sockets{" << port << "," << label("state", state) << "} " << n << "\n";
    }

    family(o, "zdd_tcp_listeners", "gauge", "LISTEN sockets on a local port (0: the app is gone).");
    for (const auto& p : snap.ports)
        o << "zdd_tcp_listeners{" << label("port", std::to_string(p.port)) << "} " << p.listeners
          << "\n";

    family(o, "zdd_tcp_state_changes_total", "counter",
           "TCP state transitions into a state on a local port since the monitor loaded "
           "(0 on the sock_diag backend, which cannot see transitions).");
    for (const auto& p : snap.ports) {
        std::string port = label("port", std::to_string(p.port));
        for (uint32_t st = ZDD_TCP_ESTABLISHED; st < ZDD_TCP_MAX_STATES; ++st)
            o << "zdd_tcp_state_changes_total{" << port << "," << label("state", state_name(st))
              << "} " << p.state_changes[st] << "\n";
    }

    family(o, "zdd_monitor_map_overflow_total", "counter",
           "Sockets or ports the monitor's bounded maps could not hold (counts may be low).");
    o << "zdd_monitor_map_overflow_total " << snap.overflow << "\n";
    family(o, "zdd_monitor_counter_underflow_total", "counter",
           "Counter decrements that would have gone below zero (a monitor bug if ever > 0).");
    o << "zdd_monitor_counter_underflow_total " << snap.underflow << "\n";
    family(o, "zdd_monitor_incomplete", "gauge", "1 when the counts are incomplete (overflow).");
    o << "zdd_monitor_incomplete " << (snap.incomplete ? 1 : 0) << "\n";
    family(o, "zdd_monitor_walks_total", "counter",
           "Per-socket walks the monitor made (counts alone need none; a drain walks only "
           "when it needs classes).");
    o << "zdd_monitor_walks_total " << snap.walks << "\n";
    family(o, "zdd_monitor_info", "gauge", "The monitor backend in use (always 1).");
    o << "zdd_monitor_info{" << label("backend", snap.backend) << "} 1\n";
    return o.str();
}

void write_textfile_atomic(const std::string& dir, const std::string& name,
                           const std::string& content) {
    auto fail = [&](const std::string& what) {
        throw TextfileError(what + " in " + dir + ": " + std::strerror(errno));
    };
    // A dot-prefixed temp name: the textfile collector only reads *.prom.
    std::string tmpl = dir + "/." + name + ".XXXXXX";
    UniqueFd fd(::mkstemp(tmpl.data()));
    if (!fd) fail("cannot create a temp file");
    struct TempGuard {
        std::string path;
        bool keep = false;
        ~TempGuard() {
            if (!keep) ::unlink(path.c_str());
        }
    } guard{tmpl};
    const char* p = content.data();
    size_t left = content.size();
    while (left > 0) {
        ssize_t n = ::write(fd.get(), p, left);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) fail("cannot write " + tmpl);
        p += n;
        left -= static_cast<size_t>(n);
    }
    if (::fchmod(fd.get(), 0644) != 0) fail("cannot chmod " + tmpl);
    if (::fsync(fd.get()) != 0) fail("cannot fsync " + tmpl);
    fd.reset();
    if (::rename(tmpl.c_str(), (dir + "/" + name).c_str()) != 0) fail("cannot rename " + tmpl);
    guard.keep = true;
}

}  // namespace drainmon
