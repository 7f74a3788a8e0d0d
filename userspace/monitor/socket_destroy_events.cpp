#include "monitor/socket_destroy_events.hpp"

#include "monitor/inet_diag.hpp"

#include <arpa/inet.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <poll.h>
#include <sys/socket.h>

#include <cerrno>

namespace drainmon {

SocketDestroyEvents::SocketDestroyEvents() : buf_(32 * 1024) {
    UniqueFd fd(::socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_SOCK_DIAG));
    if (!fd) return;
    sockaddr_nl local{};
    local.nl_family = AF_NETLINK;
    local.nl_groups =
        (1u << (SKNLGRP_INET_TCP_DESTROY - 1)) | (1u << (SKNLGRP_INET6_TCP_DESTROY - 1));
    if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&local), sizeof local) != 0) return;
    fd_ = std::move(fd);
}

bool SocketDestroyEvents::drain(const std::set<uint16_t>& ports) {
    bool hit = false;
    for (;;) {
        ssize_t n = ::recv(fd_.get(), buf_.data(), buf_.size(), 0);
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == ENOBUFS) {  // notifications were dropped: one may have been ours
                hit = true;
                continue;
            }
            return hit;  // EAGAIN: nothing more queued
        }
        int left = static_cast<int>(n);
        for (auto* h = reinterpret_cast<nlmsghdr*>(buf_.data()); nlmsg_ok(h, left);
             h = NLMSG_NEXT(h, left)) {
            if (h->nlmsg_len < NLMSG_LENGTH(sizeof(inet_diag_msg))) continue;
            const auto* r = static_cast<const inet_diag_msg*>(NLMSG_DATA(h));
            if (ports.count(ntohs(r->id.idiag_sport))) hit = true;
        }
    }
}

bool SocketDestroyEvents::wait(const std::set<uint16_t>& ports, Clock::time_point until) {
    for (;;) {
        if (drain(ports)) return true;
        auto left = std::chrono::ceil<std::chrono::milliseconds>(until - Clock::now());
        if (left.count() <= 0) return false;
        pollfd p{fd_.get(), POLLIN, 0};
        ::poll(&p, 1, static_cast<int>(std::min<int64_t>(left.count(), 60000)));
    }
}

}  // namespace drainmon
