#include "libcontainer/selfexe.hpp"

#include <errno.h>
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "base/fd.hpp"

namespace crunner {

namespace {

bool in_ranges(const std::vector<spec::IdMapping>& m, uint32_t id) {
  for (auto& r : m)
    if (id >= r.host_id && id - r.host_id < r.size) return true;
  return false;
}

}  // namespace

void reexec_from_readonly_mount(char** argv, char** envp) {
  struct statvfs sv;
  if (statvfs("/proc/self/exe", &sv) < 0 || (sv.f_flag & ST_RDONLY)) return;
  int tree = open_tree(AT_FDCWD, "/proc/self/exe", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
  if (tree < 0) return;
  UniqueFd guard(tree);
  struct mount_attr attr = {};
  attr.attr_set = MOUNT_ATTR_RDONLY;
  if (mount_setattr(tree, "", AT_EMPTY_PATH, &attr, sizeof attr) < 0) return;
  // The detached mount lives on as long as the new image's exe refers to it.
  syscall(SYS_execveat, tree, "", argv, envp, AT_EMPTY_PATH);
}

bool self_exe_writable_by(const std::vector<spec::IdMapping>& uids,
                          const std::vector<spec::IdMapping>& gids) {
  int fd = ::open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return true;
  UniqueFd guard(fd);
  struct statvfs sv;
  if (fstatvfs(fd, &sv) == 0 && (sv.f_flag & ST_RDONLY)) return false;
  struct stat st;
  if (fstat(fd, &st) < 0) return true;
  if (in_ranges(uids, st.st_uid)) return true;
  if ((st.st_mode & S_IWGRP) && in_ranges(gids, st.st_gid)) return true;
  if (st.st_mode & S_IWOTH) return true;
  // An ACL may name any user or group; its mask shows in the group bits, but not which ids.
  return fgetxattr(fd, "system.posix_acl_access", nullptr, 0) >= 0 || errno == ERANGE;
}

}  // namespace crunner
