// A cpp-httplib server for a port others can reach (drain-inspector serve): one request per
// connection of at most 64 KiB, no request body (413), short read/write timeouts, an exclusive
// bind, and slow
// clients that cannot starve the others. cpp-httplib gives each connection a worker while it
// reads the request and only bounds each read, so clients sending a byte a second could hold
// every worker forever. Here reading a request has a total deadline, and when every worker is
// taken a new connection makes room by cutting the one that has been sending its request the
// longest (as nginx frees a connection under load), so a scrape waits for a worker at most
// the few milliseconds that takes.
#pragma once

#include <httplib.h>

#include <chrono>
#include <cstddef>
#include <list>
#include <mutex>

namespace drainmon::inspector {

class HardenedHttpServer : public httplib::Server {
  public:
    static constexpr std::size_t kWorkers = 64;
    static constexpr std::chrono::seconds kIoTimeout{2};        // one read or write
    static constexpr std::chrono::seconds kRequestDeadline{5};  // the whole request

    HardenedHttpServer();

  private:
    struct Connection {
        int sock;
        bool reading = true;  // until its request is read; only then may it be cut
        bool cut = false;
    };
    class Queue;

    // Runs in a worker for each accepted connection (cpp-httplib's hook): registers it, serves
    // one request, closes it.
    bool process_and_close_socket(socket_t sock) override;
    // Called for each accepted connection before it is queued for a worker.
    void on_accepted();

    std::mutex mu_;
    std::list<Connection> connections_;  // being served, oldest first
    std::size_t pending_ = 0;            // accepted and not yet closed (queued or served)
};

}  // namespace drainmon::inspector
