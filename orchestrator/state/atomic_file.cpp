#include "state/atomic_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <system_error>

#include "common/unique_fd.hpp"

namespace zdd {

using drainmon::UniqueFd;

static std::string errstr(const std::string& what, const std::filesystem::path& p) {
    return what + " " + p.string() + ": " + std::strerror(errno);
}

namespace {

std::string read_all(int fd, const std::filesystem::path& path, std::size_t max_bytes) {
    std::string out;
    char buf[65536];
    for (;;) {
        ssize_t n = ::read(fd, buf, sizeof buf);
        if (n < 0) {
            if (errno == EINTR) continue;
            throw FileError(errstr("cannot read", path));
        }
        if (n == 0) break;
        if (out.size() + static_cast<std::size_t>(n) > max_bytes)
            throw FileError(path.string() + ": larger than " + std::to_string(max_bytes) +
                            " bytes, refusing to read it");
        out.append(buf, static_cast<std::size_t>(n));
    }
    return out;
}

void write_all(int fd, std::string_view content) {
    std::size_t off = 0;
    while (off < content.size()) {
        ssize_t n = ::write(fd, content.data() + off, content.size() - off);
        if (n < 0) {
            if (errno == EINTR) continue;
            throw std::system_error(errno, std::generic_category());
        }
        off += static_cast<std::size_t>(n);
    }
}

}  // namespace

std::optional<std::string> read_file_if_exists(const std::filesystem::path& path,
                                               std::size_t max_bytes) {
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) {
        if (errno == ENOENT) return std::nullopt;
        throw FileError(errstr("cannot open", path));
    }
    return read_all(fd.get(), path, max_bytes);
}

std::optional<std::string> read_file_at(int dirfd, const std::string& name,
                                        const std::filesystem::path& shown, std::size_t max_bytes) {
    UniqueFd fd(::openat(dirfd, name.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
    if (!fd) {
        if (errno == ENOENT) return std::nullopt;
        if (errno == ELOOP)
            throw FileError(shown.string() + " is a symlink: refusing to follow it");
        throw FileError(errstr("cannot open", shown));
    }
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) throw FileError(errstr("cannot stat", shown));
    if (!S_ISREG(st.st_mode)) throw FileError(shown.string() + " is not a regular file");
    return read_all(fd.get(), shown, max_bytes);
}

namespace {

// Temp file in dirfd, written, fsynced, renamed over `name` (a planted symlink is replaced,
// never followed), dir fsynced. `mode` is the final mode, whatever the umask.
void replace_at(int dirfd, const std::string& name, const std::filesystem::path& shown,
                std::string_view content, mode_t mode) {
    // A fresh name each try; O_EXCL|O_NOFOLLOW so nothing planted under it is reused.
    std::string tmp;
    UniqueFd fd;
    for (int attempt = 0; attempt < 100 && !fd; ++attempt) {
        char suffix[16];
        std::snprintf(suffix, sizeof suffix, "%08x", static_cast<unsigned>(::random()));
        tmp = "." + name + ".tmp" + suffix;
        fd.reset(::openat(dirfd, tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                          0600));
        if (!fd && errno != EEXIST) throw FileError(errstr("cannot create a temp file for", shown));
    }
    if (!fd) throw FileError("cannot create a temp file for " + shown.string());
    // From here on, any failure removes the temp file.
    auto fail = [&](const std::string& what) {
        FileError e(errstr(what, shown.parent_path() / tmp));
        ::unlinkat(dirfd, tmp.c_str(), 0);
        throw e;
    };
    try {
        write_all(fd.get(), content);
    } catch (const std::system_error& e) {
        errno = e.code().value();
        fail("cannot write");
    }
    if (::fchmod(fd.get(), mode) != 0) fail("cannot chmod");
    if (::fsync(fd.get()) != 0) fail("cannot fsync");
    fd.reset();
    if (::renameat(dirfd, tmp.c_str(), dirfd, name.c_str()) != 0)
        fail("cannot rename over " + shown.string() + ":");
    // The rename itself is durable only once the directory is synced.
    ::fsync(dirfd);
}

}  // namespace

void write_file_atomic_at(int dirfd, const std::string& name, const std::filesystem::path& shown,
                          std::string_view content, mode_t mode) {
    struct stat st {};
    if (::fstatat(dirfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode))
        mode = st.st_mode & 07777;
    replace_at(dirfd, name, shown, content, mode);
}

namespace {

void replace_in_parent(const std::filesystem::path& path, std::string_view content, mode_t mode) {
    std::filesystem::path dir = path.parent_path();
    if (dir.empty()) dir = ".";
    UniqueFd dfd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!dfd) throw FileError(errstr("cannot create a temp file in", dir));
    replace_at(dfd.get(), path.filename().string(), path, content, mode);
}

}  // namespace

void write_file_atomic(const std::filesystem::path& path, std::string_view content, mode_t mode) {
    struct stat st {};
    if (::stat(path.c_str(), &st) == 0) mode = st.st_mode & 07777;
    replace_in_parent(path, content, mode);
}

void write_private_file_atomic(const std::filesystem::path& path, std::string_view content) {
    replace_in_parent(path, content, 0600);
}

}  // namespace zdd
