// The snapshot as an aligned table for people (drain-inspector snapshot and watch).
#pragma once

#include <array>
#include <cstdio>
#include <memory>
#include <ostream>
#include <string>

#include "monitor/socket_sample.hpp"

namespace drainmon {

// Ports first, then one row per socket; a warning line first when the counts are incomplete.
std::string render_snapshot_table(const Snapshot& snap);

// The same table from sockets streamed one by one (Backend::walk), for any number of them:
// rows are kept as compact text, in memory up to a small buffer and in an unlinked temp file
// beyond it, so memory does not grow with the socket count. The output is byte for byte
// render_snapshot_table's: the columns are as wide as their widest cell, and the ports
// (known only once the walk is over) come first.
class SnapshotTableStream {
  public:
    static constexpr size_t kColumns = 13;

    SnapshotTableStream();
    ~SnapshotTableStream();
    SnapshotTableStream(const SnapshotTableStream&) = delete;
    SnapshotTableStream& operator=(const SnapshotTableStream&) = delete;

    void add(const SocketSample& s);
    // Writes the whole table: `summary`'s flags and ports, then the rows added (and any
    // sockets `summary` itself holds).
    void finish(const Snapshot& summary, std::ostream& out);

  private:
    void spill();
    void write_row(std::ostream& out, const std::string& row) const;

    std::array<size_t, kColumns> width_{};
    size_t rows_ = 0;
    std::string buffer_;  // rows not yet spilled: cells separated by \t, rows ended by \n
    struct FileCloser {
        void operator()(std::FILE* f) const { std::fclose(f); }
    };
    std::unique_ptr<std::FILE, FileCloser> spill_;
};

}  // namespace drainmon
