#include "scoped_mount.hpp"

#include <fcntl.h>
#include <sys/mount.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "common/unique_fd.hpp"

namespace zdd_fault {

namespace {

[[noreturn]] void fail(const std::string& what) {
    throw std::runtime_error(what + ": " + std::strerror(errno));
}

}  // namespace

ScopedMount ScopedMount::tmpfs(const std::filesystem::path& at, uint64_t size_bytes) {
    std::filesystem::create_directories(at);
    const std::string opts = "size=" + std::to_string(size_bytes) + ",mode=0755";
    if (::mount("zdd-test-tmpfs", at.c_str(), "tmpfs", 0, opts.c_str()) != 0)
        fail("mount tmpfs on " + at.string());
    return ScopedMount(at);
}

ScopedMount ScopedMount::read_only_bind(const std::filesystem::path& dir) {
    if (::mount(dir.c_str(), dir.c_str(), nullptr, MS_BIND, nullptr) != 0)
        fail("bind mount " + dir.string());
    ScopedMount m(dir);  // unmounted even if the remount fails
    if (::mount(nullptr, dir.c_str(), nullptr, MS_REMOUNT | MS_BIND | MS_RDONLY, nullptr) != 0)
        fail("remount read-only " + dir.string());
    return m;
}

ScopedMount::ScopedMount(ScopedMount&& o) noexcept : at_(std::move(o.at_)) {
    o.at_.clear();
}

ScopedMount::~ScopedMount() {
    if (at_.empty()) return;
    // Lazy: a process that still has a file open there (nginx) does not keep the mount.
    ::umount2(at_.c_str(), MNT_DETACH);
}

void fill_filesystem(const std::filesystem::path& dir) {
    drainmon::UniqueFd fd(
        ::open((dir / "filler").c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    if (!fd) fail("open filler in " + dir.string());
    std::vector<char> block(4096, 'x');
    for (int i = 0; i < 1 << 20; ++i)  // bounded: 4 GiB at most
        if (::write(fd.get(), block.data(), block.size()) < 0) {
            if (errno == ENOSPC) return;
            fail("write filler");
        }
    throw std::runtime_error("filesystem at " + dir.string() + " never filled up");
}

}  // namespace zdd_fault
