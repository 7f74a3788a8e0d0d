#include "state/release_store.hpp"

#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <memory>

#include "common/unique_fd.hpp"

namespace zdd {

namespace fs = std::filesystem;
using drainmon::UniqueFd;

std::string sha256_file(const fs::path& p) {
    UniqueFd fd(::open(p.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) throw ReleaseError("cannot read " + p.string() + ": " + std::strerror(errno));
    std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
    if (!ctx || EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) != 1)
        throw ReleaseError("sha256: cannot initialise");
    char buf[65536];
    for (;;) {
        ssize_t n = ::read(fd.get(), buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) throw ReleaseError("cannot read " + p.string() + ": " + std::strerror(errno));
        if (n == 0) break;
        EVP_DigestUpdate(ctx.get(), buf, static_cast<std::size_t>(n));
    }
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned len = 0;
    EVP_DigestFinal_ex(ctx.get(), md, &len);
    static const char* hex = "0123456789abcdef";
    std::string out;
    for (unsigned i = 0; i < len; ++i) {
        out += hex[md[i] >> 4];
        out += hex[md[i] & 15];
    }
    return out;
}

namespace {

// Milliseconds included so ids sort in the order releases were added.
std::string utc_stamp() {
    using namespace std::chrono;
    const auto now = system_clock::now();
    const std::time_t t = system_clock::to_time_t(now);
    const auto ms = duration_cast<milliseconds>(now.time_since_epoch()).count() % 1000;
    std::tm tm{};
    gmtime_r(&t, &tm);
    char b[40];
    std::strftime(b, sizeof b, "%Y%m%dT%H%M%S", &tm);
    char out[48];
    std::snprintf(out, sizeof out, "%s.%03dZ", b, static_cast<int>(ms));
    return out;
}

void copy_fd(int in, int out, const fs::path& src) {
    char buf[65536];
    for (;;) {
        ssize_t n = ::read(in, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) throw ReleaseError("cannot read " + src.string() + ": " + std::strerror(errno));
        if (n == 0) return;
        for (ssize_t off = 0; off < n;) {
            ssize_t w = ::write(out, buf + off, static_cast<std::size_t>(n - off));
            if (w < 0 && errno == EINTR) continue;
            if (w < 0)
                throw ReleaseError(std::string("cannot write release: ") + std::strerror(errno));
            off += w;
        }
    }
}

}  // namespace

Release ReleaseStore::add(const fs::path& binary) const {
    struct stat st {};
    if (::stat(binary.c_str(), &st) != 0)
        throw ReleaseError("binary " + binary.string() + ": " + std::strerror(errno));
    if (!S_ISREG(st.st_mode)) throw ReleaseError("binary " + binary.string() + " is not a file");
    if (::access(binary.c_str(), X_OK) != 0)
        throw ReleaseError("binary " + binary.string() + " is not executable");
    std::error_code ec;
    fs::create_directories(releases_dir(), ec);
    if (ec) throw ReleaseError("cannot create " + releases_dir().string() + ": " + ec.message());

    Release r;
    r.sha256 = sha256_file(binary);
    r.id = utc_stamp() + "-" + r.sha256.substr(0, 12);
    r.dir = releases_dir() / r.id;
    r.binary = r.dir / binary.filename();
    if (fs::exists(r.binary)) return r;  // same content within the same second: already there

    std::string tmpl = (releases_dir() / ".tmp-XXXXXX").string();
    if (!::mkdtemp(tmpl.data()))
        throw ReleaseError("cannot create a temp dir in " + releases_dir().string() + ": " +
                           std::strerror(errno));
    const fs::path tmp = tmpl;
    try {
        UniqueFd in(::open(binary.c_str(), O_RDONLY | O_CLOEXEC));
        if (!in) throw ReleaseError("cannot read " + binary.string() + ": " + std::strerror(errno));
        const fs::path dst = tmp / binary.filename();
        UniqueFd out(::open(dst.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0755));
        if (!out) throw ReleaseError("cannot create " + dst.string() + ": " + std::strerror(errno));
        copy_fd(in.get(), out.get(), binary);
        if (::fchmod(out.get(), 0755) != 0 || ::fsync(out.get()) != 0)
            throw ReleaseError("cannot finish " + dst.string() + ": " + std::strerror(errno));
        ::chmod(tmp.c_str(), 0755);
        if (::rename(tmp.c_str(), r.dir.c_str()) != 0) {
            if (errno == ENOTEMPTY || errno == EEXIST) {  // raced with an identical add
                fs::remove_all(tmp, ec);
                return r;
            }
            throw ReleaseError("cannot create " + r.dir.string() + ": " + std::strerror(errno));
        }
    } catch (...) {
        fs::remove_all(tmp, ec);
        throw;
    }
    return r;
}

std::vector<fs::path> ReleaseStore::list() const {
    std::vector<fs::path> out;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(releases_dir(), ec)) {
        const auto name = e.path().filename().string();
        if (name.empty() || name[0] == '.' || !e.is_directory()) continue;
        out.push_back(e.path());
    }
    std::sort(out.begin(), out.end());
    return out;
}

std::vector<fs::path> ReleaseStore::prune(std::size_t keep,
                                          const std::set<fs::path>& protect) const {
    auto all = list();
    auto is_protected = [&](const fs::path& dir) {
        for (const auto& p : protect) {
            fs::path pp = p.lexically_normal();
            if (pp == dir.lexically_normal() || pp.parent_path() == dir.lexically_normal())
                return true;
        }
        return false;
    };
    std::vector<fs::path> removed;
    if (all.size() <= keep) return removed;
    // The newest `keep` stay; older ones go unless the state still refers to them.
    for (std::size_t i = 0; i + keep < all.size(); ++i) {
        const auto& dir = all[i];
        if (is_protected(dir)) continue;
        std::error_code ec;
        fs::remove_all(dir, ec);
        if (ec) throw ReleaseError("cannot remove " + dir.string() + ": " + ec.message());
        removed.push_back(dir);
    }
    return removed;
}

fs::path ReleaseStore::link_color(Color c, const fs::path& binary) const {
    const fs::path link = color_link(c);
    const fs::path tmp = state_ / ("." + to_string(c) + ".link.tmp");
    std::error_code ec;
    fs::create_directories(state_, ec);
    fs::remove(tmp, ec);
    if (::symlink(binary.c_str(), tmp.c_str()) != 0)
        throw ReleaseError("cannot create link " + tmp.string() + ": " + std::strerror(errno));
    if (::rename(tmp.c_str(), link.c_str()) != 0) {
        fs::remove(tmp, ec);
        throw ReleaseError("cannot replace " + link.string() + ": " + std::strerror(errno));
    }
    return link;
}

}  // namespace zdd
