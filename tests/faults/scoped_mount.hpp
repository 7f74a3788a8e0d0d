// A mount made by a test and undone on destruction: a small tmpfs (a disk that fills up), or a
// read-only bind of a directory onto itself (a state dir root cannot write to).
#pragma once

#include <cstdint>
#include <filesystem>

namespace zdd_fault {

class ScopedMount {
  public:
    static ScopedMount tmpfs(const std::filesystem::path& at, uint64_t size_bytes);
    static ScopedMount read_only_bind(const std::filesystem::path& dir);
    ~ScopedMount();
    ScopedMount(ScopedMount&& o) noexcept;
    ScopedMount(const ScopedMount&) = delete;
    ScopedMount& operator=(const ScopedMount&) = delete;
    ScopedMount& operator=(ScopedMount&&) = delete;

  private:
    explicit ScopedMount(std::filesystem::path at) : at_(std::move(at)) {}
    std::filesystem::path at_;
};

// Fills the filesystem holding dir until writes fail with ENOSPC (bounded by its size).
void fill_filesystem(const std::filesystem::path& dir);

}  // namespace zdd_fault
