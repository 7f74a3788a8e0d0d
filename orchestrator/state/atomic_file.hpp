// Whole-file reads and crash-safe writes: every file zdd owns (upstream, state.json, status)
// is replaced atomically so a reader or a crash never sees half of it.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

namespace zdd {

struct FileError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// The file's content, or nullopt when it does not exist. Throws FileError on any other failure
// or when the file is larger than max_bytes (hostile or wrong file).
std::optional<std::string> read_file_if_exists(const std::filesystem::path& path,
                                               std::size_t max_bytes = 16u << 20);

// Write to a temp file in the same directory, fsync, rename over `path`, fsync the directory.
// The new file keeps the mode of the file it replaces, else gets `mode`. Throws FileError.
void write_file_atomic(const std::filesystem::path& path, std::string_view content,
                       mode_t mode = 0644);
// The same for a secret: the new file is 0600 whatever mode the one it replaces had (never a
// chmod by path afterwards, which a symlink swapped in between would redirect).
void write_private_file_atomic(const std::filesystem::path& path, std::string_view content);

// The same, for the file `name` directly inside the directory open as `dirfd`, never following
// a symlink (O_NOFOLLOW): a symlink planted there is an error, not a redirection. `shown` is
// the path used in messages.
std::optional<std::string> read_file_at(int dirfd, const std::string& name,
                                        const std::filesystem::path& shown,
                                        std::size_t max_bytes = 16u << 20);
void write_file_atomic_at(int dirfd, const std::string& name, const std::filesystem::path& shown,
                          std::string_view content, mode_t mode = 0644);

}  // namespace zdd
