// Picks the monitor backend: BPF where it loads, sock_diag where it cannot (and says so).
#include <stdexcept>

#include "monitor/backend.hpp"
#include "monitor/bpf_backend.hpp"
#include "monitor/sock_diag_backend.hpp"

namespace drainmon {

BackendKind parse_backend_kind(const std::string& s) {
    if (s == "auto") return BackendKind::Auto;
    if (s == "bpf") return BackendKind::Bpf;
    if (s == "sock_diag") return BackendKind::SockDiag;
    throw std::invalid_argument("unknown backend '" + s + "' (use auto, bpf or sock_diag)");
}

std::unique_ptr<Backend> make_backend(BackendKind kind, const BackendOptions& opts,
                                      std::string* note) {
    switch (kind) {
        case BackendKind::Bpf:
            return std::make_unique<BpfBackend>(opts);
        case BackendKind::SockDiag:
            return std::make_unique<SockDiagBackend>(opts);
        case BackendKind::Auto:
            break;
    }
    try {
        return std::make_unique<BpfBackend>(opts);
    } catch (const BackendError& e) {
        if (note) {
            // BpfBackend's messages may already say "BPF unavailable: ": say it once.
            std::string why = e.what();
            const std::string prefix = "BPF unavailable: ";
            if (why.rfind(prefix, 0) == 0) why.erase(0, prefix.size());
            *note = "BPF unavailable (" + why + "); using sock_diag";
        }
        return std::make_unique<SockDiagBackend>(opts);
    }
}

}  // namespace drainmon
