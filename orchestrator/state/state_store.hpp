// Deploy state on disk: state.json in the state dir (schema: docs/state-schema.md), the seed's
// status file holding the active color word, and the lock that allows one deploy at a time.
// Every write is atomic, so a `kill -9` at any point leaves the last complete state.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/color.hpp"
#include "common/unique_fd.hpp"
#include "state/state_repository.hpp"

namespace zdd {

struct StateError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// Another zdd holds the deploy lock.
struct LockBusy : StateError {
    LockBusy(const std::string& msg, pid_t holder) : StateError(msg), holder_pid(holder) {}
    pid_t holder_pid;  // 0 if unknown
};

// The steps of a deploy, in order (issue 5).
enum class Phase { starting, health_check, shifting, removing_old, draining, stopping, done };
std::string to_string(Phase p);
std::optional<Phase> parse_phase(const std::string& s);

struct InstanceRecord {
    uint16_t port = 0;
    pid_t pid = 0;                  // 0 = not running / unknown (e.g. systemd runner)
    uint64_t pid_start_time = 0;    // /proc/<pid>/stat field 22; guards against pid reuse
    std::string release;            // path of the release binary
    std::string version;            // as reported by /health, may be empty
    double started_at = 0;          // unix seconds
    std::vector<std::string> args;  // its arguments (after `--`), so a rollback restarts it alike
};

struct PhaseStamp {
    Phase phase;
    double at;  // unix seconds
};

struct DeployRecord {
    Color to = Color::blue;          // the color being deployed
    std::optional<Color> from;       // the color it replaces (none on a first deploy)
    std::vector<PhaseStamp> phases;  // in the order entered
    std::optional<Phase> phase() const {
        if (phases.empty()) return std::nullopt;
        return phases.back().phase;
    }
};

struct State {
    std::optional<Color> active;
    std::map<Color, InstanceRecord> instances;  // per color, when known
    std::optional<DeployRecord> deploy;  // the current or last deploy (phase done = finished)
    std::optional<Color> draining;       // the color whose drain is in progress or interrupted
    std::string last_error;              // one line, empty when the last operation succeeded
    double updated_at = 0;               // unix seconds, set by save()

    // Appends (phase, now) to deploy->phases; creates the deploy record if needed.
    void enter_phase(Phase p);
};

double unix_now();

class StateStore : public StateRepository {
  public:
    explicit StateStore(std::filesystem::path state_dir) : dir_(std::move(state_dir)) {}

    const std::filesystem::path& dir() const override { return dir_; }
    std::filesystem::path state_file() const override { return dir_ / "state.json"; }

    // Empty State when there is no state file yet. Throws StateError ("state file X is
    // corrupt: ...") on unreadable, non-JSON or wrongly typed content.
    State load() const override;
    // Creates the state dir if needed, sets updated_at, writes atomically.
    void save(State& s) const override;
    // DeployLock::acquire(dir()).
    std::unique_ptr<HeldLock> lock() const override;

  private:
    std::filesystem::path dir_;
};

// JSON form of a state (the same schema state.json uses). from_json throws StateError.
std::string state_to_json(const State& s);
State state_from_json(const std::string& text, const std::string& origin);

// The seed's status file: one word, "blue" or "green", and a newline.
void write_status_file(const std::filesystem::path& path, Color c);
// nullopt when the file is missing; StateError when it holds anything but a color word.
std::optional<Color> read_status_file(const std::filesystem::path& path);

// flock(LOCK_EX) on <state dir>/deploy.lock, held for the object's lifetime. The holder's pid
// is written into the file so a refused deploy can name it.
class DeployLock : public HeldLock {
  public:
    // Throws LockBusy: "another zdd (pid N) holds the deploy lock <path>".
    static DeployLock acquire(const std::filesystem::path& state_dir);
    const std::filesystem::path& path() const { return path_; }

  private:
    DeployLock(drainmon::UniqueFd fd, std::filesystem::path p)
        : fd_(std::move(fd)), path_(std::move(p)) {}
    drainmon::UniqueFd fd_;
    std::filesystem::path path_;
};

}  // namespace zdd
