#include "libcontainer/hostcheck.hpp"

#include <linux/seccomp.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <set>

#include "base/file.hpp"
#include "base/text.hpp"

namespace crunner::hostcheck {

const char* status_name(Status s) {
  switch (s) {
    case Status::Ok:
      return "ok";
    case Status::Warn:
      return "warn";
    case Status::Fail:
      return "fail";
  }
  return "?";
}

namespace {

struct Host {
  std::string root;
  bool real;
  std::string path(const std::string& p) const { return root == "/" ? p : root + p; }
  std::string read(const std::string& p) const {
    auto r = read_file(path(p));
    return r ? *r : std::string();
  }
  bool exists(const std::string& p) const { return path_exists(path(p)); }
};

struct Mount {
  std::string point, fstype, super;
};

std::vector<Mount> mounts(const Host& h) {
  std::vector<Mount> out;
  for (auto& line : split(h.read("/proc/self/mountinfo"), '\n')) {
    auto f = split(line, ' ');
    auto dash = std::find(f.begin(), f.end(), "-");
    if (f.size() < 5 || dash == f.end() || dash + 3 > f.end()) continue;
    out.push_back({f[4], *(dash + 1), *(dash + 3)});
  }
  return out;
}

// "6.1.0-13-amd64" -> {6, 1}; {0, 0} when unknown.
std::pair<int, int> kernel_version(const Host& h) {
  std::string rel = trim(h.read("/proc/sys/kernel/osrelease"));
  if (rel.empty() && h.real) {
    struct utsname u;
    if (uname(&u) == 0) rel = u.release;
  }
  int a = 0, b = 0;
  if (sscanf(rel.c_str(), "%d.%d", &a, &b) != 2) return {0, 0};
  return {a, b};
}

bool at_least(std::pair<int, int> v, int a, int b) {
  return v.first > a || (v.first == a && v.second >= b);
}

std::string kernel_text(std::pair<int, int> v) {
  return v.first ? std::to_string(v.first) + "." + std::to_string(v.second) : "unknown";
}

std::set<std::string> words(const std::string& s) {
  std::set<std::string> out;
  for (auto& w : split(s, ' '))
    for (auto& x : split(trim(w), '\n'))
      if (!trim(x).empty()) out.insert(trim(x));
  return out;
}

std::string joined(const std::set<std::string>& s) {
  return s.empty() ? "none" : join(std::vector<std::string>(s.begin(), s.end()), " ");
}

const char* const kV1Wanted[] = {"cpu",     "cpuacct", "cpuset", "memory",
                                 "devices", "freezer", "pids",   "blkio"};
const char* const kV2Wanted[] = {"cpu", "cpuset", "memory", "pids", "io"};

void check_cgroups(const Host& h, std::vector<Finding>& out, std::string* mode_out) {
  auto ms = mounts(h);
  const Mount* top = nullptr;
  const Mount* unified = nullptr;
  std::set<std::string> v1;
  for (auto& m : ms) {
    if (m.point == "/sys/fs/cgroup") top = &m;
    if (m.fstype == "cgroup2" && m.point == "/sys/fs/cgroup/unified") unified = &m;
    if (m.fstype == "cgroup" && m.point.rfind("/sys/fs/cgroup/", 0) == 0)
      for (auto& o : split(m.super, ','))
        if (o != "rw" && o != "ro" && o.rfind("name=", 0) != 0 && o.rfind("release_agent", 0))
          v1.insert(o);
  }
  Finding f{"cgroups", Status::Ok, true, "", ""};
  std::string mode;
  if (top && top->fstype == "cgroup2") {
    mode = "v2";
  } else if (!v1.empty()) {
    mode = unified ? "hybrid" : "v1";
  }
  *mode_out = mode;
  if (mode.empty()) {
    f.status = Status::Fail;
    f.detail = "no cgroup file system is mounted at /sys/fs/cgroup";
    f.fix = "mount cgroup2 at /sys/fs/cgroup (mount -t cgroup2 none /sys/fs/cgroup)";
    out.push_back(f);
    return;
  }
  if (mode == "v2") {
    auto avail = words(h.read("/sys/fs/cgroup/cgroup.controllers"));
    auto deleg = words(h.read("/sys/fs/cgroup/cgroup.subtree_control"));
    std::set<std::string> missing;
    for (auto c : kV2Wanted)
      if (!avail.count(c)) missing.insert(c);
    f.detail = "cgroup v2 (unified); controllers available: " + joined(avail) +
               "; delegated to child cgroups (subtree_control): " + joined(deleg);
    if (!missing.empty()) {
      f.status = Status::Warn;
      f.detail += "; missing: " + joined(missing);
      f.fix = "enable the missing controllers in the kernel (and their limits cannot be set)";
    } else if (deleg.size() < avail.size()) {
      f.detail += " (crunner enables the others in the ancestors it creates, as runc does)";
    }
  } else {
    std::set<std::string> missing;
    for (auto c : kV1Wanted)
      if (!v1.count(c)) missing.insert(c);
    f.detail = std::string(mode == "hybrid" ? "hybrid: cgroup v1 controllers plus cgroup2 at "
                                              "/sys/fs/cgroup/unified"
                                            : "cgroup v1") +
               "; v1 controllers mounted: " + joined(v1);
    if (mode == "hybrid") {
      auto avail = words(h.read("/sys/fs/cgroup/unified/cgroup.controllers"));
      f.detail += "; cgroup2 controllers: " + joined(avail);
    }
    if (!missing.empty()) {
      f.status = Status::Warn;
      f.detail += "; not mounted: " + joined(missing);
      f.fix =
          "mount the missing v1 controllers under /sys/fs/cgroup, or boot with "
          "systemd.unified_cgroup_hierarchy=1 for cgroup v2";
    } else {
      f.fix = mode == "hybrid" ? "crun refuses hybrid hosts; cgroup v2 "
                                 "(systemd.unified_cgroup_hierarchy=1) is what new software "
                                 "expects"
                               : "";
    }
  }
  out.push_back(f);
}

void check_namespaces(const Host& h, std::vector<Finding>& out) {
  std::vector<std::string> missing;
  for (auto n : {"mnt", "pid", "net", "ipc", "uts", "cgroup"})
    if (!h.exists(std::string("/proc/self/ns/") + n)) missing.push_back(n);
  Finding f{"namespaces", Status::Ok, true, "mount, pid, network, ipc, uts, cgroup", ""};
  if (!missing.empty()) {
    f.status = Status::Fail;
    f.detail = "missing in /proc/self/ns: " + join(missing, " ");
    f.fix = "a kernel with CONFIG_NAMESPACES and these namespaces, and /proc mounted";
  }
  if (!h.exists("/proc/self/ns/time"))
    f.detail += " (no time namespace: linux.timeOffsets cannot be used)";
  else
    f.detail += ", time";
  out.push_back(f);
}

// The caller's name, for /etc/subuid lines that name users instead of uids.
std::string user_name(const Host& h, uid_t uid) {
  for (auto& line : split(h.read("/etc/passwd"), '\n')) {
    auto f = split(line, ':');
    unsigned long long u;
    if (f.size() >= 3 && parse_u64(f[2], u) && u == uid) return f[0];
  }
  return "";
}

std::vector<std::string> ranges_of(const Host& h, const std::string& file, uid_t uid,
                                   const std::string& name) {
  std::vector<std::string> out;
  for (auto& line : split(h.read(file), '\n')) {
    auto f = split(trim(line), ':');
    if (f.size() != 3) continue;
    if (f[0] == std::to_string(uid) || (!name.empty() && f[0] == name))
      out.push_back(f[1] + "+" + f[2]);
  }
  return out;
}

void check_userns(const Host& h, uid_t uid, std::vector<Finding>& out) {
  Finding f{"user namespaces", Status::Ok, false, "", ""};
  std::string max = trim(h.read("/proc/sys/user/max_user_namespaces"));
  std::string unpriv = trim(h.read("/proc/sys/kernel/unprivileged_userns_clone"));
  if (!h.exists("/proc/self/ns/user") || max == "0") {
    f.status = Status::Warn;
    f.detail =
        max == "0" ? "disabled (user.max_user_namespaces = 0)" : "not supported by this kernel";
    f.fix = max == "0" ? "sysctl -w user.max_user_namespaces=15000" : "CONFIG_USER_NS";
    out.push_back(f);
    return;
  }
  f.detail = "available (max " + (max.empty() ? std::string("unknown") : max) + ")";
  if (unpriv == "0") {
    f.status = Status::Warn;
    f.detail += "; unprivileged users may not create them (kernel.unprivileged_userns_clone=0)";
    f.fix = "sysctl -w kernel.unprivileged_userns_clone=1 for rootless containers";
  }
  std::string name = user_name(h, uid);
  auto su = ranges_of(h, "/etc/subuid", uid, name);
  auto sg = ranges_of(h, "/etc/subgid", uid, name);
  std::string who = name.empty() ? "uid " + std::to_string(uid) : name;
  f.detail += "; subordinate ids of " + who + ": uids " +
              (su.empty() ? std::string("none") : join(su, ",")) + ", gids " +
              (sg.empty() ? std::string("none") : join(sg, ","));
  if (uid != 0 && (su.empty() || sg.empty())) {
    f.status = Status::Warn;
    f.fix = "add ranges for " + who +
            " to /etc/subuid and /etc/subgid (usermod --add-subuids "
            "100000-165535 --add-subgids 100000-165535 " +
            who + ")";
  }
  out.push_back(f);
}

void check_seccomp(const Host& h, std::pair<int, int> kv, std::vector<Finding>& out) {
  Finding f{"seccomp", Status::Ok, false, "", ""};
  std::string status = h.read("/proc/self/status");
  if (status.find("\nSeccomp:") == std::string::npos && status.rfind("Seccomp:", 0) != 0) {
    f.status = Status::Warn;
    f.detail = "not supported by this kernel: linux.seccomp cannot be used";
    f.fix = "a kernel with CONFIG_SECCOMP_FILTER";
    out.push_back(f);
    return;
  }
  auto actions = words(h.read("/proc/sys/kernel/seccomp/actions_avail"));
  bool notify = actions.count("user_notif") > 0;
  if (actions.empty() && h.real) {
    struct seccomp_notif_sizes sz = {};
    notify = syscall(SYS_seccomp, SECCOMP_GET_NOTIF_SIZES, 0, &sz) == 0;
  } else if (actions.empty()) {
    notify = at_least(kv, 5, 0);
  }
  f.detail = "filters supported; actions: " + joined(actions);
  if (!notify) {
    f.status = Status::Warn;
    f.detail += "; no user notification (SCMP_ACT_NOTIFY, listenerPath) on this kernel";
    f.fix = "kernel 5.0 or later for seccomp notify";
  } else {
    f.detail += "; notify (SCMP_ACT_NOTIFY with listenerPath) supported";
  }
  out.push_back(f);
}

void check_lsm(const Host& h, std::vector<Finding>& out) {
  std::string aa = trim(h.read("/sys/module/apparmor/parameters/enabled"));
  Finding a{"apparmor", Status::Ok, false, "", ""};
  const std::string list = "/sys/kernel/security/apparmor/profiles";
  if (aa == "Y" && h.exists(list)) {
    auto lines = split(trim(h.read(list)), '\n');
    size_t n = std::count_if(lines.begin(), lines.end(), [](auto& l) { return !l.empty(); });
    a.detail = "enabled: " + std::to_string(n) +
               " profiles loaded; process.apparmorProfile is applied, and a profile that is "
               "not loaded is refused before the container is created";
  } else if (aa == "Y") {
    a.status = Status::Warn;
    a.detail =
        "enabled: process.apparmorProfile is applied; securityfs is not mounted, so which "
        "profiles are loaded cannot be read, and a profile that is not loaded fails only when "
        "the container's process starts";
    a.fix = "mount -t securityfs securityfs /sys/kernel/security";
  } else {
    a.detail = "not enabled on this host: a config naming process.apparmorProfile fails";
    a.fix = "boot with apparmor=1 security=apparmor (and load the profiles) to use it";
  }
  out.push_back(a);
  Finding s{"selinux", Status::Ok, false, "", ""};
  if (h.exists("/sys/fs/selinux/enforce")) {
    s.detail = std::string("enabled (") +
               (trim(h.read("/sys/fs/selinux/enforce")) == "1" ? "enforcing" : "permissive") +
               "): process.selinuxLabel and linux.mountLabel are applied";
  } else {
    s.detail =
        "not enabled on this host: a config with process.selinuxLabel or "
        "linux.mountLabel fails";
  }
  out.push_back(s);
}

void check_filesystems(const Host& h, std::pair<int, int> kv, std::vector<Finding>& out) {
  std::string fs = h.read("/proc/filesystems");
  bool overlay =
      fs.find("\toverlay\n") != std::string::npos || fs.find("\toverlay") != std::string::npos;
  Finding o{"overlayfs", Status::Ok, false, "", ""};
  if (overlay) {
    o.detail =
        "available (garden-shim and crunner-image build container root file systems "
        "with it)";
  } else {
    o.status = Status::Warn;
    o.detail = "not in /proc/filesystems (the module may still load on first use)";
    o.fix = "modprobe overlay";
  }
  out.push_back(o);
  Finding i{"idmapped mounts", Status::Ok, false, "", ""};
  if (at_least(kv, 5, 12)) {
    i.detail = "kernel " + kernel_text(kv) +
               " has mount_setattr(MOUNT_ATTR_IDMAP) (5.12+; "
               "per file system: ext4, xfs, btrfs, overlayfs from 5.19, tmpfs from 6.3)";
  } else {
    i.status = Status::Warn;
    i.detail = "kernel " + kernel_text(kv) + " predates idmapped mounts (5.12)";
    i.fix = "a newer kernel; otherwise images are shifted by copying (uid-shifted copies)";
  }
  out.push_back(i);
}

void check_process_features(const Host& h, std::pair<int, int> kv, const std::string& mode,
                            std::vector<Finding>& out) {
  Finding c{"CLONE_INTO_CGROUP", Status::Ok, false, "", ""};
  bool kernel_ok = at_least(kv, 5, 7);
  if (!kernel_ok) {
    c.status = Status::Warn;
    c.detail = "kernel " + kernel_text(kv) +
               " predates clone3 CLONE_INTO_CGROUP (5.7): "
               "processes are moved into their cgroup after clone";
    c.fix = "kernel 5.7 or later";
  } else if (mode == "v1" || mode.empty()) {
    c.detail =
        "kernel supports it, but it applies to cgroup v2 only; on this v1 host every "
        "process is moved into its cgroups by writing cgroup.procs";
    c.fix = "cgroup v2 (systemd.unified_cgroup_hierarchy=1) for it";
  } else {
    c.detail =
        "used: the init and exec'd processes are cloned straight into their cgroup2 "
        "cgroup";
  }
  out.push_back(c);
  Finding p{"pidfd", Status::Ok, false, "", ""};
  bool pidfd = at_least(kv, 5, 3);
  if (h.real) {
    long fd = syscall(SYS_pidfd_open, getpid(), 0);
    pidfd = fd >= 0;
    if (fd >= 0) close(static_cast<int>(fd));
  }
  if (pidfd) {
    p.detail =
        "pidfd_open available: signals go to the container's init by pidfd, never to "
        "a reused pid";
  } else {
    p.status = Status::Warn;
    p.detail =
        "no pidfd_open: crunner falls back to kill() after checking the init's start "
        "time";
    p.fix = "kernel 5.3 or later";
  }
  out.push_back(p);
}

void check_tools(const Host& h, const std::string& criu, std::vector<Finding>& out) {
  Finding c{"criu", Status::Ok, false, "", ""};
  std::string found;
  if (criu.find('/') != std::string::npos) {
    if (h.exists(criu)) found = criu;
  } else {
    for (auto d :
         {"/usr/sbin/", "/usr/bin/", "/sbin/", "/bin/", "/usr/local/sbin/", "/usr/local/bin/"})
      if (h.exists(std::string(d) + criu)) {
        found = std::string(d) + criu;
        break;
      }
  }
  if (found.empty()) {
    c.status = Status::Warn;
    c.detail = "criu not found: checkpoint/restore cannot work";
    c.fix =
        "apt-get install criu (and run `criu check` to see whether it works on this "
        "kernel)";
  } else {
    c.detail = "criu found at " + found + " (`criu check` tells whether this kernel suits it)";
  }
  out.push_back(c);
  Finding s{"systemd", Status::Ok, false, "", ""};
  if (h.exists("/run/systemd/system")) {
    s.detail = "systemd is the init system: --systemd-cgroup can create scopes through it";
  } else {
    s.status = Status::Warn;
    s.detail =
        "systemd is not running as init (/run/systemd/system is absent): "
        "--systemd-cgroup cannot be used";
    s.fix = "use the default cgroupfs driver (no --systemd-cgroup), or boot with systemd";
  }
  out.push_back(s);
}

}  // namespace

std::vector<Finding> run(const Options& o) {
  Host h{o.root.empty() ? "/" : o.root, o.root.empty() || o.root == "/"};
  while (h.root.size() > 1 && h.root.back() == '/') h.root.pop_back();
  std::vector<Finding> out;
  auto kv = kernel_version(h);
  Finding k{"kernel", Status::Ok, true, "Linux " + kernel_text(kv), ""};
  if (!h.exists("/proc/self/mountinfo")) {
    k.status = Status::Fail;
    k.detail = "/proc is not mounted";
    k.fix = "mount -t proc proc /proc";
  } else if (kv.first && !at_least(kv, 4, 14)) {
    k.status = Status::Warn;
    k.detail += " is older than 4.14, the oldest kernel crunner is tested against";
    k.fix = "a newer kernel";
  }
  out.push_back(k);
  std::string mode;
  check_cgroups(h, out, &mode);
  check_namespaces(h, out);
  check_userns(h, o.uid, out);
  check_seccomp(h, kv, out);
  check_lsm(h, out);
  check_filesystems(h, kv, out);
  check_process_features(h, kv, mode, out);
  check_tools(h, o.criu, out);
  return out;
}

bool usable(const std::vector<Finding>& f) {
  return std::none_of(f.begin(), f.end(),
                      [](const Finding& x) { return x.required && x.status == Status::Fail; });
}

}  // namespace crunner::hostcheck
