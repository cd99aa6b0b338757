#include "image/overlay.hpp"

#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/eintr.hpp"
#include "base/file.hpp"
#include "base/text.hpp"
#include "image/idmap.hpp"

namespace crunner::image {

std::vector<std::string> overlay_options(const OverlaySpec& s) {
  return {"lowerdir=" + join(s.lowers, ":"), "upperdir=" + s.upper, "workdir=" + s.work};
}

Status mount_overlay(const OverlaySpec& s) {
  for (const auto& p : s.lowers)
    if (p.find_first_of(",:\\") != std::string::npos)
      return invalid_spec("mount overlay: layer path `" + p + "` contains `,`, `:` or `\\`");
  std::string data = join(overlay_options(s), ",");
  if (data.size() >= 4000)
    return invalid_spec("mount overlay on `" + s.target + "`: " + std::to_string(s.lowers.size()) +
                        " layers make the mount options longer than a page");
  if (mount("overlay", s.target.c_str(), "overlay", 0, data.c_str()) < 0)
    return sys_error("mount overlay on `" + s.target + "`");
  return {};
}

Status unmount_overlay(const std::string& target) {
  if (umount2(target.c_str(), UMOUNT_NOFOLLOW) < 0) {
    if (errno == EINVAL || errno == ENOENT) return {};
    if (errno == EBUSY) {
      if (umount2(target.c_str(), MNT_DETACH | UMOUNT_NOFOLLOW) == 0) return {};
    }
    return sys_error("unmount `" + target + "`");
  }
  return {};
}

}  // namespace crunner::image

namespace crunner::image {

Result<UniqueFd> userns_with(const IdMap& map) {
  int pipefd[2];
  if (pipe2(pipefd, O_CLOEXEC) < 0) return sys_error("create a pipe for the idmap user namespace");
  UniqueFd rd(pipefd[0]), wr(pipefd[1]);
  pid_t pid = fork();
  if (pid < 0) return sys_error("fork for the idmap user namespace");
  if (pid == 0) {
    // Child: new user namespace, then wait (for the parent's maps and open) until the pipe closes.
    wr.reset();
    if (unshare(CLONE_NEWUSER) < 0) _exit(1);
    char c;
    (void)!read(rd.get(), &c, 1);
    _exit(0);
  }
  rd.reset();
  auto reap = [&] {
    wr.reset();
    int st;
    CR_RETRY(waitpid(pid, &st, 0));
  };
  // Wait until the child has unshared (its user ns differs from ours).
  std::string self = "/proc/self/ns/user", child = "/proc/" + std::to_string(pid) + "/ns/user";
  struct stat a, b;
  for (int i = 0; i < 2000; i++) {
    if (stat(self.c_str(), &a) == 0 && stat(child.c_str(), &b) == 0 && a.st_ino != b.st_ino) break;
    usleep(500);
  }
  auto write_map = [&](const char* file, const std::vector<IdRange>& m) -> Status {
    std::string s;
    for (const auto& r : m)
      s += std::to_string(r.container) + " " + std::to_string(r.host) + " " +
           std::to_string(r.size) + "\n";
    return write_file("/proc/" + std::to_string(pid) + "/" + file, s);
  };
  Status st = write_map("uid_map", map.uids);
  if (st.ok()) st = write_file("/proc/" + std::to_string(pid) + "/setgroups", "deny");
  if (st.ok()) st = write_map("gid_map", map.gids);
  if (!st.ok()) {
    reap();
    return std::move(st).error().context("write the idmap user namespace's maps");
  }
  auto fd = open_path(child, O_RDONLY);
  reap();
  return fd;
}

bool idmapped_mounts_work(const std::string& dir, int userns_fd) {
  int tree = open_tree(AT_FDCWD, dir.c_str(), OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
  if (tree < 0) return false;
  UniqueFd guard(tree);
  struct mount_attr attr = {};
  attr.attr_set = MOUNT_ATTR_IDMAP;
  attr.userns_fd = static_cast<uint64_t>(userns_fd);
  return mount_setattr(tree, "", AT_EMPTY_PATH, &attr, sizeof attr) == 0;
}

Status idmapped_bind(const std::string& src, const std::string& dst, int userns_fd) {
  int tree = open_tree(AT_FDCWD, src.c_str(), OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
  if (tree < 0) return sys_error("open_tree `" + src + "`");
  UniqueFd guard(tree);
  struct mount_attr attr = {};
  attr.attr_set = MOUNT_ATTR_IDMAP | MOUNT_ATTR_RDONLY;
  attr.userns_fd = static_cast<uint64_t>(userns_fd);
  if (mount_setattr(tree, "", AT_EMPTY_PATH, &attr, sizeof attr) < 0)
    return sys_error("idmap mount of `" + src + "`");
  if (move_mount(tree, "", AT_FDCWD, dst.c_str(), MOVE_MOUNT_F_EMPTY_PATH) < 0)
    return sys_error("move the idmapped mount of `" + src + "` to `" + dst + "`");
  return {};
}

}  // namespace crunner::image
