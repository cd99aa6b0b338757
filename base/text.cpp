#include "base/text.hpp"

#include <cerrno>
#include <cstdlib>

namespace crunner {

std::vector<std::string> split(std::string_view s, char sep) {
  std::vector<std::string> out;
  size_t i = 0;
  for (;;) {
    size_t j = s.find(sep, i);
    if (j == std::string_view::npos) {
      out.emplace_back(s.substr(i));
      return out;
    }
    out.emplace_back(s.substr(i, j - i));
    i = j + 1;
  }
}

std::string trim(std::string_view s) {
  size_t b = 0, e = s.size();
  while (b < e && (s[b] == ' ' || s[b] == '\n' || s[b] == '\t' || s[b] == '\r')) b++;
  while (e > b && (s[e - 1] == ' ' || s[e - 1] == '\n' || s[e - 1] == '\t' || s[e - 1] == '\r'))
    e--;
  return std::string(s.substr(b, e - b));
}

std::string join(const std::vector<std::string>& v, std::string_view sep) {
  std::string out;
  for (size_t i = 0; i < v.size(); i++) {
    if (i) out += sep;
    out += v[i];
  }
  return out;
}

bool parse_u64(std::string_view s, unsigned long long& out, int base) {
  if (s.empty() || s[0] == '-' || s[0] == '+' || s[0] == ' ') return false;
  std::string tmp(s);
  char* end = nullptr;
  errno = 0;
  out = strtoull(tmp.c_str(), &end, base);
  return errno == 0 && end && *end == '\0';
}

bool parse_i64(std::string_view s, long long& out) {
  if (s.empty() || s[0] == ' ') return false;
  std::string tmp(s);
  char* end = nullptr;
  errno = 0;
  out = strtoll(tmp.c_str(), &end, 10);
  return errno == 0 && end && *end == '\0';
}

}  // namespace crunner
