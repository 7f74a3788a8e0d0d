// drain-inspector watch: a live view of the ports, refreshed like top until Ctrl-C.
#include <unistd.h>

#include <chrono>
#include <ctime>
#include <iostream>

#include "inspector/inspector_commands.hpp"
#include "render/snapshot_table.hpp"
#include "inspector/stop_signals.hpp"

namespace drainmon::inspector {

int run_watch(const WatchOptions& o) {
    StopSignals stop;
    auto backend = open_backend(o.common);
    const bool tty = ::isatty(STDOUT_FILENO) == 1;
    const auto t = backend_options(o.common).thresholds;
    const int interval_ms = static_cast<int>(o.interval_s * 1000.0);

    for (int i = 0; o.iterations == 0 || i < o.iterations; ++i) {
        SnapshotTableStream table;
        Snapshot snap;
        backend->walk(ports_to_report(o.common), rows_to(table), snap);
        snap.backend = backend->name();
        std::time_t now = std::time(nullptr);
        char when[32];
        std::strftime(when, sizeof when, "%H:%M:%S", std::localtime(&now));
        // Clear and home only on a terminal; piped output gets frames one after another.
        std::cout << (tty ? "\033[H\033[2J" : (i > 0 ? "\n" : "")) << "drain-inspector watch  "
                  << when << "  backend " << snap.backend << "  idle_after " << t.idle_after_ms
                  << " ms, push_gap " << t.push_gap_ms << " ms, stuck_after " << t.stuck_after_ms
                  << " ms  (Ctrl-C quits)\n\n";
        table.finish(snap, std::cout);
        std::cout << std::flush;
        if (o.iterations != 0 && i + 1 == o.iterations) break;
        if (stop.wait(interval_ms)) break;
    }
    return kExitOk;
}

}  // namespace drainmon::inspector
