// Releases: each deployed binary is copied into <state>/releases/<sha256[:16]>/<name> so a
// rollback still works after the original file moves. Content-addressed: the same binary
// deployed again reuses its release (its dir's mtime says when it was last deployed), and the
// hash and the copy are one pass over one fd. <state>/<color> is a symlink to the binary that
// color runs (systemd units exec it). Everything goes through the checked state dir
// (state_dir.hpp).
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
    std::string id;                // the first 16 hex digits of its sha256
    std::string sha256;            // full hex digest
};

std::string sha256_file(const std::filesystem::path& p);  // hex; throws ReleaseError

class ReleaseStore {
  public:
    explicit ReleaseStore(std::filesystem::path state_dir) : state_(std::move(state_dir)) {}

    std::filesystem::path releases_dir() const { return state_ / "releases"; }

    // Copies `binary` (must be a regular executable file) into its release, atomically (a temp
    // dir renamed into place), or reuses the release of the same content. Throws ReleaseError
    // with a one-line reason (Failure when the state dir is unsafe).
    Release add(const std::filesystem::path& binary) const;

    // `binary` (absolute) when it is a release in this store's releases dir (a regular file in
    // releases/<id>/); Failure(Outcome::unsafe_state_dir) when it is anywhere else (a state.json
    // edited to run another program), Failure(Outcome::release) when it is gone.
    std::filesystem::path checked_release(const std::filesystem::path& binary) const;

    // Release dirs, least recently deployed first.
    std::vector<std::filesystem::path> list() const;

    // Keeps the newest `keep` releases and removes older ones, except those in `protect`
    // (release dirs or binaries inside them: the active and previous colors' releases), and
    // the temp copies failed adds left. Returns the removed release dirs.
    std::vector<std::filesystem::path> prune(std::size_t keep,
                                             const std::set<std::filesystem::path>& protect) const;

    // Points <state>/<color> at `binary` (atomic symlink swap). Returns the link path.
    std::filesystem::path link_color(Color c, const std::filesystem::path& binary) const;
    std::filesystem::path color_link(Color c) const { return state_ / to_string(c); }

  private:
    std::filesystem::path state_;
};

}  // namespace zdd
