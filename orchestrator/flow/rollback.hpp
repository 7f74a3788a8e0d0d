// `zdd rollback`: traffic back to the previous color (restarting its recorded release if it
// has stopped), health-checked, then the failed color drained and stopped. When the last
// deploy never took traffic, its leftover instance is stopped and nginx is not touched.
#pragma once

#include <ostream>

#include "core/config.hpp"

namespace zdd {

int run_rollback(const Config& cfg, std::ostream& err);

}  // namespace zdd
