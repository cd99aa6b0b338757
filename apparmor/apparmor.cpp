#include "apparmor/apparmor.hpp"

#include <fcntl.h>
#include <unistd.h>

#include "libcontainer/fd.hpp"
#include "libcontainer/utils.hpp"

namespace crunner::apparmor {

bool is_enabled(const std::string& sys_root) {
  auto r = read_file(sys_root + "/module/apparmor/parameters/enabled");
  return r.ok() && !r->empty() && (*r)[0] == 'Y';
}

Status check_profile(const std::string& profile, const std::string& sys_root) {
  if (profile.empty() || is_enabled(sys_root)) return {};
  return make_error(ErrorKind::Unsupported, "apparmor profile \"" + profile +
                                                "\" requested but AppArmor is not enabled on "
                                                "this host");
}

Status apply_exec_profile(const std::string& profile, const std::string& proc_root,
                          const std::string& sys_root) {
  if (profile.empty()) return {};
  CR_TRY(check_profile(profile, sys_root));
  std::string path = proc_root + "/thread-self/attr/apparmor/exec";
  int fd = CR_RETRY(open(path.c_str(), O_WRONLY | O_CLOEXEC));
  if (fd < 0 && errno == ENOENT) {
    // Kernels before 5.8 have only the shared (first LSM's) attribute file.
    path = proc_root + "/self/attr/exec";
    fd = CR_RETRY(open(path.c_str(), O_WRONLY | O_CLOEXEC));
  }
  std::string ctx = "apply apparmor profile \"" + profile + "\": write `" + path + "`";
  if (fd < 0) return sys_error(ctx);
  UniqueFd guard(fd);
  std::string cmd = "exec " + profile;
  // One write(): the LSM parses the whole command from a single buffer.
  ssize_t n = CR_RETRY(write(fd, cmd.data(), cmd.size()));
  if (n < 0) return sys_error(ctx);
  if (static_cast<size_t>(n) != cmd.size())
    return make_error(ErrorKind::Syscall, ctx + ": short write");
  return {};
}

}  // namespace crunner::apparmor
