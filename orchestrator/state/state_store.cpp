#include "state/state_store.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstring>
#include <nlohmann/json.hpp>

#include "core/message_text.hpp"
#include "state/atomic_file.hpp"
#include "state/state_dir.hpp"

namespace zdd {

using nlohmann::json;

static constexpr int kSchema = 1;
static constexpr const char* kPhaseNames[] = {
    "starting", "health_check", "shifting", "removing_old", "draining", "stopping", "done"};

std::string to_string(Phase p) {
    return kPhaseNames[static_cast<int>(p)];
}

std::optional<Phase> parse_phase(const std::string& s) {
    for (int i = 0; i < 7; ++i)
        if (s == kPhaseNames[i]) return static_cast<Phase>(i);
    return std::nullopt;
}

double unix_now() {
    using namespace std::chrono;
    return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count() / 1000.0;
}

void State::enter_phase(Phase p) {
    if (!deploy) deploy = DeployRecord{};
    deploy->phases.push_back({p, unix_now()});
}

namespace {

json color_json(const std::optional<Color>& c) {
    return c ? json(to_string(*c)) : json(nullptr);
}

std::optional<Color> color_from(const json& j, const char* key) {
    if (!j.contains(key) || j.at(key).is_null()) return std::nullopt;
    auto c = parse_color(j.at(key).get<std::string>());
    if (!c) throw StateError(std::string("'") + key + "' is not blue or green");
    return c;
}

}  // namespace

std::string state_to_json(const State& s) {
    json j;
    j["schema"] = kSchema;
    j["active"] = color_json(s.active);
    j["draining"] = color_json(s.draining);
    json colors = json::object();
    for (const auto& [c, r] : s.instances) {
        colors[to_string(c)] = {
            {"port", r.port},       {"pid", r.pid},         {"pid_start_time", r.pid_start_time},
            {"release", r.release}, {"version", r.version}, {"started_at", r.started_at},
            {"args", r.args}};
    }
    j["colors"] = colors;
    if (s.deploy) {
        json phases = json::array();
        for (const auto& p : s.deploy->phases)
            phases.push_back({{"phase", to_string(p.phase)}, {"at", p.at}});
        auto cur = s.deploy->phase();
        j["deploy"] = {{"to", to_string(s.deploy->to)},
                       {"from", color_json(s.deploy->from)},
                       {"phase", cur ? json(to_string(*cur)) : json(nullptr)},
                       {"phases", phases}};
    } else {
        j["deploy"] = nullptr;
    }
    j["last_error"] = s.last_error;
    j["updated_at"] = s.updated_at;
    return j.dump(2) + "\n";
}

State state_from_json(const std::string& text, const std::string& origin) {
    auto corrupt = [&](const std::string& why) {
        // Not "see zdd status": status reads the same file and fails the same way.
        return StateError("state file " + origin + " is corrupt: " + printable(why) +
                          " (repair it, or move it aside with `mv " + origin + " " + origin +
                          ".corrupt`: the next `zdd deploy` then adopts the color the status "
                          "file names; `cat` the status file to see which color serves)");
    };
    // Integers are checked for type and range before conversion: a cast of 1e300 to int is
    // undefined behaviour, and a garbage pid must never reach a signal.
    auto int_field = [&](const json& o, const char* key, int64_t lo, int64_t hi,
                         std::optional<int64_t> dflt) -> int64_t {
        auto it = o.find(key);
        if (it == o.end() || it->is_null()) {
            if (dflt) return *dflt;
            throw corrupt(std::string("\"") + key + "\" is missing");
        }
        bool in_range = false;
        int64_t v = 0;
        if (it->is_number_unsigned()) {
            uint64_t u = it->get<uint64_t>();
            in_range = u <= static_cast<uint64_t>(hi);
            v = static_cast<int64_t>(u);
        } else if (it->is_number_integer()) {
            v = it->get<int64_t>();
            in_range = v >= lo && v <= hi;
        } else {
            throw corrupt(std::string("\"") + key + "\" is not an integer");
        }
        if (!in_range) throw corrupt(std::string("\"") + key + "\" is out of range");
        return v;
    };
    try {
        json j = json::parse(text);
        if (!j.is_object()) throw corrupt("not a JSON object");
        int schema = static_cast<int>(int_field(j, "schema", 0, 1 << 30, std::nullopt));
        if (schema != kSchema)
            throw corrupt("schema " + std::to_string(schema) + " is not " +
                          std::to_string(kSchema));
        State s;
        s.active = color_from(j, "active");
        s.draining = color_from(j, "draining");
        if (j.contains("colors")) {
            for (const auto& [name, r] : j.at("colors").items()) {
                auto c = parse_color(name);
                if (!c) throw corrupt("color '" + name + "' is not blue or green");
                InstanceRecord rec;
                rec.port = static_cast<uint16_t>(int_field(r, "port", 0, 65535, std::nullopt));
                rec.pid = static_cast<pid_t>(int_field(r, "pid", 0, INT32_MAX, 0));
                rec.pid_start_time =
                    static_cast<uint64_t>(int_field(r, "pid_start_time", 0, INT64_MAX, 0));
                rec.release = r.value("release", std::string());
                rec.args = r.value("args", std::vector<std::string>());
                rec.version = r.value("version", std::string());
                rec.started_at = r.value("started_at", 0.0);
                s.instances[*c] = rec;
            }
        }
        if (j.contains("deploy") && !j.at("deploy").is_null()) {
            const auto& d = j.at("deploy");
            DeployRecord rec;
            auto to = color_from(d, "to");
            if (!to) throw corrupt("deploy.to is missing");
            rec.to = *to;
            rec.from = color_from(d, "from");
            for (const auto& p : d.at("phases")) {
                auto ph = parse_phase(p.at("phase").get<std::string>());
                if (!ph) throw corrupt("unknown phase '" + p.at("phase").get<std::string>() + "'");
                rec.phases.push_back({*ph, p.at("at").get<double>()});
            }
            s.deploy = rec;
        }
        s.last_error = j.value("last_error", std::string());
        s.updated_at = j.value("updated_at", 0.0);
        return s;
    } catch (const json::exception& e) {
        // nlohmann's messages are one line: "[json.exception.parse_error.101] ..."
        throw corrupt(e.what());
    } catch (const StateError& e) {
        if (std::string(e.what()).rfind("state file ", 0) == 0) throw;
        throw corrupt(e.what());
    }
}

State StateStore::load() const {
    auto sd = StateDir::open_existing(dir_);  // the check, on every run
    if (!sd) return State{};
    std::optional<std::string> text;
    try {
        text = read_file_at(sd->fd(), "state.json", state_file());
    } catch (const FileError& e) {
        throw StateError(e.what());
    }
    if (!text) return State{};
    return state_from_json(*text, state_file().string());
}

void StateStore::save(State& s) const {
    StateDir sd = StateDir::open(dir_);
    s.updated_at = unix_now();
    try {
        write_file_atomic_at(sd.fd(), "state.json", state_file(), state_to_json(s), 0644);
    } catch (const FileError& e) {
        throw StateError(e.what());
    }
}

void write_status_file(const std::filesystem::path& path, Color c) {
    try {
        write_file_atomic(path, to_string(c) + "\n", 0644);
    } catch (const FileError& e) {
        throw StateError(e.what());
    }
}

std::optional<Color> read_status_file(const std::filesystem::path& path) {
    std::optional<std::string> text;
    try {
        text = read_file_if_exists(path, 4096);
    } catch (const FileError& e) {
        throw StateError(e.what());
    }
    if (!text) return std::nullopt;
    std::string w = *text;
    w.erase(0, w.find_first_not_of(" \t\r\n"));
    w.erase(w.find_last_not_of(" \t\r\n") + 1);
    auto c = parse_color(w);
    if (!c) throw StateError("status file " + path.string() + " does not hold blue or green");
    return c;
}

std::unique_ptr<HeldLock> StateStore::lock() const {
    return std::make_unique<DeployLock>(DeployLock::acquire(dir_));
}

DeployLock DeployLock::acquire(const std::filesystem::path& state_dir) {
    StateDir sd = StateDir::open(state_dir);
    auto path = state_dir / "deploy.lock";
    // CLOEXEC: instances started by this zdd must never inherit (and so hold) the lock.
    // NOFOLLOW: a planted symlink must not make zdd write its pid into another file.
    drainmon::UniqueFd fd(
        ::openat(sd.fd(), "deploy.lock", O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644));
    if (!fd) throw StateError("cannot open " + path.string() + ": " + std::strerror(errno));
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode))
        throw StateError(path.string() + " is not a regular file");
    if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
        if (errno != EWOULDBLOCK)
            throw StateError("cannot lock " + path.string() + ": " + std::strerror(errno));
        pid_t holder = 0;
        char buf[32] = {};
        ssize_t n = ::pread(fd.get(), buf, sizeof buf - 1, 0);
        if (n > 0) std::from_chars(buf, buf + n, holder);
        throw LockBusy("another zdd " +
                           (holder > 0 ? "(pid " + std::to_string(holder) + ") " : std::string()) +
                           "holds the deploy lock " + path.string() + "; wait for it to finish",
                       holder);
    }
    const std::string me = std::to_string(::getpid()) + "\n";
    if (::ftruncate(fd.get(), 0) != 0 ||
        ::pwrite(fd.get(), me.data(), me.size(), 0) != static_cast<ssize_t>(me.size()))
        throw StateError("cannot write " + path.string() + ": " + std::strerror(errno));
    return DeployLock(std::move(fd), path);
}

}  // namespace zdd
