// The held canary (--shift-hold): step 3's weights stay for that long while zdd watches the
// new color every second: its process, its /health, and the probe through nginx. The first
// failure ends the hold; the deploy then puts the old color back alone and drains the new one.
#pragma once

#include <string>

#include "core/color.hpp"
#include "flow/deploy_context.hpp"

namespace zdd {

// "" when `to` stayed good for `seconds` (or an interrupt ended the hold early: the caller
// checks), else one line saying what failed first.
std::string hold_canary(Context& ctx, Color to, double seconds);

}  // namespace zdd
