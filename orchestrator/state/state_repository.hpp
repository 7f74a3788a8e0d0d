// The deploy state as the flows see it: state.json loaded and saved, and the deploy lock.
// StateStore (state_store.hpp) is the host's; unit tests of the flows pass a fake.
#pragma once

#include <filesystem>
#include <memory>

namespace zdd {

struct State;

// Held while it lives (DeployLock on the host).
class HeldLock {
  public:
    virtual ~HeldLock() = default;
};

class StateRepository {
  public:
    virtual ~StateRepository() = default;
    virtual const std::filesystem::path& dir() const = 0;
    virtual std::filesystem::path state_file() const = 0;
    // Empty State when there is none yet; throws StateError when corrupt.
    virtual State load() const = 0;
    // Sets updated_at and writes; throws on failure.
    virtual void save(State& s) const = 0;
    // The deploy lock. Throws LockBusy when another zdd holds it, StateError otherwise.
    virtual std::unique_ptr<HeldLock> lock() const = 0;
};

}  // namespace zdd
