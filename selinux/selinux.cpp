#include "selinux/selinux.hpp"

#include <fcntl.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "base/eintr.hpp"
#include "base/fd.hpp"
#include "base/file.hpp"

namespace crunner::selinux {

bool is_enabled(const std::string& sys_root) {
  return path_exists(sys_root + "/fs/selinux/enforce");
}

Status check_label(const std::string& field, const std::string& label,
                   const std::string& sys_root) {
  if (label.empty() || is_enabled(sys_root)) return {};
  return make_error(ErrorKind::Unsupported,
                    field + " `" + label + "`: SELinux is not enabled on this host");
}

Status apply_exec_label(const std::string& label, const std::string& proc_root,
                        const std::string& sys_root) {
  if (label.empty()) return {};
  CR_TRY(check_label("process.selinuxLabel", label, sys_root));
  std::string path = proc_root + "/thread-self/attr/exec";
  std::string ctx = "apply SELinux label `" + label + "`: write `" + path + "`";
  int fd = CR_RETRY(open(path.c_str(), O_WRONLY | O_CLOEXEC));
  if (fd < 0) return sys_error(ctx);
  UniqueFd guard(fd);
  ssize_t n = CR_RETRY(write(fd, label.data(), label.size()));
  if (n < 0) return sys_error(ctx);
  if (static_cast<size_t>(n) != label.size())
    return make_error(ErrorKind::Syscall, ctx + ": short write");
  return {};
}

std::string format_mount_label(const std::string& data, const std::string& label) {
  if (label.empty()) return data;
  std::string opt = "context=\"" + label + "\"";
  return data.empty() ? opt : data + "," + opt;
}

bool mount_takes_label(const std::string& type) {
  return type != "bind" && type != "proc" && type != "sysfs" && type != "cgroup" &&
         type != "cgroup2" && type != "mqueue";
}

Status set_file_label(int fd, const std::string& label) {
  if (label.empty()) return {};
  std::string p = "/proc/self/fd/" + std::to_string(fd);
  if (setxattr(p.c_str(), "security.selinux", label.c_str(), label.size() + 1, 0) < 0)
    return sys_error("set SELinux label `" + label + "`");
  return {};
}

}  // namespace crunner::selinux
