#include "libcontainer/flag_checks.hpp"

#include <fcntl.h>
#include <sys/stat.h>

#include <cerrno>

#include "base/file.hpp"

namespace crunner {

Status check_pid_file(const std::string& path, const std::string& flag) {
  if (path.empty()) return {};
  struct stat st;
  if (stat(path.c_str(), &st) < 0) {
    if (errno == ENOENT) return {};
    return sys_error(flag + " `" + path + "`");
  }
  if (!S_ISREG(st.st_mode))
    return invalid_spec(flag + " `" + path + "`: exists and is not a regular file");
  return {};
}

Status write_pid_file(const std::string& path, pid_t pid) {
  if (path.empty()) return {};
  CR_TRY_CTX(write_file_atomic(path, std::to_string(pid), 0644, Durability::Rename), "--pid-file");
  return {};
}

Status check_preserve_fds(long long n) {
  if (n < 0) return invalid_spec("--preserve-fds: must not be negative, got " + std::to_string(n));
  for (long long fd = 3; fd < 3 + n; fd++)
    if (fcntl(static_cast<int>(fd), F_GETFD) < 0)
      return invalid_spec("--preserve-fds " + std::to_string(n) + ": fd " + std::to_string(fd) +
                          " is not open");
  return {};
}

}  // namespace crunner
