// state.json as found on disk after anything (zdd::state_from_json): a State, or StateError
// with one line. A state that loads must save and load again to the same JSON.
#include <cstddef>
#include <cstdint>
#include <string>

#include "fuzz_check.hpp"
#include "state/state_store.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string text(reinterpret_cast<const char*>(data), size);
    zdd::State s;
    try {
        s = zdd::state_from_json(text, "fuzz input");
    } catch (const zdd::StateError& e) {
        zdd_fuzz::require_one_line(e.what());
        return 0;
    }
    const std::string saved = zdd::state_to_json(s);
    try {
        if (zdd::state_to_json(zdd::state_from_json(saved, "saved state")) != saved)
            zdd_fuzz::broken("state does not round-trip:", saved);
    } catch (const zdd::StateError& e) {
        zdd_fuzz::broken("a saved state does not load:", e.what());
    }
    return 0;
}
