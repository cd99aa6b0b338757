#include "base/error.hpp"

#include <cctype>
#include <cstring>

namespace crunner {

std::string errno_text(int err) {
  std::string s = strerror(err);
  if (!s.empty()) s[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(s[0])));
  return s;
}

std::string Error::what() const {
  if (err == 0) return message;
  if (message.empty()) return errno_text(err);
  return message + ": " + errno_text(err);
}

}  // namespace crunner
