#include "state/release_store.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <utility>
#include <memory>

#include "common/unique_fd.hpp"
#include "core/outcome.hpp"
#include "core/message_text.hpp"
#include "state/state_dir.hpp"

namespace zdd {

namespace fs = std::filesystem;
using drainmon::UniqueFd;

namespace {

using EvpCtx = std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)>;

// One pass over `in`: what is hashed is exactly what is copied to `out` (when out >= 0), with
// no second open that could see another file.
std::string copy_and_hash(int in, int out, const fs::path& src) {
    EvpCtx ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
    if (!ctx || EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) != 1)
        throw ReleaseError("sha256: cannot initialise");
    char buf[65536];
    for (;;) {
        ssize_t n = ::read(in, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) throw ReleaseError("cannot read " + src.string() + ": " + std::strerror(errno));
        if (n == 0) break;
        EVP_DigestUpdate(ctx.get(), buf, static_cast<std::size_t>(n));
        for (ssize_t off = 0; out >= 0 && off < n;) {
            ssize_t w = ::write(out, buf + off, static_cast<std::size_t>(n - off));
            if (w < 0 && errno == EINTR) continue;
            if (w < 0)
                throw ReleaseError(std::string("cannot write release: ") + std::strerror(errno));
            off += w;
        }
    }
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned len = 0;
    EVP_DigestFinal_ex(ctx.get(), md, &len);
    static const char* hex = "0123456789abcdef";
    std::string digest;
    for (unsigned i = 0; i < len; ++i) {
        digest += hex[md[i] >> 4];
        digest += hex[md[i] & 15];
    }
    return digest;
}

