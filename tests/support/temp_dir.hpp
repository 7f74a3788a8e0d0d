// A temporary directory of this run (mkdtemp under $TMPDIR), removed with everything in it on
// destruction. Every test that writes files writes them here: no fixed paths, so nothing a
// previous run left can satisfy a later one.
#pragma once

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>

namespace zdd_test {

class TempDir {
  public:
    explicit TempDir(const std::string& tag = "zdd-test") {
        std::string t = (std::filesystem::temp_directory_path() / (tag + "-XXXXXX")).string();
        if (!::mkdtemp(t.data())) throw std::runtime_error("mkdtemp failed for " + t);
        path_ = t;
    }
    ~TempDir() {
        std::error_code ec;
        std::filesystem::remove_all(path_, ec);
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;

    const std::filesystem::path& path() const { return path_; }
    std::filesystem::path operator/(const std::string& name) const { return path_ / name; }
    std::string file(const std::string& name) const { return (path_ / name).string(); }
    // Writes name with content and permission bits `mode`; returns its path.
    std::string write(const std::string& name, const std::string& content,
                      std::filesystem::perms mode = std::filesystem::perms::owner_read |
                                                    std::filesystem::perms::owner_write) const {
        const std::string p = file(name);
        {
            std::ofstream f(p, std::ios::binary | std::ios::trunc);
            f << content;
            if (!f) throw std::runtime_error("cannot write " + p);
        }
        std::filesystem::permissions(p, mode);
        return p;
    }

  private:
    std::filesystem::path path_;
};

inline void write_text(const std::filesystem::path& p, const std::string& text,
                       mode_t mode = 0644) {
    {
        std::ofstream f(p, std::ios::binary | std::ios::trunc);
        f << text;
        if (!f) throw std::runtime_error("cannot write " + p.string());
    }
    ::chmod(p.c_str(), mode);
}

inline std::string read_text(const std::filesystem::path& p) {
    std::ifstream f(p, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(f), {});
}
inline std::string read_file(const std::filesystem::path& p) {
    return read_text(p);
}

}  // namespace zdd_test
