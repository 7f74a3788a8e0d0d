#include "state/atomic_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/unique_fd.hpp"

namespace zdd {

using drainmon::UniqueFd;

static std::string errstr(const std::string& what, const std::filesystem::path& p) {
    return what + " " + p.string() + ": " + std::strerror(errno);
}

std::optional<std::string> read_file_if_exists(const std::filesystem::path& path,
                                               std::size_t max_bytes) {
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) {
        if (errno == ENOENT) return std::nullopt;
        throw FileError(errstr("cannot open", path));
    }
    std::string out;
    char buf[65536];
    for (;;) {
        ssize_t n = ::read(fd.get(), buf, sizeof buf);
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

void write_file_atomic(const std::filesystem::path& path, std::string_view content, mode_t mode) {
    std::filesystem::path dir = path.parent_path();
    if (dir.empty()) dir = ".";
    struct stat st {};
    if (::stat(path.c_str(), &st) == 0) mode = st.st_mode & 07777;

    std::string tmpl = (dir / ("." + path.filename().string() + ".tmpXXXXXX")).string();
    UniqueFd fd(::mkostemp(tmpl.data(), O_CLOEXEC));
    if (!fd) throw FileError(errstr("cannot create a temp file in", dir));
    // From here on, any failure removes the temp file.
    auto fail = [&](const std::string& what) {
        FileError e(errstr(what, tmpl));
        ::unlink(tmpl.c_str());
        throw e;
    };
    std::size_t off = 0;
    while (off < content.size()) {
        ssize_t n = ::write(fd.get(), content.data() + off, content.size() - off);
        if (n < 0) {
            if (errno == EINTR) continue;
            fail("cannot write");
        }
        off += static_cast<std::size_t>(n);
    }
    if (::fchmod(fd.get(), mode) != 0) fail("cannot chmod");
    if (::fsync(fd.get()) != 0) fail("cannot fsync");
    fd.reset();
    if (::rename(tmpl.c_str(), path.c_str()) != 0)
        fail("cannot rename over " + path.string() + ":");
    // The rename itself is durable only once the directory is synced.
    UniqueFd dfd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (dfd) ::fsync(dfd.get());
}

}  // namespace zdd
