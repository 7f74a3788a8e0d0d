#include "state/state_dir.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>

#include "core/outcome.hpp"
#include "core/message_text.hpp"

namespace zdd {

namespace fs = std::filesystem;
using drainmon::UniqueFd;

namespace {

// Deep enough for releases/<id>/<binary>; deeper trees are checked but not entered.
constexpr int kMaxDepth = 3;

[[noreturn]] void unsafe(const fs::path& p, const std::string& why) {
    throw Failure(Outcome::unsafe_state_dir,
                  "unsafe state dir: " + printable(p.string()) + " " + why +
                      " (the state dir and everything in it must be owned by root or the user "
                      "running zdd and not writable by group or others)");
}

[[noreturn]] void state_fail(const std::string& what, const fs::path& p) {
    throw Failure(Outcome::state, what + " " + printable(p.string()) + ": " + std::strerror(errno));
}

bool trusted_owner(uid_t uid) {
    return uid == 0 || uid == ::geteuid();
}

void check_stat(const fs::path& shown, const struct stat& st, bool allow_sticky) {
    if (!trusted_owner(st.st_uid)) unsafe(shown, "is owned by uid " + std::to_string(st.st_uid));
    if (S_ISLNK(st.st_mode)) return;  // a link's own mode means nothing; its owner does
    const bool sticky_dir = S_ISDIR(st.st_mode) && (st.st_mode & S_ISVTX);
    if ((st.st_mode & (S_IWGRP | S_IWOTH)) && !(allow_sticky && sticky_dir)) {
        char mode[8];
        std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
        unsafe(shown, std::string("is writable by group or others (mode ") + mode + ")");
    }
}

// Every entry under dirfd, recursively: owner and mode, never following a symlink.
void check_tree(int dirfd, const fs::path& shown, int depth) {
    UniqueFd copy(::openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!copy) state_fail("cannot read", shown);
    DIR* d = ::fdopendir(copy.get());
    if (!d) state_fail("cannot read", shown);
    copy.release();
    struct Closer {
        void operator()(DIR* p) const { ::closedir(p); }
    };
    std::unique_ptr<DIR, Closer> dir(d);
    while (dirent* e = ::readdir(dir.get())) {
        const std::string name = e->d_name;
        if (name == "." || name == "..") continue;
        struct stat st {};
        if (::fstatat(dirfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
            if (errno == ENOENT) continue;  // removed meanwhile
            state_fail("cannot stat", shown / name);
        }
        check_stat(shown / name, st, false);
        if (S_ISDIR(st.st_mode) && depth < kMaxDepth) {
            UniqueFd sub(
                ::openat(dirfd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
            if (!sub) state_fail("cannot open", shown / name);
            check_tree(sub.get(), shown / name, depth + 1);
        }
    }
}

// The parents decide who can rename the state dir away and put another in its place.
void check_parents(const fs::path& dir) {
    std::error_code ec;
    fs::path parent = fs::canonical(fs::absolute(dir).parent_path(), ec);
    if (ec) return;  // reported by the open that follows
    for (fs::path p = parent;; p = p.parent_path()) {
        struct stat st {};
        if (::stat(p.c_str(), &st) != 0) state_fail("cannot stat", p);
        check_stat(p, st, true);
        if (p == p.root_path() || p.parent_path() == p) break;
    }
}

// nullopt (fd) when the dir does not exist; throws when it is unsafe or unreadable.
UniqueFd open_checked(const fs::path& dir) {
    check_parents(dir);
    UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!fd) {
        if (errno == ENOENT) return fd;
        if (errno == ELOOP || errno == ENOTDIR) {
            struct stat lst {};
            if (::lstat(dir.c_str(), &lst) == 0 && S_ISLNK(lst.st_mode))
                unsafe(dir, "is a symlink: give the real path as --state-dir");
        }
        state_fail("cannot open state dir", dir);
    }
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) state_fail("cannot stat", dir);
    check_stat(dir, st, false);
    check_tree(fd.get(), dir, 1);
    return fd;
}

}  // namespace

void make_dirs(const fs::path& dir, mode_t mode) {
    fs::path abs = fs::absolute(dir).lexically_normal();
    if (!abs.has_filename()) abs = abs.parent_path();  // "a/b/" -> "a/b"
    fs::path p;
    for (const auto& part : abs) {
        p /= part;
        if (p == p.root_path()) continue;
        const mode_t m = p == abs ? mode : 0755;
        if (::mkdir(p.c_str(), m) == 0) {
            // mkdir's mode is masked by the umask; the mode asked for is the mode wanted.
            if (::chmod(p.c_str(), m) != 0) state_fail("cannot chmod", p);
        } else if (errno != EEXIST) {
            state_fail("cannot create", p);
        }
    }
}

StateDir StateDir::open(const fs::path& dir) {
    make_dirs(dir, kStateDirMode);
    UniqueFd fd = open_checked(dir);
    if (!fd) state_fail("cannot open state dir", dir);
    StateDir sd(std::move(fd), dir);
    sd.subdir("logs", kLogsDirMode);
    sd.subdir("releases", kReleasesDirMode);
    return sd;
}

std::optional<StateDir> StateDir::open_existing(const fs::path& dir) {
    UniqueFd fd = open_checked(dir);
    if (!fd) return std::nullopt;
    return StateDir(std::move(fd), dir);
}

UniqueFd StateDir::subdir(const std::string& name, mode_t mode) const {
    const fs::path shown = path_ / name;
    if (::mkdirat(fd_.get(), name.c_str(), mode) == 0) {
        if (::fchmodat(fd_.get(), name.c_str(), mode, 0) != 0) state_fail("cannot chmod", shown);
    } else if (errno != EEXIST) {
        state_fail("cannot create", shown);
    }
    UniqueFd sub(
        ::openat(fd_.get(), name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!sub) {
        if (errno == ELOOP || errno == ENOTDIR) unsafe(shown, "is not a directory (a symlink?)");
        state_fail("cannot open", shown);
    }
    return sub;
}

}  // namespace zdd
