// Text and number parsing: split, trim, join, and integers that refuse garbage.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace crunner {

std::vector<std::string> split(std::string_view s, char sep);
std::string trim(std::string_view s);
std::string join(const std::vector<std::string>& v, std::string_view sep);
// Parses an unsigned decimal/hex integer; false on garbage or overflow.
bool parse_u64(std::string_view s, unsigned long long& out, int base = 10);
bool parse_i64(std::string_view s, long long& out);

}  // namespace crunner
