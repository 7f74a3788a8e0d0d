// The nginx upstream file zdd owns: render it, parse an existing one (possibly written by the
// original script or by hand, possibly hostile), and replace it atomically with the previous
// content kept for restore.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace zdd {

// A parse failure: one line, "line N: what", never a crash, whatever the input.
// The message is one line whatever the file held: control bytes quoted from it are escaped.
struct UpstreamParseError : std::runtime_error {
    explicit UpstreamParseError(const std::string& what);
};

struct UpstreamServer {
    std::string host;  // "127.0.0.1", "localhost", "::1" (rendered in brackets)
    uint16_t port = 0;
    int weight = 1;
    std::vector<std::string> params;  // other server parameters kept verbatim (max_fails=3, ...)
};

struct Upstream {
    std::string name;
    std::vector<UpstreamServer> servers;
    int keepalive = 0;                    // 0 = no keepalive directive
    std::vector<std::string> directives;  // other directives kept verbatim, without ';'
};

// `upstream NAME {\n    server HOST:PORT weight=W;\n ... keepalive N;\n}\n`, with a header
// comment saying zdd wrote it.
std::string render_upstream(const Upstream& u);

// Every upstream block in text (comments, quotes and other top-level directives allowed).
// Limits: 1 MiB of text, 1000 servers per block. Throws UpstreamParseError.
std::vector<Upstream> parse_upstreams(std::string_view text);
// The block named `name`; throws UpstreamParseError if absent.
Upstream parse_upstream(std::string_view text, const std::string& name);

// The upstream file on disk. write() replaces it atomically and remembers what was there
// (or that nothing was) so restore() can put it back after a failed nginx test or reload.
class UpstreamFile {
  public:
    explicit UpstreamFile(std::filesystem::path path) : path_(std::move(path)) {}

    const std::filesystem::path& path() const { return path_; }
    std::optional<std::string> read() const;  // nullopt when the file does not exist
    void write(const Upstream& u);            // throws FileError
    void write_text(const std::string& text);
    // Puts back the content seen by the last write(); removes the file if there was none.
    // No-op without a pending write.
    void restore();
    bool has_backup() const { return saved_; }

  private:
    std::filesystem::path path_;
    bool saved_ = false;
    std::optional<std::string> previous_;
};

}  // namespace zdd
