#include "libcontainer/mount.hpp"

#include <fcntl.h>
#include <limits.h>
#include <linux/magic.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <optional>

#include "base/eintr.hpp"
#include "base/error.hpp"
#include "base/fd.hpp"
#include "base/safepath.hpp"
#include "libcontainer/cgroupmount.hpp"
#include "libcontainer/copytree.hpp"
#include "selinux/selinux.hpp"

namespace crunner {

namespace {

// MS_* flags that change a mount's attributes (what a bind remount must carry).
constexpr unsigned long kAttrFlags = MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_SYNCHRONOUS |
                                     MS_MANDLOCK | MS_DIRSYNC | MS_NOATIME | MS_NODIRATIME |
                                     MS_RELATIME | MS_STRICTATIME | MS_NOSYMFOLLOW | MS_LAZYTIME;
constexpr unsigned long kAtimeFlags = MS_NOATIME | MS_RELATIME | MS_STRICTATIME;

int do_mount(const char* src, int fd, const char* type, unsigned long flags, const char* data) {
  std::string target = proc_fd_path(fd);
  return CR_RETRY(::mount(src, target.c_str(), type, flags, data));
}

// The mount's current flags from statvfs, as MS_* values (ST_* share them).
unsigned long current_flags(int fd) {
  struct statvfs sv;
  if (fstatvfs(fd, &sv) < 0) return 0;
  return sv.f_flag &
         (MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_NOATIME | MS_NODIRATIME | MS_RELATIME);
}

// Resolves the destination for a filesystem that must sit on a real directory
// (proc, sysfs): its last component may not be a symlink.
Result<UniqueFd> plain_dir_target(int rootfd, const std::string& dest, const std::string& what) {
  auto parent = resolve_parent_in_root(rootfd, dest, Create::Dir);
  if (!parent) return std::move(parent.error().context(what));
  int dfd = parent->dir.get();
  const char* name = parent->name.c_str();
  struct stat st;
  if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
    if (errno != ENOENT) return sys_error(what + ": stat destination");
    if (mkdirat(dfd, name, 0755) < 0 && errno != EEXIST) return sys_error(what + ": mkdir");
    if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) return sys_error(what + ": stat");
  }
  if (S_ISLNK(st.st_mode))
    return make_error(ErrorKind::InvalidSpec,
                      what +
                          ": destination is a symlink: filesystem must be mounted on ordinary "
                          "directory");  // runc's words, which callers match
  if (!S_ISDIR(st.st_mode))
    return sys_error(what +
                         ": destination is not a directory: filesystem must be mounted on "
                         "ordinary directory",
                     ENOTDIR);
  int fd = openat(dfd, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return sys_error(what + ": open destination");
  return UniqueFd(fd);
}

// After a mount, fds taken before it still point under it: reopen the
// destination to reach the new mount's root.
Result<UniqueFd> reopen(int rootfd, const std::string& dest, const std::string& what) {
  auto r = resolve_in_root(rootfd, dest);
  if (!r) return std::move(r.error().context(what + ": reopen after mount"));
  return r;
}

Status post_mount(int rootfd, const std::string& dest, const MountOptions& o,
                  const std::string& what) {
  if (o.propagation.empty() && !o.has_rec_attrs()) return {};
  CR_ASSIGN(UniqueFd fd, reopen(rootfd, dest, what));
  CR_TRY(apply_propagation(fd.get(), o, what));
  CR_TRY(apply_rec_attrs(fd.get(), o, what));
  return {};
}

Status bind_entry(int rootfd, const spec::Mount& m, const MountOptions& o, const MountContext& ctx,
                  const std::string& what) {
  std::string dest = mount_destination(m);
  std::string src = bind_source(m, ctx.bundle);
  int tree = -1;  // a detached copy of the source made by the parent (open_tree)
  if (ctx.source_fds) {
    auto it = ctx.source_fds->find(src + "\n" + dest);
    if (it != ctx.source_fds->end()) tree = it->second;
  }
  struct stat st;
  if ((tree >= 0 ? fstat(tree, &st) : stat(src.c_str(), &st)) < 0)
    return sys_error(what + ": stat source `" + src + "`");
  auto target = resolve_in_root(rootfd, dest, S_ISDIR(st.st_mode) ? Create::Dir : Create::File);
  if (!target) return std::move(target.error().context(what));
  std::string resolved = path_in_root(target->get(), ctx.rootfs);
  if (auto c = check_proc_mount(resolved.empty() ? dest : resolved, src); !c)
    return std::move(c.error().context(what));
  if (tree >= 0) {
    if (move_mount(tree, "", target->get(), "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) <
        0)
      return sys_error(what + ": attach source tree");
  } else if (do_mount(src.c_str(), target->get(), "", MS_BIND | (o.flags & MS_REC), nullptr) < 0) {
    return sys_error(what);
  }
  unsigned long attrs = o.flags & kAttrFlags;
  if (attrs != 0 || (o.flags & MS_REMOUNT)) {
    CR_ASSIGN(UniqueFd fd, reopen(rootfd, dest, what));
    CR_TRY(remount_bind(fd.get(), attrs, what));
  }
  return post_mount(rootfd, dest, o, what);
}

}  // namespace

std::string bind_source(const spec::Mount& m, const std::string& bundle) {
  if (!m.source.empty() && m.source[0] == '/') return m.source;
  return bundle + "/" + m.source;
}

std::string mount_destination(const spec::Mount& m) {
  return clean_path("/" + m.destination);
}

bool is_bind_mount(const spec::Mount& m) {
  if (m.type == "bind") return true;
  for (const std::string& o : m.options)
    if (o == "bind" || o == "rbind") return true;
  return false;
}

std::string path_in_root(int fd, const std::string& rootfs) {
  char buf[PATH_MAX];
  ssize_t n = readlink(proc_fd_path(fd).c_str(), buf, sizeof buf - 1);
  if (n < 0) return "";
  std::string p(buf, static_cast<size_t>(n));
  if (rootfs == "/") return p;
  if (p == rootfs) return "/";
  if (p.size() > rootfs.size() && p.compare(0, rootfs.size(), rootfs) == 0 &&
      p[rootfs.size()] == '/')
    return p.substr(rootfs.size());
  return "";
}

Status check_proc_mount(const std::string& resolved, const std::string& source) {
  if (resolved != "/proc" && resolved.rfind("/proc/", 0) != 0) return {};
  if (resolved == "/proc") {
    struct statfs sf;
    if (source.empty() || (statfs(source.c_str(), &sf) == 0 && sf.f_type == PROC_SUPER_MAGIC))
      return {};
    return make_error(ErrorKind::InvalidSpec,
                      "`/proc` cannot be mounted because the source is not of type proc");
  }
  static const char* const kValid[] = {"/proc/cpuinfo", "/proc/diskstats",
                                       "/proc/meminfo", "/proc/stat",
                                       "/proc/swaps",   "/proc/uptime",
                                       "/proc/loadavg", "/proc/slabinfo",
                                       "/proc/net/dev", "/proc/sys/kernel/ns_last_pid"};
  for (const char* v : kValid)
    if (resolved == v) return {};
  return make_error(ErrorKind::InvalidSpec,
                    "`" + resolved + "` cannot be mounted because it is inside /proc");
}

Status bind_fd(int src, int dst, bool recursive, uint64_t attr_set, const std::string& what) {
  unsigned rec = recursive ? AT_RECURSIVE : 0;
  int tree = open_tree(src, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH | rec);
  if (tree < 0) return sys_error(what + ": open_tree");
  UniqueFd guard(tree);
  if (attr_set != 0) {
    struct mount_attr attr = {};
    attr.attr_set = attr_set;
    if (mount_setattr(tree, "", AT_EMPTY_PATH | rec, &attr, sizeof attr) < 0)
      return sys_error(what + ": mount_setattr");
  }
  if (move_mount(tree, "", dst, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
    return sys_error(what + ": move_mount");
  return {};
}

Status tmpfs_fd(int dst, bool ro, const std::string& what) {
  int fs = fsopen("tmpfs", FSOPEN_CLOEXEC);
  if (fs < 0) return sys_error(what + ": fsopen tmpfs");
  UniqueFd fs_guard(fs);
  if (fsconfig(fs, FSCONFIG_CMD_CREATE, nullptr, nullptr, 0) < 0)
    return sys_error(what + ": create tmpfs");
  int mnt = fsmount(fs, FSMOUNT_CLOEXEC, ro ? MOUNT_ATTR_RDONLY : 0);
  if (mnt < 0) return sys_error(what + ": fsmount");
  UniqueFd mnt_guard(mnt);
  if (move_mount(mnt, "", dst, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
    return sys_error(what + ": move_mount");
  return {};
}

Status remount_bind(int fd, unsigned long flags, const std::string& what) {
  unsigned long base = MS_REMOUNT | MS_BIND | (flags & kAttrFlags);
  if (do_mount("", fd, "", base, nullptr) == 0) return {};
  if (errno != EPERM) return sys_error(what + ": remount");
  // Keep what the kernel locked on the source mount; an explicit atime choice stays.
  unsigned long cur = current_flags(fd);
  if (flags & kAtimeFlags) cur &= ~(kAtimeFlags | MS_NODIRATIME);
  if (do_mount("", fd, "", base | cur, nullptr) < 0) return sys_error(what + ": remount");
  return {};
}

Status apply_rec_attrs(int fd, const MountOptions& o, const std::string& what) {
  if (!o.has_rec_attrs()) return {};
  struct mount_attr attr = {};
  attr.attr_set = o.attr_set;
  attr.attr_clr = o.attr_clr;
  if (mount_setattr(fd, "", AT_EMPTY_PATH | AT_RECURSIVE, &attr, sizeof attr) < 0) {
    if (errno == ENOSYS)
      return make_error(ErrorKind::Unsupported,
                        what + ": recursive mount options need mount_setattr (linux 5.12+)");
    return sys_error(what + ": mount_setattr");
  }
  return {};
}

Status apply_propagation(int fd, const MountOptions& o, const std::string& what) {
  for (unsigned long p : o.propagation)
    if (do_mount("", fd, "", p, nullptr) < 0) return sys_error(what + ": set propagation");
  return {};
}

Status mount_entry(int rootfd, const spec::Mount& m, const MountContext& ctx) {
  std::string what = "mount `" + m.source + "` to `" + m.destination + "`";
  MountOptions o = parse_mount_options(m.options);
  if (m.type == "bind") o.flags |= MS_BIND;
  if (o.is_bind()) return bind_entry(rootfd, m, o, ctx, what);
  std::string dest = mount_destination(m);
  if (m.type == "cgroup") {
    CR_TRY(mount_cgroup(rootfd, m, o, ctx, what));
    return post_mount(rootfd, dest, o, what);
  }

  bool tmpfs = m.type == "tmpfs";
  // runc: a tmpfs over an existing directory takes that directory's mode.
  std::optional<mode_t> old_mode;
  if (tmpfs) {
    if (auto old = resolve_in_root(rootfd, dest); old) {
      struct stat st;
      if (fstat(old->get(), &st) == 0 && S_ISDIR(st.st_mode)) old_mode = st.st_mode & 07777;
    }
  }
  UniqueFd target;
  if (m.type == "proc" || m.type == "sysfs") {
    CR_ASSIGN(target, plain_dir_target(rootfd, dest, what));
  } else {
    auto r = resolve_in_root(rootfd, dest, Create::Dir);
    if (!r) return std::move(r.error().context(what));
    target = std::move(*r);
  }
  unsigned long flags = o.flags;
  // /dev is filled with device nodes after the mounts; runc mounts it rw and
  // makes it read-only at the end (finalize_rootfs). A tmpfs is made read-only
  // after its chmod and copy-up.
  bool ro_later = tmpfs && dest != "/dev" && (flags & MS_RDONLY);
  if (dest == "/dev" || tmpfs) flags &= ~MS_RDONLY;
  UniqueFd covered;  // tmpcopyup: the directory the tmpfs is about to cover
  if (o.tmpcopyup && tmpfs) {
    int fd = open(proc_fd_path(target.get()).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return sys_error(what + ": open for tmpcopyup");
    covered.reset(fd);
  }
  std::string label_data = selinux::mount_takes_label(m.type)
                               ? selinux::format_mount_label(o.data, ctx.mount_label)
                               : o.data;
  const char* data = label_data.empty() ? nullptr : label_data.c_str();
  if (do_mount(m.source.c_str(), target.get(), m.type.c_str(), flags, data) < 0) {
    int err = errno;
    if (!(m.type == "sysfs" && err == EPERM)) return sys_error(what, err);
    // No network namespace of our own in a user namespace: runc binds the host's /sys.
    if (do_mount("/sys", target.get(), "", MS_BIND | MS_REC, nullptr) < 0)
      return sys_error(what + ": bind /sys after sysfs was refused (" + errno_text(err) + ")");
    CR_ASSIGN(UniqueFd fd, reopen(rootfd, dest, what));
    CR_TRY(remount_bind(fd.get(), flags, what));
    // The host's submounts of /sys came along: they get ro/nosuid/nodev/noexec too.
    MountOptions sub;
    if (flags & MS_RDONLY) sub.attr_set |= MOUNT_ATTR_RDONLY;
    if (flags & MS_NOSUID) sub.attr_set |= MOUNT_ATTR_NOSUID;
    if (flags & MS_NODEV) sub.attr_set |= MOUNT_ATTR_NODEV;
    if (flags & MS_NOEXEC) sub.attr_set |= MOUNT_ATTR_NOEXEC;
    CR_TRY(apply_rec_attrs(fd.get(), sub, what));
  }
  if (m.type == "mqueue" && !ctx.mount_label.empty()) {
    CR_ASSIGN(UniqueFd fd, reopen(rootfd, dest, what));
    CR_TRY_CTX(selinux::set_file_label(fd.get(), ctx.mount_label), what);
  }
  if (tmpfs && (covered || old_mode || ro_later)) {
    CR_ASSIGN(UniqueFd fd, reopen(rootfd, dest, what));
    if (covered) CR_TRY_CTX(copy_tree(covered.get(), fd.get()), what + ": tmpcopyup");
    if (old_mode && chmod(proc_fd_path(fd.get()).c_str(), *old_mode) < 0)
      return sys_error(what + ": chmod");
    if (ro_later &&
        do_mount("", fd.get(), "", MS_REMOUNT | MS_RDONLY | (flags & kAttrFlags), nullptr) < 0)
      return sys_error(what + ": remount read-only");
  }
  return post_mount(rootfd, dest, o, what);
}

}  // namespace crunner
