// Releases: each deployed binary is copied into <state>/releases/<UTC time>-<sha256[:12]>/ so a
// rollback still works after the original file moves. <state>/<color> is a symlink to the
// binary that color runs (systemd units exec it).
#pragma once

#include <cstddef>
#include <filesystem>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/color.hpp"

namespace zdd {

struct ReleaseError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

struct Release {
    std::filesystem::path dir;     // <state>/releases/<id>
    std::filesystem::path binary;  // dir / <original file name>, mode 0755
    std::string id;                // <YYYYmmddTHHMMSS.mmmZ>-<sha256 prefix>
    std::string sha256;            // full hex digest
};

std::string sha256_file(const std::filesystem::path& p);  // hex; throws ReleaseError

class ReleaseStore {
  public:
    explicit ReleaseStore(std::filesystem::path state_dir) : state_(std::move(state_dir)) {}

    std::filesystem::path releases_dir() const { return state_ / "releases"; }

    // Copies `binary` (must be a regular executable file) into a new release, atomically
    // (a temp dir renamed into place). Throws ReleaseError with a one-line reason.
    Release add(const std::filesystem::path& binary) const;

    // Release dirs, oldest first (ids sort by time).
    std::vector<std::filesystem::path> list() const;

    // Keeps the newest `keep` releases and removes older ones, except those in `protect`
    // (release dirs or binaries inside them: the active and previous colors' releases).
    // Returns the removed dirs.
    std::vector<std::filesystem::path> prune(std::size_t keep,
                                             const std::set<std::filesystem::path>& protect) const;

    // Points <state>/<color> at `binary` (atomic symlink swap). Returns the link path.
    std::filesystem::path link_color(Color c, const std::filesystem::path& binary) const;
    std::filesystem::path color_link(Color c) const { return state_ / to_string(c); }

  private:
    std::filesystem::path state_;
};

}  // namespace zdd
