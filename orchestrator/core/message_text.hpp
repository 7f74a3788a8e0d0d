// Small text helpers for the one-line messages zdd prints to operators.
#pragma once

#include <string>
#include <vector>

namespace zdd {

// Control bytes as \xNN (a newline as \n): text quoted from a file stays one line.
std::string printable(const std::string& s);
// Words joined by single spaces.
std::string join_words(const std::vector<std::string>& words);
// "2.5s": a duration in seconds as nginx and the operator write it.
std::string seconds_text(double s);

}  // namespace zdd
