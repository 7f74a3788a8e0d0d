#include "common/logging.hpp"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <iostream>

namespace drainmon::logging {

namespace {

// %* : the level as the original script spelled it.
class UpperLevel : public spdlog::custom_flag_formatter {
  public:
    void format(const spdlog::details::log_msg& m, const std::tm&,
                spdlog::memory_buf_t& dest) override {
        // spdlog's level order: trace, debug, info, warn, err, critical.
        static constexpr std::string_view kNames[] = {"TRACE", "DEBUG", "INFO",
                                                      "WARN",  "ERROR", "CRITICAL"};
        const auto i = static_cast<size_t>(m.level);
        const std::string_view name = i < std::size(kNames) ? kNames[i] : "LOG";
        dest.append(name.data(), name.data() + name.size());
    }
    std::unique_ptr<spdlog::custom_flag_formatter> clone() const override {
        return std::make_unique<UpperLevel>();
    }
};

}  // namespace

spdlog::level::level_enum level_for(Verbosity v) {
    switch (v) {
        case Verbosity::quiet:
            return spdlog::level::warn;
        case Verbosity::verbose:
            return spdlog::level::debug;
        case Verbosity::normal:
            break;
    }
    return spdlog::level::info;
}

std::unique_ptr<spdlog::formatter> house_formatter() {
    auto f = std::make_unique<spdlog::pattern_formatter>();
    f->add_flag<UpperLevel>('*').set_pattern("[%*] %v");
    return f;
}

void setup(Verbosity v) {
    // std::cerr, not the C stream: the flows' own lines go to std::cerr too, in order.
    auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(std::cerr, true);
    auto logger = std::make_shared<spdlog::logger>("", std::move(sink));
    logger->set_formatter(house_formatter());
    logger->set_level(level_for(v));
    logger->flush_on(spdlog::level::trace);
    spdlog::set_default_logger(std::move(logger));
}

bool shows(spdlog::level::level_enum level) {
    return spdlog::default_logger_raw()->should_log(level);
}

void write(std::ostream& out, spdlog::level::level_enum level, std::string_view msg) {
    if (!shows(level)) return;
    // A logger per line: `out` may be a test's stream that lives shorter than any cache.
    spdlog::logger line("", std::make_shared<spdlog::sinks::ostream_sink_st>(out, true));
    line.set_formatter(house_formatter());
    line.set_level(spdlog::level::trace);
    line.log(level, msg);
}

}  // namespace drainmon::logging
