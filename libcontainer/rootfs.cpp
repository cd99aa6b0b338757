// TEMPORARY minimal rootfs setup (replaced by the rootfs branch).
#include "libcontainer/rootfs.hpp"

#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <map>

#include "libcontainer/utils.hpp"

namespace crunner {

namespace {
struct Opt {
  bool clear;
  unsigned long flag;
};
const std::map<std::string, Opt>& opts() {
  static const std::map<std::string, Opt> m = {
      {"ro", {false, MS_RDONLY}},
      {"rw", {true, MS_RDONLY}},
      {"nosuid", {false, MS_NOSUID}},
      {"suid", {true, MS_NOSUID}},
      {"nodev", {false, MS_NODEV}},
      {"dev", {true, MS_NODEV}},
      {"noexec", {false, MS_NOEXEC}},
      {"exec", {true, MS_NOEXEC}},
      {"bind", {false, MS_BIND}},
      {"rbind", {false, MS_BIND | MS_REC}},
      {"relatime", {false, MS_RELATIME}},
      {"noatime", {false, MS_NOATIME}},
      {"strictatime", {false, MS_STRICTATIME}},
      {"sync", {false, MS_SYNCHRONOUS}},
  };
  return m;
}
}  // namespace

std::vector<std::string> known_mount_options() {
  std::vector<std::string> v;
  for (auto& [k, _] : opts()) v.push_back(k);
  return v;
}

Status prepare_rootfs(const RootfsConfig& c) {
  if (mount(nullptr, "/", nullptr, MS_REC | MS_SLAVE, nullptr) < 0)
    return sys_error("make / rslave");
  if (mount(c.rootfs.c_str(), c.rootfs.c_str(), nullptr, MS_BIND | MS_REC, nullptr) < 0)
    return sys_error("bind rootfs `" + c.rootfs + "`");
  for (auto& m : c.spec->mounts) {
    unsigned long flags = 0;
    std::string data;
    for (auto& o : m.options) {
      auto it = opts().find(o);
      if (it == opts().end()) {
        data += (data.empty() ? "" : ",") + o;
        continue;
      }
      if (it->second.clear)
        flags &= ~it->second.flag;
      else
        flags |= it->second.flag;
    }
    std::string dest = c.rootfs + m.destination;
    std::string src = m.source;
    if (m.type == "bind") flags |= MS_BIND;
    if ((flags & MS_BIND) && !src.empty() && src[0] != '/') src = c.bundle + "/" + src;
    struct stat st;
    if ((flags & MS_BIND) && stat(src.c_str(), &st) == 0 && !S_ISDIR(st.st_mode)) {
      (void)mkdir_p(dest.substr(0, dest.rfind('/')));
      int fd = ::open(dest.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
      if (fd >= 0) ::close(fd);
    } else {
      (void)mkdir_p(dest);
    }
    if (mount(src.c_str(), dest.c_str(), m.type.c_str(), flags & ~MS_RDONLY,
              data.empty() ? nullptr : data.c_str()) < 0) {
      if (!(m.type == "cgroup" || m.type == "sysfs"))
        return sys_error("mount `" + m.source + "` to `" + m.destination + "`");
    }
    if (flags & MS_RDONLY) {
      if (mount(nullptr, dest.c_str(), nullptr,
                MS_REMOUNT | MS_BIND | MS_RDONLY | (flags & (MS_NOSUID | MS_NODEV | MS_NOEXEC)),
                nullptr) < 0 &&
          m.type != "cgroup")
        return sys_error("remount `" + m.destination + "` read-only");
    }
  }
  for (const char* d : {"null", "zero", "full", "random", "urandom", "tty"}) {
    std::string dst = c.rootfs + "/dev/" + d;
    int fd = ::open(dst.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0666);
    if (fd >= 0) ::close(fd);
    if (mount((std::string("/dev/") + d).c_str(), dst.c_str(), nullptr, MS_BIND, nullptr) < 0)
      return sys_error(std::string("bind /dev/") + d);
  }
  (void)!symlink("pts/ptmx", (c.rootfs + "/dev/ptmx").c_str());
  (void)!symlink("/proc/self/fd", (c.rootfs + "/dev/fd").c_str());
  return {};
}

Status finalize_rootfs(const RootfsConfig& c) {
  if (chdir(c.rootfs.c_str()) < 0) return sys_error("chdir rootfs");
  if (syscall(SYS_pivot_root, ".", ".") < 0) return sys_error("pivot_root");
  if (umount2(".", MNT_DETACH) < 0) return sys_error("detach old root");
  if (chdir("/") < 0) return sys_error("chdir /");
  const auto& l = c.spec->linux_or_empty();
  for (auto& p : l.masked_paths) {
    struct stat st;
    if (stat(p.c_str(), &st) < 0) continue;
    if (S_ISDIR(st.st_mode))
      mount("tmpfs", p.c_str(), "tmpfs", MS_RDONLY, nullptr);
    else
      mount("/dev/null", p.c_str(), nullptr, MS_BIND, nullptr);
  }
  for (auto& p : l.readonly_paths) {
    if (mount(p.c_str(), p.c_str(), nullptr, MS_BIND | MS_REC, nullptr) < 0) continue;
    mount(nullptr, p.c_str(), nullptr, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_REC, nullptr);
  }
  if (c.spec->root.readonly &&
      mount(nullptr, "/", nullptr, MS_REMOUNT | MS_BIND | MS_RDONLY, nullptr) < 0)
    return sys_error("remount / read-only");
  return {};
}

}  // namespace crunner
