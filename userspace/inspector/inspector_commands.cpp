#include "inspector/inspector_commands.hpp"

#include <cmath>
#include <iostream>
#include <limits>

#include <spdlog/spdlog.h>

#include "monitor/bpf_backend.hpp"
#include "monitor/listening_ports.hpp"
#include "render/prometheus_text.hpp"
#include "render/snapshot_json.hpp"
#include "render/snapshot_table.hpp"

namespace drainmon::inspector {

namespace {

uint32_t to_ms(double seconds) {
    double ms = std::round(seconds * 1000.0);
    if (ms >= std::numeric_limits<uint32_t>::max()) return std::numeric_limits<uint32_t>::max();
    return ms <= 0 ? 0 : static_cast<uint32_t>(ms);
}

}  // namespace

BackendOptions backend_options(const CommonOptions& o) {
    BackendOptions b;
    b.thresholds = {to_ms(o.idle_after_s), to_ms(o.push_gap_s), to_ms(o.stuck_after_s)};
    if (o.max_sockets > 0) b.max_sockets = o.max_sockets;
    return b;
}

std::unique_ptr<Backend> open_backend(const CommonOptions& o, bool one_shot) {
    BackendKind kind;
    try {
        kind = parse_backend_kind(o.backend);
    } catch (const std::invalid_argument& e) {
        throw UsageError(e.what());
    }
    if (one_shot && kind != BackendKind::SockDiag) {
        // A monitor left resident by `serve` (or a deploy's drain) answers without loading
        // programs: counts from its maps, one walk over its marks.
        try {
            if (auto resident = BpfBackend::open_resident(backend_options(o))) return resident;
        } catch (const BackendError& e) {
            spdlog::debug("no resident monitor: {}", e.what());
        }
    }
    std::string note;
    auto backend = make_backend(kind, backend_options(o), &note);
    if (!note.empty()) spdlog::warn("{}", note);
    return backend;
}

void stay_resident(Backend& backend) {
    auto* bpf = dynamic_cast<BpfBackend*>(&backend);
    if (!bpf) return;
    try {
        if (!bpf->pin())
            spdlog::info("another process's monitor is resident in this namespace; not pinning");
    } catch (const BackendError& e) {
        spdlog::warn("not resident (one-shot commands load their own monitor): {}", e.what());
    }
}

std::vector<uint16_t> ports_to_report(const CommonOptions& o) {
    return o.ports.empty() ? listening_ports() : o.ports;
}

int run_snapshot(const SnapshotOptions& o) {
    auto backend = open_backend(o.common, true);
    const auto ports = ports_to_report(o.common);
    // Streamed: each socket is written (or spooled, for the table) as the walk gives it.
    Snapshot summary;
    if (o.json) {
        SnapshotJsonStream json(std::cout, backend->name());
        backend->walk(ports, rows_to(json), summary);
        summary.walks = backend->walks();
        json.finish(summary);
    } else {
        SnapshotTableStream table;
        backend->walk(ports, rows_to(table), summary);
        summary.backend = backend->name();
        table.finish(summary, std::cout);
        std::cout << std::flush;
    }
    return kExitOk;
}

int run_metrics(const MetricsOptions& o) {
    auto backend = open_backend(o.common, true);
    Snapshot snap = backend->snapshot(ports_to_report(o.common));
    snap.walks = backend->walks();
    std::string text = render_prometheus(snap);
    if (o.textfile_dir.empty()) {
        std::cout << text << std::flush;
        return kExitOk;
    }
    try {
        write_textfile_atomic(o.textfile_dir, "drain_inspector.prom", text);
    } catch (const TextfileError& e) {
        throw UsageError(e.what());
    }
    return kExitOk;
}

}  // namespace drainmon::inspector
