// The state dir, trusted only after a check (as sshd's StrictModes): it, its parents and
// everything in it must be owned by root or the invoking user and not writable by group or
// others (a sticky parent such as /tmp is fine). zdd runs as root and executes what the state
// dir names, so a dir another user can write would hand them root. Directories are created
// with explicit modes whatever the umask; files are opened relative to the checked directory
// fd with O_NOFOLLOW, so a symlink swapped in after the check is not followed either.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <optional>
#include <string>

#include "common/unique_fd.hpp"

namespace zdd {

inline constexpr mode_t kStateDirMode = 0755;
inline constexpr mode_t kLogsDirMode = 0750;
inline constexpr mode_t kReleasesDirMode = 0755;

class StateDir {
  public:
    // Creates the dir (and missing parents) with kStateDirMode and its logs/ and releases/
    // subdirs, then checks it all. Throws Failure(Outcome::unsafe_state_dir) when it is unsafe,
    // Failure(Outcome::state) when it cannot be created.
    static StateDir open(const std::filesystem::path& dir);
    // The same check without creating anything; nullopt when the dir does not exist.
    static std::optional<StateDir> open_existing(const std::filesystem::path& dir);

    int fd() const { return fd_.get(); }
    const std::filesystem::path& path() const { return path_; }

    // An fd for the subdirectory `name` of the state dir (O_NOFOLLOW), created with `mode`
    // when missing. Throws Failure(Outcome::state).
    drainmon::UniqueFd subdir(const std::string& name, mode_t mode) const;

  private:
    StateDir(drainmon::UniqueFd fd, std::filesystem::path p)
        : fd_(std::move(fd)), path_(std::move(p)) {}
    drainmon::UniqueFd fd_;
    std::filesystem::path path_;
};

// mkdir with exactly `mode` (umask ignored), or nothing when it exists as a directory.
// Missing parents are created with 0755. Throws Failure(Outcome::state).
void make_dirs(const std::filesystem::path& dir, mode_t mode);

}  // namespace zdd