// Removes `name` (a dir of files, as a release is) under dirfd; best effort.
void remove_tree_at(int dirfd, const std::string& name) {
    UniqueFd d(::openat(dirfd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (d) {
        if (DIR* dir = ::fdopendir(::dup(d.get()))) {
            std::vector<std::string> names;
            while (dirent* e = ::readdir(dir))
                if (std::string n = e->d_name; n != "." && n != "..") names.push_back(n);
            ::closedir(dir);
            for (const auto& n : names)
                if (::unlinkat(d.get(), n.c_str(), 0) != 0 && errno == EISDIR)
                    remove_tree_at(d.get(), n);
        }
    }
    ::unlinkat(dirfd, name.c_str(), AT_REMOVEDIR);
}

}  // namespace

std::string sha256_file(const fs::path& p) {
    UniqueFd fd(::open(p.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) throw ReleaseError("cannot read " + p.string() + ": " + std::strerror(errno));
    return copy_and_hash(fd.get(), -1, p);
}

Release ReleaseStore::add(const fs::path& binary) const {
    // One fd for everything: the checks, the hash and the copy all see the same file.
    UniqueFd in(::open(binary.c_str(), O_RDONLY | O_CLOEXEC));
    if (!in) throw ReleaseError("binary " + binary.string() + ": " + std::strerror(errno));
    struct stat st {};
    if (::fstat(in.get(), &st) != 0)
        throw ReleaseError("binary " + binary.string() + ": " + std::strerror(errno));
    if (!S_ISREG(st.st_mode)) throw ReleaseError("binary " + binary.string() + " is not a file");
    if (!(st.st_mode & 0111))
        throw ReleaseError("binary " + binary.string() + " is not executable");
    const std::string name = binary.filename().string();
    if (name.empty() || name[0] == '.')
        throw ReleaseError("binary " + binary.string() + ": its file name must not start with '.'");

    StateDir sd = StateDir::open(state_);
    UniqueFd rel = sd.subdir("releases", kReleasesDirMode);
    std::string tmp;
    for (int attempt = 0; attempt < 100 && tmp.empty(); ++attempt) {
        char t[32];
        std::snprintf(t, sizeof t, ".tmp-%08x", static_cast<unsigned>(::random()));
        if (::mkdirat(rel.get(), t, 0700) == 0)
            tmp = t;
        else if (errno != EEXIST)
            throw ReleaseError("cannot create a temp dir in " + releases_dir().string() + ": " +
                               std::strerror(errno));
    }
    if (tmp.empty()) throw ReleaseError("cannot create a temp dir in " + releases_dir().string());
    Release r;
    try {
        UniqueFd tdir(
            ::openat(rel.get(), tmp.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
        if (!tdir) throw ReleaseError("cannot open " + tmp + ": " + std::strerror(errno));
        UniqueFd out(::openat(tdir.get(), name.c_str(),
                              O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0700));
        if (!out)
            throw ReleaseError("cannot create a release copy: " +
                               std::string(std::strerror(errno)));
        r.sha256 = copy_and_hash(in.get(), out.get(), binary);
        if (::fchmod(out.get(), 0755) != 0 || ::fsync(out.get()) != 0)
            throw ReleaseError("cannot finish the release copy: " +
                               std::string(std::strerror(errno)));
        if (::fchmod(tdir.get(), kReleasesDirMode) != 0)
            throw ReleaseError("cannot chmod the release dir: " +
                               std::string(std::strerror(errno)));
        r.id = r.sha256.substr(0, 16);
        r.dir = releases_dir() / r.id;
        r.binary = r.dir / name;
        if (::renameat(rel.get(), tmp.c_str(), rel.get(), r.id.c_str()) == 0) {
            tmp.clear();
        } else if (errno == ENOTEMPTY || errno == EEXIST) {
            // The same content was released before: reuse it (adding this name if new).
            UniqueFd have(
                ::openat(rel.get(), r.id.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
            if (!have)
                throw ReleaseError("cannot open " + r.dir.string() + ": " + std::strerror(errno));
            struct stat bst {};
            if (::fstatat(have.get(), name.c_str(), &bst, AT_SYMLINK_NOFOLLOW) != 0 &&
                ::renameat(tdir.get(), name.c_str(), have.get(), name.c_str()) != 0)
                throw ReleaseError("cannot add " + r.binary.string() + ": " + std::strerror(errno));
            // Its age is its last deploy: pruning keeps what was deployed most recently.
            ::futimens(have.get(), nullptr);
        } else {
            throw ReleaseError("cannot create " + r.dir.string() + ": " + std::strerror(errno));
        }
    } catch (...) {
        if (!tmp.empty()) remove_tree_at(rel.get(), tmp);
        throw;
    }
    if (!tmp.empty()) remove_tree_at(rel.get(), tmp);
    ::fsync(rel.get());
    return r;
}

fs::path ReleaseStore::checked_release(const fs::path& binary) const {
    const fs::path rel = fs::absolute(releases_dir()).lexically_normal();
    const fs::path b = fs::absolute(binary).lexically_normal();
    const fs::path id = b.parent_path().filename();
    if (b.parent_path().parent_path() != rel || id.empty() || id.string()[0] == '.' ||
        b.filename().empty())
        throw Failure(Outcome::unsafe_state_dir,
                      "refusing to run " + printable(binary.string()) +
                          ": releases run only from " + rel.string() +
                          " (state.json was edited or is from elsewhere)");
    struct stat st {};
    if (::lstat(b.parent_path().c_str(), &st) != 0 || !S_ISDIR(st.st_mode) ||
        ::lstat(b.c_str(), &st) != 0 || !S_ISREG(st.st_mode))
        throw Failure(Outcome::release, "the release " + printable(binary.string()) +
                                            " is gone or not a regular file");
    return b;
}

std::vector<fs::path> ReleaseStore::list() const {
    std::vector<std::pair<struct timespec, fs::path>> found;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(releases_dir(), ec)) {
        const auto name = e.path().filename().string();
        struct stat st {};
        if (name.empty() || name[0] == '.' || ::lstat(e.path().c_str(), &st) != 0 ||
            !S_ISDIR(st.st_mode))
            continue;
        found.emplace_back(st.st_mtim, e.path());
    }
    std::sort(found.begin(), found.end(), [](const auto& a, const auto& b) {
        if (a.first.tv_sec != b.first.tv_sec) return a.first.tv_sec < b.first.tv_sec;
        if (a.first.tv_nsec != b.first.tv_nsec) return a.first.tv_nsec < b.first.tv_nsec;
        return a.second < b.second;
    });
    std::vector<fs::path> out;
    for (auto& f : found) out.push_back(std::move(f.second));
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
    // Copies a crashed or failed add left behind (never a live one: adds hold the deploy lock).
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(releases_dir(), ec))
        if (e.path().filename().string().rfind(".tmp-", 0) == 0) {
            std::error_code rec;
            fs::remove_all(e.path(), rec);
        }
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
    StateDir::open(state_);
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
