#include "libcontainer/selfexe.hpp"

#include <fcntl.h>
#include <sys/mount.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "libcontainer/fd.hpp"

namespace crunner {

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

}  // namespace crunner
