// A fake StateRepository: the state in memory, every save kept (the transitions a test
// asserts), and a lock that can be made busy.
#pragma once

#include <vector>

#include "state/state_store.hpp"

namespace zdd_fake {

class FakeStateStore : public zdd::StateRepository {
  public:
    explicit FakeStateStore(std::filesystem::path dir) : dir_(std::move(dir)) {}

    mutable zdd::State current;             // what load() returns; save() replaces it
    mutable std::vector<zdd::State> saves;  // every save, in order
    bool lock_busy = false;                 // lock() throws LockBusy
    mutable int locks_taken = 0;
    mutable int locks_held = 0;

    const std::filesystem::path& dir() const override { return dir_; }
    std::filesystem::path state_file() const override { return dir_ / "state.json"; }
    zdd::State load() const override { return current; }
    void save(zdd::State& s) const override {
        s.updated_at = zdd::unix_now();
        current = s;
        saves.push_back(s);
    }
    std::unique_ptr<zdd::HeldLock> lock() const override {
        if (lock_busy) throw zdd::LockBusy("another zdd (pid 0) holds the deploy lock (fake)", 0);
        ++locks_taken;
        return std::make_unique<Held>(locks_held);
    }

  private:
    struct Held : zdd::HeldLock {
        explicit Held(int& n) : n_(n) { ++n_; }
        ~Held() override { --n_; }
        int& n_;
    };
    std::filesystem::path dir_;
};

}  // namespace zdd_fake
