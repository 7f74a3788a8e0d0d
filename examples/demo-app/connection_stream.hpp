// httplib::Stream over one accepted TCP socket, with the demo app's own timeouts and a check
// that the peer is still there (POLLRDHUP), so a vanished stream client is noticed.
#pragma once

#include <sys/types.h>

#include <array>
#include <chrono>
#include <string>

#include <httplib.h>

namespace zdd_demo {

class ConnectionStream final : public httplib::Stream {
  public:
    ConnectionStream(int fd, std::chrono::milliseconds read_timeout,
                     std::chrono::milliseconds write_timeout);

    bool is_readable() const override;
    // Room to write within the write timeout, and the peer has not closed or reset.
    bool is_writable() const override;
    ssize_t read(char* ptr, size_t size) override;
    ssize_t write(const char* ptr, size_t size) override;
    void get_remote_ip_and_port(std::string& ip, int& port) const override;
    void get_local_ip_and_port(std::string& ip, int& port) const override;
    int socket() const override { return fd_; }

    // httplib parses a Range header with a recursive std::regex whose depth grows with the
    // value's length (8 KiB overflows a 2 MiB stack); connection threads have small stacks,
    // so a Range line longer than this ends the connection before httplib sees it.
    static constexpr size_t kMaxRangeLine = 1024;

  private:
    // Follows the bytes handed to httplib line by line; false once a Range line is too long.
    bool range_guard(const char* data, size_t n);
    // poll() for `events` up to `timeout`; the revents, 0 on timeout.
    short wait_for(short events, std::chrono::milliseconds timeout) const;

    int fd_;
    std::chrono::milliseconds read_timeout_;
    std::chrono::milliseconds write_timeout_;
    // httplib reads request lines one byte at a time: buffer so that is one syscall per packet.
    std::array<char, 4096> buf_{};
    size_t buf_off_ = 0;
    size_t buf_len_ = 0;
    size_t line_len_ = 0;
    bool line_is_range_ = false;
    bool refused_ = false;
};

}  // namespace zdd_demo
