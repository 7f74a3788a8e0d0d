#include "monitor/socket_sample.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstring>
#include <map>

namespace drainmon {

std::string Endpoint::str() const {
    if (family == AF_INET6) return "[" + ip + "]:" + std::to_string(port);
    return ip + ":" + std::to_string(port);
}

namespace {

// inet_ntop(AF_INET) without its sprintf: a walk formats two addresses per socket, and at
// 30,000 sockets sprintf was a tenth of a drain's CPU.
void format_ipv4(const uint8_t* a, char* out) {
    for (int i = 0; i < 4; ++i) {
        unsigned v = a[i];
        if (v >= 100) *out++ = static_cast<char>('0' + v / 100);
        if (v >= 10) *out++ = static_cast<char>('0' + v / 10 % 10);
        *out++ = static_cast<char>('0' + v % 10);
        *out++ = i < 3 ? '.' : '\0';
    }
}

}  // namespace

Endpoint make_endpoint(int family, const void* addr, uint16_t port) {
    Endpoint e;
    e.port = port;
    char buf[INET6_ADDRSTRLEN] = {};
    if (family == AF_INET6) {
        in6_addr a;
        std::memcpy(&a, addr, sizeof a);
        if (IN6_IS_ADDR_V4MAPPED(&a)) {
            e.family = AF_INET;
            format_ipv4(&a.s6_addr[12], buf);
        } else {
            e.family = AF_INET6;
            ::inet_ntop(AF_INET6, &a, buf, sizeof buf);
        }
    } else {
        e.family = AF_INET;
        format_ipv4(static_cast<const uint8_t*>(addr), buf);
    }
    e.ip = buf;
    return e;
}

Endpoint canonical(const Endpoint& in) {
    uint8_t addr[16] = {};
    if (in.family == AF_INET6 && ::inet_pton(AF_INET6, in.ip.c_str(), addr) == 1)
        return make_endpoint(AF_INET6, addr, in.port);
    if (in.family == AF_INET && ::inet_pton(AF_INET, in.ip.c_str(), addr) == 1)
        return make_endpoint(AF_INET, addr, in.port);
    return in;
}

const char* state_name(uint32_t state) {
    switch (state) {
        case ZDD_TCP_ESTABLISHED:
            return "ESTABLISHED";
        case ZDD_TCP_SYN_SENT:
            return "SYN_SENT";
        case ZDD_TCP_SYN_RECV:
            return "SYN_RECV";
        case ZDD_TCP_FIN_WAIT1:
            return "FIN_WAIT1";
        case ZDD_TCP_FIN_WAIT2:
            return "FIN_WAIT2";
        case ZDD_TCP_TIME_WAIT:
            return "TIME_WAIT";
        case ZDD_TCP_CLOSE:
            return "CLOSE";
        case ZDD_TCP_CLOSE_WAIT:
            return "CLOSE_WAIT";
        case ZDD_TCP_LAST_ACK:
            return "LAST_ACK";
        case ZDD_TCP_LISTEN:
            return "LISTEN";
        case ZDD_TCP_CLOSING:
            return "CLOSING";
        case ZDD_TCP_NEW_SYN_RECV:
            return "NEW_SYN_RECV";
        default:
            return "UNKNOWN";
    }
}

zdd_verdict classify(const zdd_classify_input& in, const zdd_thresholds& t) {
    return zdd_classify(&in, &t);
}

void count_class(PortCounts& p, const zdd_verdict& v) {
    switch (v.cls) {
        case ZDD_CLASS_ACTIVE:
            ++p.active;
            break;
        case ZDD_CLASS_IDLE:
            ++p.idle;
            break;
        case ZDD_CLASS_STUCK:
            ++p.stuck;
            break;
        default:
            break;  // closing never blocks and is counted under "closing"
    }
}

void tally_classes(Snapshot& snap) {
    std::map<uint16_t, PortCounts*> by_port;
    for (auto& p : snap.ports) {
        p.active = p.idle = p.stuck = 0;
        by_port[p.port] = &p;
    }
    for (const auto& s : snap.sockets) {
        auto it = by_port.find(s.local.port);
        if (it != by_port.end()) count_class(*it->second, s.verdict);
    }
}

}  // namespace drainmon
