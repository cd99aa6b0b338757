#include "libcontainer/rootfs.hpp"

#include <fcntl.h>
#include <limits.h>
#include <linux/magic.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>

#include "base/eintr.hpp"
#include "base/error.hpp"
#include "base/fd.hpp"
#include "base/mountinfo.hpp"
#include "base/safepath.hpp"
#include "libcontainer/devices.hpp"
#include "libcontainer/mount.hpp"

namespace crunner {

namespace {

constexpr unsigned long kKeepFlags = MS_NOSUID | MS_NODEV | MS_NOEXEC;

int mount_fd(const char* src, int fd, const char* type, unsigned long flags, const char* data) {
  std::string target = proc_fd_path(fd);
  return CR_RETRY(::mount(src, target.c_str(), type, flags, data));
}

bool under(const std::string& path, const std::string& dir) {
  if (dir == "/") return true;
  return path == dir || (path.size() > dir.size() && path.compare(0, dir.size(), dir) == 0 &&
                         path[dir.size()] == '/');
}

Result<unsigned long> root_propagation(const spec::Spec& s) {
  const std::string& p = s.linux_or_empty().rootfs_propagation;
  if (p.empty()) return 0UL;
  auto f = propagation_flag(p);
  if (!f) return invalid_spec("linux.rootfsPropagation: unknown propagation \"" + p + "\"");
  return *f;
}

// Bind mount of /dev in the spec: the host's devices are used as they are.
bool dev_is_bind(const spec::Spec& s) {
  for (const spec::Mount& m : s.mounts)
    if (mount_destination(m) == "/dev" && is_bind_mount(m)) return true;
  return false;
}

Status make_parent_private(const std::string& rootfs) {
  CR_ASSIGN(std::vector<MountInfo> mounts, read_mountinfo());
  const MountInfo* mi = find_mount_of(mounts, rootfs);
  if (!mi || mi->optional.find("shared:") == std::string::npos) return {};
  if (mount("", mi->mountpoint.c_str(), "", MS_PRIVATE, nullptr) < 0)
    return sys_error("make `" + mi->mountpoint + "` private");
  return {};
}

Status pivot_to(const std::string& rootfs) {
  int old_root = open("/", O_DIRECTORY | O_RDONLY | O_CLOEXEC);
  if (old_root < 0) return sys_error("open `/`");
  UniqueFd old_guard(old_root);
  int new_root = open(rootfs.c_str(), O_DIRECTORY | O_RDONLY | O_CLOEXEC);
  if (new_root < 0) return sys_error("open `" + rootfs + "`");
  UniqueFd new_guard(new_root);
  if (fchdir(new_root) < 0) return sys_error("chdir `" + rootfs + "`");
  if (syscall(SYS_pivot_root, ".", ".") < 0) return sys_error("pivot_root `" + rootfs + "`");
  // The old root is now stacked under the new one: detach it without letting the
  // unmount propagate anywhere.
  if (fchdir(old_root) < 0) return sys_error("chdir to the old root");
  if (mount("", ".", "", MS_SLAVE | MS_REC, nullptr) < 0)
    return sys_error("make the old root rslave");
  if (umount2(".", MNT_DETACH) < 0) return sys_error("unmount the old root");
  if (chdir("/") < 0) return sys_error("chdir `/`");
  return {};
}

// --no-pivot: hide the host's full proc and sysfs mounts (the kernel refuses a
// new procfs/sysfs while an unmasked one is visible), move the rootfs onto "/"
// and chroot into it.
Status move_root(const std::string& rootfs) {
  CR_ASSIGN(std::vector<MountInfo> mounts, read_mountinfo());
  for (auto it = mounts.rbegin(); it != mounts.rend(); ++it) {
    const MountInfo& mi = *it;
    if (mi.root != "/" || (mi.fstype != "proc" && mi.fstype != "sysfs")) continue;
    if (under(mi.mountpoint, rootfs) || mi.mountpoint == "/") continue;
    const char* p = mi.mountpoint.c_str();
    if (mount("", p, "", MS_SLAVE | MS_REC, nullptr) < 0) {
      if (errno == ENOENT) continue;
      return sys_error("make `" + mi.mountpoint + "` rslave");
    }
    if (umount2(p, MNT_DETACH) < 0) {
      if (errno != EINVAL && errno != EPERM) return sys_error("unmount `" + mi.mountpoint + "`");
      if (mount("tmpfs", p, "tmpfs", 0, nullptr) < 0)
        return sys_error("cover `" + mi.mountpoint + "` with a tmpfs");
    }
  }
  if (chdir(rootfs.c_str()) < 0) return sys_error("chdir `" + rootfs + "`");
  if (mount(rootfs.c_str(), "/", "", MS_MOVE, nullptr) < 0)
    return sys_error("move `" + rootfs + "` to `/`");
  if (chroot(".") < 0) return sys_error("chroot `" + rootfs + "`");
  if (chdir("/") < 0) return sys_error("chdir `/`");
  return {};
}

Status chroot_to(const std::string& rootfs) {
  if (chdir(rootfs.c_str()) < 0) return sys_error("chdir `" + rootfs + "`");
  if (chroot(".") < 0) return sys_error("chroot `" + rootfs + "`");
  if (chdir("/") < 0) return sys_error("chdir `/`");
  return {};
}

Status write_sysctls(const std::map<std::string, std::string>& sysctl) {
  for (const auto& kv : sysctl) {
    // Not a structured binding: CR_RETRY's lambda captures `value`, which clang 14 (the
    // fuzz build's compiler) does not allow for bindings.
    const std::string& key = kv.first;
    const std::string& value = kv.second;
    std::string rel = key;
    for (char& ch : rel)
      if (ch == '.') ch = '/';
    std::string where = "linux.sysctl[\"" + key + "\"]";
    if (rel.empty() || rel.find("..") != std::string::npos || rel[0] == '/')
      return invalid_spec(where + ": invalid key");
    // Written only into a real procfs file (no symlink, no bind of something else
    // over /proc: the CVE-2025-52881 redirection).
    std::string path = "/proc/sys/" + rel;
    int fd = open(path.c_str(), O_WRONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) return sys_error(where + ": open `" + path + "`");
    UniqueFd guard(fd);
    struct statfs sf;
    if (fstatfs(fd, &sf) < 0 || sf.f_type != PROC_SUPER_MAGIC)
      return make_error(ErrorKind::Permission, where + ": `" + path + "` is not on procfs");
    ssize_t n = CR_RETRY(write(fd, value.data(), value.size()));
    if (n < 0) return sys_error(where + ": write `" + value + "` to `" + path + "`");
  }
  return {};
}

Status readonly_path(int rootfd, const std::string& path) {
  auto fd = resolve_in_root(rootfd, path);
  if (!fd) {
    if (fd.error().err == ENOENT) return {};
    return std::move(fd.error());
  }
  // Every mount below too (runc only makes the top one read-only).
  auto r = bind_fd(fd->get(), fd->get(), true, MOUNT_ATTR_RDONLY, "make `" + path + "` read-only");
  if (r || r.error().err != ENOSYS) return r;
  std::string p = proc_fd_path(fd->get());
  if (mount(p.c_str(), p.c_str(), "", MS_BIND | MS_REC, nullptr) < 0)
    return sys_error("bind `" + path + "`");
  CR_ASSIGN(UniqueFd top, resolve_in_root(rootfd, path));
  struct statfs sf;
  unsigned long keep = fstatfs(top.get(), &sf) == 0 ? (sf.f_flags & kKeepFlags) : 0;
  if (mount_fd("", top.get(), "", MS_BIND | MS_REMOUNT | MS_RDONLY | keep, nullptr) < 0)
    return sys_error("remount `" + path + "` read-only");
  return {};
}

Status mask_path(int rootfd, int devnull, const std::string& path) {
  auto fd = resolve_in_root(rootfd, path);
  if (!fd) {
    if (fd.error().err == ENOENT) return {};
    return std::move(fd.error());
  }
  struct stat st;
  if (fstat(fd->get(), &st) < 0) return sys_error("stat `" + path + "`");
  if (S_ISDIR(st.st_mode)) {
    std::string what = "mask `" + path + "` with a read-only tmpfs";
    auto r = tmpfs_fd(fd->get(), true, what);
    if (r || r.error().err != ENOSYS) return r;
    if (mount_fd("tmpfs", fd->get(), "tmpfs", MS_RDONLY, nullptr) < 0) return sys_error(what);
    return {};
  }
  std::string what = "mask `" + path + "` with /dev/null";
  if (devnull < 0) return sys_error(what, ENOENT);
  auto r = bind_fd(devnull, fd->get(), false, 0, what);
  if (r || r.error().err != ENOSYS) return r;
  if (mount_fd(proc_fd_path(devnull).c_str(), fd->get(), "", MS_BIND, nullptr) < 0)
    return sys_error(what);
  return {};
}

Result<UniqueFd> open_devnull(int rootfd) {
  auto fd = resolve_in_root(rootfd, "/dev/null");
  if (!fd) return std::move(fd.error().context("open `/dev/null`"));
  struct stat st;
  if (fstat(fd->get(), &st) < 0) return sys_error("stat `/dev/null`");
  if (!S_ISCHR(st.st_mode) || major(st.st_rdev) != 1 || minor(st.st_rdev) != 3)
    return make_error(ErrorKind::InvalidSpec, "`/dev/null` is not the null device (1:3)");
  return fd;
}

Status set_root_readonly() {
  unsigned long flags = MS_BIND | MS_REMOUNT | MS_RDONLY;
  if (mount("", "/", "", flags, nullptr) == 0) return {};
  struct statfs sf;
  if (statfs("/", &sf) < 0) return sys_error("statfs `/`");
  flags |= static_cast<unsigned long>(sf.f_flags) &
           (MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_NOATIME | MS_NODIRATIME | MS_RELATIME);
  if (mount("", "/", "", flags, nullptr) < 0) return sys_error("remount `/` read-only");
  return {};
}

Result<std::string> canonical_rootfs(const std::string& path) {
  char buf[PATH_MAX];
  if (path.empty() || path[0] != '/')
    return make_error(ErrorKind::Internal, "rootfs `" + path + "` is not an absolute path");
  if (!realpath(path.c_str(), buf)) return sys_error("resolve rootfs `" + path + "`");
  return std::string(buf);
}

}  // namespace

Status prepare_rootfs(const RootfsConfig& c) {
  if (!c.spec) return make_error(ErrorKind::Internal, "prepare rootfs: no spec");
  const spec::Spec& s = *c.spec;
  CR_ASSIGN(const std::string rootfs, canonical_rootfs(c.rootfs));
  CR_ASSIGN(unsigned long prop, root_propagation(s));
  const bool host_ns = !s.linux_or_empty().has_ns(spec::NsType::Mount);
  // runc: rslave unless linux.rootfsPropagation says otherwise ("rshared" keeps the
  // host's peer groups, so binds with "rshared" propagate both ways, which is what
  // Kubernetes' Bidirectional propagation needs). The rootfs itself never propagates:
  // its parent mount is made private below. (r)unbindable would make the rootfs
  // bind impossible: rslave now, the flag on the new "/" in finalize_rootfs.
  // In the host's mount namespace (no "mount" in linux.namespaces) "/" and the rootfs's
  // parent are the host's and keep their propagation; the rootfs bind and the mounts in it
  // are made there, and delete unmounts them (release_host_mounts).
  if (!host_ns) {
    unsigned long pre = MS_SLAVE | MS_REC;
    if (prop != 0 && !(prop & MS_UNBINDABLE)) pre = prop;
    if (mount("", "/", "", pre, nullptr) < 0) return sys_error("set propagation of `/`");
    CR_TRY(make_parent_private(rootfs));
  }
  if (mount(rootfs.c_str(), rootfs.c_str(), "bind", MS_BIND | MS_REC, nullptr) < 0)
    return sys_error("bind mount rootfs `" + rootfs + "` onto itself");
  int rfd = open(rootfs.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (rfd < 0) return sys_error("open rootfs `" + rootfs + "`");
  UniqueFd rootfd(rfd);

  MountContext ctx;
  ctx.rootfs = rootfs;
  ctx.bundle = c.bundle;
  ctx.in_userns = c.in_userns;
  ctx.source_fds = &c.source_fds;
  ctx.mount_label = s.linux_or_empty().mount_label;
  ctx.cgroupns = c.cgroupns.value_or(s.linux_or_empty().has_ns(spec::NsType::Cgroup));
  for (const spec::Mount& m : s.mounts) CR_TRY(mount_entry(rootfd.get(), m, ctx));

  if (!dev_is_bind(s)) {
    CR_TRY(create_devices(rootfd.get(), s.linux_or_empty().devices, c.in_userns));
    CR_TRY_CTX(setup_dev_symlinks(rootfd.get()), "set up /dev");
    // The pty is bound on /dev/console later (mount_console), possibly after /dev
    // or / became read-only: the file it needs exists from now on.
    if (s.process && s.process->terminal) {
      auto console = resolve_in_root(rootfd.get(), "/dev/console", Create::File);
      if (!console) return std::move(console.error().context("create `/dev/console`"));
    }
  }
  return {};
}

Status finalize_rootfs(const RootfsConfig& c) {
  if (!c.spec) return make_error(ErrorKind::Internal, "finalize rootfs: no spec");
  const spec::Spec& s = *c.spec;
  const spec::Linux& lin = s.linux_or_empty();
  CR_ASSIGN(unsigned long prop, root_propagation(s));
  CR_ASSIGN(const std::string rootfs, canonical_rootfs(c.rootfs));
  if (!lin.has_ns(spec::NsType::Mount))
    CR_TRY(chroot_to(rootfs));  // the host's mount namespace: its "/" is not ours to move
  else if (c.no_pivot)
    CR_TRY(move_root(rootfs));
  else
    CR_TRY(pivot_to(rootfs));

  int rfd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (rfd < 0) return sys_error("open `/`");
  UniqueFd rootfd(rfd);

  // /dev was mounted read-write to receive the device nodes.
  for (const spec::Mount& m : s.mounts) {
    if (mount_destination(m) != "/dev" || is_bind_mount(m)) continue;
    MountOptions o = parse_mount_options(m.options);
    if (!(o.flags & MS_RDONLY)) continue;
    CR_ASSIGN(UniqueFd dev, resolve_in_root(rootfd.get(), "/dev"));
    struct mount_attr attr = {};
    attr.attr_set = MOUNT_ATTR_RDONLY;
    if (mount_setattr(dev.get(), "", AT_EMPTY_PATH, &attr, sizeof attr) == 0) continue;
    if (errno != ENOSYS) return sys_error("remount `/dev` read-only");
    if (mount_fd("", dev.get(), "", o.flags | MS_REMOUNT | MS_RDONLY, nullptr) < 0)
      return sys_error("remount `/dev` read-only");
  }

  // A process.cwd missing from the rootfs is created, as root and inside the root, before
  // anything is made read-only: runc 1.1 does (os.MkdirAll in its prepareRootfs), and
  // Kubernetes pods set workingDir to directories their image lacks.
  if (s.process && s.process->cwd != "/")
    CR_TRY_CTX(resolve_in_root(rootfd.get(), s.process->cwd, Create::Dir), "process.cwd");

  CR_TRY(write_sysctls(lin.sysctl));
  for (size_t i = 0; i < lin.readonly_paths.size(); ++i)
    CR_TRY_CTX(readonly_path(rootfd.get(), lin.readonly_paths[i]),
               "linux.readonlyPaths[" + std::to_string(i) + "]");
  if (!lin.masked_paths.empty()) {
    auto devnull = open_devnull(rootfd.get());
    int nfd = devnull ? devnull->get() : -1;
    for (size_t i = 0; i < lin.masked_paths.size(); ++i)
      CR_TRY_CTX(mask_path(rootfd.get(), nfd, lin.masked_paths[i]),
                 "linux.maskedPaths[" + std::to_string(i) + "]");
  }
  if (s.root.readonly) CR_TRY(set_root_readonly());
  // linux.rootfsPropagation "shared" also makes the container's new "/" shared
  // (a peer group of its own: the host is not in it), which runc 1.1 leaves
  // private; only "/" itself, so binds keep their own propagation. "slave"
  // cannot be given to a root that has no master (the kernel makes it private):
  // like runc, it applies before pivot_root only. (r)unbindable comes last,
  // after the masked/readonly binds.
  if ((prop & MS_SHARED) && mount("", "/", "", MS_SHARED, nullptr) < 0)
    return sys_error("set rootfs propagation `" + lin.rootfs_propagation + "` on `/`");
  if ((prop & MS_UNBINDABLE) && mount("", "/", "", prop, nullptr) < 0)
    return sys_error("set rootfs propagation `" + lin.rootfs_propagation + "` on `/`");
  return {};
}

Status mount_console(const std::string& root, int slave_fd) {
  int rfd = open(root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (rfd < 0) return sys_error("open `" + root + "`");
  UniqueFd rootfd(rfd);
  auto target = resolve_in_root(rfd, "/dev/console", Create::File);
  if (!target) return std::move(target.error().context("mount console"));
  // Only over a plain file or a device node, never a procfs/sysfs file reached
  // through a planted /dev/console symlink (the CVE-2025-52565 class).
  struct stat st;
  struct statfs sf;
  if (fstat(target->get(), &st) < 0 || fstatfs(target->get(), &sf) < 0)
    return sys_error("stat `/dev/console`");
  if ((!S_ISREG(st.st_mode) && !S_ISCHR(st.st_mode)) || sf.f_type == PROC_SUPER_MAGIC ||
      sf.f_type == SYSFS_MAGIC)
    return make_error(ErrorKind::Permission,
                      "mount console: `/dev/console` is not a plain file or device node");
  if (mount_fd(proc_fd_path(slave_fd).c_str(), target->get(), "", MS_BIND, nullptr) < 0)
    return sys_error("bind mount the console on `/dev/console`");
  return {};
}

Result<std::vector<int>> mount_ids_under(const std::string& rootfs) {
  CR_ASSIGN(std::vector<MountInfo> mounts, read_mountinfo());
  std::vector<int> ids;
  for (const MountInfo& mi : mounts)
    if (under(mi.mountpoint, rootfs)) ids.push_back(mi.id);
  return ids;
}

Status release_host_mounts(const std::string& rootfs, const std::vector<int>& keep) {
  if (rootfs.empty() || rootfs[0] != '/' || rootfs == "/")
    return make_error(ErrorKind::Internal, "release mounts: bad rootfs `" + rootfs + "`");
  CR_ASSIGN(std::vector<MountInfo> mounts, read_mountinfo());
  // A mount is listed after its parent and after what it covers: in reverse, the
  // innermost and topmost come first.
  for (auto it = mounts.rbegin(); it != mounts.rend(); ++it) {
    if (!under(it->mountpoint, rootfs) || std::find(keep.begin(), keep.end(), it->id) != keep.end())
      continue;
    if (umount2(it->mountpoint.c_str(), MNT_DETACH | UMOUNT_NOFOLLOW) < 0 && errno != EINVAL &&
        errno != ENOENT)
      return sys_error("unmount `" + it->mountpoint + "`");
  }
  return {};
}

}  // namespace crunner
