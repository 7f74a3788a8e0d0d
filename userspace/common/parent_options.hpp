// Options accepted before the subcommand too (`zdd --config F deploy`, `drain-inspector
// --backend sock_diag snapshot`): the same option is registered on the app and on each
// subcommand (so each subcommand's --help lists it); after parsing, what the app got is handed
// to the subcommand that runs. One given after the subcommand wins.
#pragma once

#include <CLI/CLI.hpp>

namespace drainmon {

// `shared(option)` says which of the app's options are handed down (not --help, --version).
template <typename Shared>
void take_parent_options(const CLI::App& parent, CLI::App& sub, Shared shared) {
    for (const CLI::Option* po : parent.get_options()) {
        if (po->count() == 0 || !shared(*po)) continue;
        CLI::Option* so = sub.get_option_no_throw(po->get_name());
        if (!so || so->count() > 0) continue;
        so->add_result(po->results());
        so->run_callback();
    }
}

}  // namespace drainmon
