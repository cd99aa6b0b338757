#include "libcontainer/cgroupmount.hpp"

#include <fcntl.h>
#include <linux/magic.h>
#include <sys/mount.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <algorithm>

#include "base/eintr.hpp"
#include "base/file.hpp"
#include "base/mountinfo.hpp"
#include "base/safepath.hpp"
#include "base/text.hpp"

namespace crunner {

namespace {

constexpr const char* kHostCgroupRoot = "/sys/fs/cgroup";
constexpr unsigned long kTmpfsFlags = MS_NOSUID | MS_NODEV | MS_NOEXEC;
// runc 1.1 (compared on this host by the "[runc]" test): in v1/hybrid mode the
// hybrid's cgroup2 (unified) is not mounted, and the tmpfs stays read-write even
// when the cgroup mount says "ro" (the hierarchies themselves are read-only).
constexpr bool kMountHybridUnified = false;
constexpr bool kReadonlyTmpfs = false;
constexpr unsigned long kPassFlags = MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_NOATIME |
                                     MS_NODIRATIME | MS_RELATIME | MS_STRICTATIME;

int mount_on(const char* src, int fd, const char* type, unsigned long flags, const char* data) {
  std::string target = proc_fd_path(fd);
  return CR_RETRY(::mount(src, target.c_str(), type, flags, data));
}

std::vector<std::string> kernel_controllers() {
  std::vector<std::string> out;
  auto text = read_file("/proc/cgroups");
  if (!text) return out;
  for (const std::string& line : split(*text, '\n')) {
    if (line.empty() || line[0] == '#') continue;
    std::string name = line.substr(0, line.find('\t'));
    if (!name.empty()) out.push_back(name);
  }
  return out;
}

std::string host_path(const MountInfo& mi, const std::string& own) {
  std::string rel = own;
  if (mi.root != "/" && (rel == mi.root || rel.rfind(mi.root + "/", 0) == 0))
    rel = rel.substr(mi.root.size());
  if (rel.empty() || rel == "/") return mi.mountpoint;
  return mi.mountpoint + rel;
}

// One hierarchy at `sub` inside the tmpfs (or at the destination for cgroup2 hosts).
Status mount_hierarchy(int rootfd, const std::string& sub, const MountInfo& mi,
                       const std::string& select, const std::string& proc_cgroup,
                       unsigned long flags, bool fresh, const std::string& what) {
  auto target = resolve_in_root(rootfd, sub, Create::Dir);
  if (!target) return std::move(target.error().context(what));
  bool v2 = mi.fstype == "cgroup2";
  if (fresh) {
    const char* data = v2 || select.empty() ? nullptr : select.c_str();
    if (mount_on(v2 ? "cgroup2" : "cgroup", target->get(), v2 ? "cgroup2" : "cgroup", flags,
                 data) == 0)
      return {};
    if (!v2 || (errno != EPERM && errno != EBUSY))
      return sys_error(what + ": mount " + (v2 ? "cgroup2" : select) + " at `" + sub + "`");
  }
  auto own = own_cgroup_path(proc_cgroup, v2 ? "" : select);
  if (!own)
    return make_error(ErrorKind::NotFound, what + ": no cgroup of ours for `" + mi.mountpoint +
                                               "` in /proc/self/cgroup");
  std::string src = host_path(mi, *own);
  if (mount_on(src.c_str(), target->get(), "", MS_BIND | MS_REC, nullptr) < 0)
    return sys_error(what + ": bind `" + src + "` to `" + sub + "`");
  auto fd = resolve_in_root(rootfd, sub);
  if (!fd) return std::move(fd.error().context(what));
  return remount_bind(fd->get(), flags, what + ": `" + sub + "`");
}

}  // namespace

std::string cgroup_v1_select(const std::string& super_options,
                             const std::vector<std::string>& controllers) {
  std::vector<std::string> picked;
  bool named = false;
  for (const std::string& o : split(super_options, ',')) {
    if (o.rfind("name=", 0) == 0) {
      named = true;
      picked.push_back(o);
    } else if (std::find(controllers.begin(), controllers.end(), o) != controllers.end()) {
      picked.push_back(o);
    }
  }
  bool only_name = named && picked.size() == 1;
  std::string out = only_name ? "none," : "";
  return out + join(picked, ",");
}

std::optional<std::string> own_cgroup_path(const std::string& proc_self_cgroup,
                                           const std::string& select) {
  std::vector<std::string> want;
  for (const std::string& s : split(select, ','))
    if (!s.empty() && s != "none") want.push_back(s);
  std::sort(want.begin(), want.end());
  for (const std::string& line : split(proc_self_cgroup, '\n')) {
    size_t a = line.find(':');
    if (a == std::string::npos) continue;
    size_t b = line.find(':', a + 1);
    if (b == std::string::npos) continue;
    std::vector<std::string> have;
    for (const std::string& s : split(line.substr(a + 1, b - a - 1), ','))
      if (!s.empty()) have.push_back(s);
    std::sort(have.begin(), have.end());
    if (have == want && (!want.empty() || line.compare(0, a, "0") == 0)) return line.substr(b + 1);
  }
  return std::nullopt;
}

Status mount_cgroup(int rootfd, const spec::Mount& m, const MountOptions& o,
                    const MountContext& ctx, const std::string& what) {
  std::string dest = mount_destination(m);
  unsigned long flags = o.flags & kPassFlags;
  CR_ASSIGN(std::string proc_cgroup, read_file("/proc/self/cgroup"));
  CR_ASSIGN(std::vector<MountInfo> mounts, read_mountinfo());
  struct statfs sf;
  if (statfs(kHostCgroupRoot, &sf) < 0) return sys_error(what + ": statfs `/sys/fs/cgroup`");

  if (sf.f_type == CGROUP2_SUPER_MAGIC) {
    const MountInfo* mi = find_mount_of(mounts, kHostCgroupRoot);
    if (!mi) return make_error(ErrorKind::NotFound, what + ": no cgroup2 mount found");
    // runc: a fresh cgroup2 even without a cgroup namespace (the host's tree, read-only
    // by the mount's flags); the container's own cgroup bound if that is refused
    // (a user namespace without a cgroup namespace).
    CR_TRY(mount_hierarchy(rootfd, dest, *mi, "", proc_cgroup, flags, true, what));
    return {};
  }

  // v1 or hybrid: a tmpfs holding one directory per hierarchy.
  auto target = resolve_in_root(rootfd, dest, Create::Dir);
  if (!target) return std::move(target.error().context(what));
  if (mount_on("tmpfs", target->get(), "tmpfs", kTmpfsFlags, "mode=755") < 0)
    return sys_error(what + ": mount tmpfs");
  std::vector<std::string> controllers = kernel_controllers();
  std::string prefix = std::string(kHostCgroupRoot) + "/";
  for (size_t i = 0; i < mounts.size(); i++) {
    const MountInfo& mi = mounts[i];
    if (mi.fstype != "cgroup" && (mi.fstype != "cgroup2" || !kMountHybridUnified)) continue;
    if (mi.mountpoint.rfind(prefix, 0) != 0) continue;
    // A mount covered by a later one on the same mountpoint (a new /sys/fs/cgroup mounted
    // over the old one) is not what the path shows: only the topmost counts (mounting the
    // same hierarchy twice on one directory is EBUSY).
    bool covered = false;
    for (size_t j = i + 1; j < mounts.size() && !covered; j++)
      covered = mounts[j].mountpoint == mi.mountpoint;
    if (covered) continue;
    std::string name = mi.mountpoint.substr(prefix.size());
    if (name.empty() || name.find('/') != std::string::npos) continue;
    std::string select =
        mi.fstype == "cgroup" ? cgroup_v1_select(mi.super_options, controllers) : "";
    CR_TRY(mount_hierarchy(rootfd, dest + "/" + name, mi, select, proc_cgroup, flags, ctx.cgroupns,
                           what));
    if (name.find(',') != std::string::npos) {
      CR_ASSIGN(UniqueFd dir, resolve_in_root(rootfd, dest));
      for (const std::string& c : split(name, ','))
        if (symlinkat(name.c_str(), dir.get(), c.c_str()) < 0 && errno != EEXIST)
          return sys_error(what + ": symlink `" + c + "` -> `" + name + "`");
    }
  }
  if (kReadonlyTmpfs && (flags & MS_RDONLY)) {
    auto fd = resolve_in_root(rootfd, dest);
    if (!fd) return std::move(fd.error().context(what));
    if (mount_on("", fd->get(), "", MS_REMOUNT | MS_RDONLY | kTmpfsFlags, "mode=755") < 0)
      return sys_error(what + ": remount tmpfs read-only");
  }
  return {};
}

}  // namespace crunner
