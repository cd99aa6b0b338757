#include "garden/bundle/bundle.hpp"

#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "garden/image/plugin.hpp"
#include "libcontainer/fd.hpp"
#include "libcontainer/utils.hpp"

namespace garden {

using json = nlohmann::json;

namespace {

const char* const kUnprivilegedCaps[] = {
    "CAP_CHOWN",   "CAP_DAC_OVERRIDE", "CAP_FSETID",           "CAP_FOWNER",
    "CAP_MKNOD",   "CAP_NET_RAW",      "CAP_SETGID",           "CAP_SETUID",
    "CAP_SETFCAP", "CAP_SETPCAP",      "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT",
    "CAP_KILL",    "CAP_AUDIT_WRITE"};

const char* const kPrivilegedExtraCaps[] = {
    "CAP_DAC_READ_SEARCH", "CAP_LINUX_IMMUTABLE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN",
    "CAP_IPC_LOCK",        "CAP_IPC_OWNER",       "CAP_SYS_MODULE",    "CAP_SYS_RAWIO",
    "CAP_SYS_PTRACE",      "CAP_SYS_PACCT",       "CAP_SYS_ADMIN",     "CAP_SYS_BOOT",
    "CAP_SYS_NICE",        "CAP_SYS_RESOURCE",    "CAP_SYS_TIME",      "CAP_SYS_TTY_CONFIG",
    "CAP_LEASE",           "CAP_AUDIT_CONTROL",   "CAP_MAC_OVERRIDE",  "CAP_MAC_ADMIN",
    "CAP_SYSLOG",          "CAP_WAKE_ALARM",      "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ"};

// Docker's default allowlist (names unknown to the runtime's libseccomp are skipped by it).
const char* const kAllowedSyscalls[] = {"accept",
                                        "accept4",
                                        "access",
                                        "adjtimex",
                                        "alarm",
                                        "bind",
                                        "brk",
                                        "capget",
                                        "capset",
                                        "chdir",
                                        "chmod",
                                        "chown",
                                        "chown32",
                                        "clock_adjtime",
                                        "clock_getres",
                                        "clock_gettime",
                                        "clock_nanosleep",
                                        "clone",
                                        "clone3",
                                        "close",
                                        "close_range",
                                        "connect",
                                        "copy_file_range",
                                        "creat",
                                        "dup",
                                        "dup2",
                                        "dup3",
                                        "epoll_create",
                                        "epoll_create1",
                                        "epoll_ctl",
                                        "epoll_pwait",
                                        "epoll_pwait2",
                                        "epoll_wait",
                                        "eventfd",
                                        "eventfd2",
                                        "execve",
                                        "execveat",
                                        "exit",
                                        "exit_group",
                                        "faccessat",
                                        "faccessat2",
                                        "fadvise64",
                                        "fallocate",
                                        "fanotify_mark",
                                        "fchdir",
                                        "fchmod",
                                        "fchmodat",
                                        "fchown",
                                        "fchownat",
                                        "fcntl",
                                        "fdatasync",
                                        "fgetxattr",
                                        "flistxattr",
                                        "flock",
                                        "fork",
                                        "fremovexattr",
                                        "fsetxattr",
                                        "fstat",
                                        "fstatfs",
                                        "fsync",
                                        "ftruncate",
                                        "futex",
                                        "futex_waitv",
                                        "futimesat",
                                        "getcpu",
                                        "getcwd",
                                        "getdents",
                                        "getdents64",
                                        "getegid",
                                        "geteuid",
                                        "getgid",
                                        "getgroups",
                                        "getitimer",
                                        "getpeername",
                                        "getpgid",
                                        "getpgrp",
                                        "getpid",
                                        "getppid",
                                        "getpriority",
                                        "getrandom",
                                        "getresgid",
                                        "getresuid",
                                        "getrlimit",
                                        "get_robust_list",
                                        "getrusage",
                                        "getsid",
                                        "getsockname",
                                        "getsockopt",
                                        "get_thread_area",
                                        "gettid",
                                        "gettimeofday",
                                        "getuid",
                                        "getxattr",
                                        "inotify_add_watch",
                                        "inotify_init",
                                        "inotify_init1",
                                        "inotify_rm_watch",
                                        "io_cancel",
                                        "ioctl",
                                        "io_destroy",
                                        "io_getevents",
                                        "io_pgetevents",
                                        "ioprio_get",
                                        "ioprio_set",
                                        "io_setup",
                                        "io_submit",
                                        "io_uring_enter",
                                        "io_uring_register",
                                        "io_uring_setup",
                                        "kill",
                                        "landlock_add_rule",
                                        "landlock_create_ruleset",
                                        "landlock_restrict_self",
                                        "lchown",
                                        "lgetxattr",
                                        "link",
                                        "linkat",
                                        "listen",
                                        "listxattr",
                                        "llistxattr",
                                        "lremovexattr",
                                        "lseek",
                                        "lsetxattr",
                                        "lstat",
                                        "madvise",
                                        "membarrier",
                                        "memfd_create",
                                        "mincore",
                                        "mkdir",
                                        "mkdirat",
                                        "mknod",
                                        "mknodat",
                                        "mlock",
                                        "mlock2",
                                        "mlockall",
                                        "mmap",
                                        "mprotect",
                                        "mq_getsetattr",
                                        "mq_notify",
                                        "mq_open",
                                        "mq_timedreceive",
                                        "mq_timedsend",
                                        "mq_unlink",
                                        "mremap",
                                        "msgctl",
                                        "msgget",
                                        "msgrcv",
                                        "msgsnd",
                                        "msync",
                                        "munlock",
                                        "munlockall",
                                        "munmap",
                                        "name_to_handle_at",
                                        "nanosleep",
                                        "newfstatat",
                                        "open",
                                        "openat",
                                        "openat2",
                                        "pause",
                                        "pidfd_open",
                                        "pidfd_send_signal",
                                        "pipe",
                                        "pipe2",
                                        "poll",
                                        "ppoll",
                                        "prctl",
                                        "pread64",
                                        "preadv",
                                        "preadv2",
                                        "prlimit64",
                                        "process_mrelease",
                                        "pselect6",
                                        "pwrite64",
                                        "pwritev",
                                        "pwritev2",
                                        "read",
                                        "readahead",
                                        "readlink",
                                        "readlinkat",
                                        "readv",
                                        "recvfrom",
                                        "recvmmsg",
                                        "recvmsg",
                                        "remap_file_pages",
                                        "removexattr",
                                        "rename",
                                        "renameat",
                                        "renameat2",
                                        "restart_syscall",
                                        "rmdir",
                                        "rseq",
                                        "rt_sigaction",
                                        "rt_sigpending",
                                        "rt_sigprocmask",
                                        "rt_sigqueueinfo",
                                        "rt_sigreturn",
                                        "rt_sigsuspend",
                                        "rt_sigtimedwait",
                                        "rt_tgsigqueueinfo",
                                        "sched_getaffinity",
                                        "sched_getattr",
                                        "sched_getparam",
                                        "sched_get_priority_max",
                                        "sched_get_priority_min",
                                        "sched_getscheduler",
                                        "sched_rr_get_interval",
                                        "sched_setaffinity",
                                        "sched_setattr",
                                        "sched_setparam",
                                        "sched_setscheduler",
                                        "sched_yield",
                                        "seccomp",
                                        "select",
                                        "semctl",
                                        "semget",
                                        "semop",
                                        "semtimedop",
                                        "sendfile",
                                        "sendmmsg",
                                        "sendmsg",
                                        "sendto",
                                        "setfsgid",
                                        "setfsuid",
                                        "setgid",
                                        "setgroups",
                                        "setitimer",
                                        "setpgid",
                                        "setpriority",
                                        "setregid",
                                        "setresgid",
                                        "setresuid",
                                        "setreuid",
                                        "setrlimit",
                                        "set_robust_list",
                                        "setsid",
                                        "setsockopt",
                                        "set_thread_area",
                                        "set_tid_address",
                                        "setuid",
                                        "setxattr",
                                        "shmat",
                                        "shmctl",
                                        "shmdt",
                                        "shmget",
                                        "shutdown",
                                        "sigaltstack",
                                        "signalfd",
                                        "signalfd4",
                                        "socket",
                                        "socketpair",
                                        "splice",
                                        "stat",
                                        "statfs",
                                        "statx",
                                        "symlink",
                                        "symlinkat",
                                        "sync",
                                        "sync_file_range",
                                        "syncfs",
                                        "sysinfo",
                                        "tee",
                                        "tgkill",
                                        "time",
                                        "timer_create",
                                        "timer_delete",
                                        "timer_getoverrun",
                                        "timer_gettime",
                                        "timer_settime",
                                        "timerfd_create",
                                        "timerfd_gettime",
                                        "timerfd_settime",
                                        "times",
                                        "tkill",
                                        "truncate",
                                        "umask",
                                        "uname",
                                        "unlink",
                                        "unlinkat",
                                        "utime",
                                        "utimensat",
                                        "utimes",
                                        "vfork",
                                        "vmsplice",
                                        "wait4",
                                        "waitid",
                                        "waitpid",
                                        "write",
                                        "writev",
                                        "arch_prctl",
                                        "chroot",
                                        "mount",
                                        "umount2",
                                        "pivot_root",
                                        "sethostname",
                                        "setdomainname",
                                        "unshare",
                                        "setns"};

json seccomp_allowlist() {
  json names = json::array();
  for (const char* n : kAllowedSyscalls) names.push_back(n);
  return {{"defaultAction", "SCMP_ACT_ERRNO"},
          {"architectures", {"SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"}},
          {"syscalls", {{{"names", names}, {"action", "SCMP_ACT_ALLOW"}}}}};
}

json bind_mount(const std::string& src, const std::string& dst, bool ro) {
  json opts = {"bind"};
  if (ro) opts.push_back("ro");
  return {{"destination", dst}, {"type", "bind"}, {"source", src}, {"options", opts}};
}

unsigned long long num(const json& j, const char* key) {
  if (!j.is_object() || !j.contains(key) || !j[key].is_number()) return 0;
  return j[key].get<unsigned long long>();
}

json resources(const json& limits) {
  json r = {{"devices", {{{"allow", false}, {"access", "rwm"}}}}};
  // The devices every container may use (runc adds the same list on its own).
  const struct {
    const char* type;
    long major, minor;
  } devs[] = {{"c", 1, 3}, {"c", 1, 5}, {"c", 1, 7}, {"c", 1, 8},   {"c", 1, 9},
              {"c", 5, 0}, {"c", 5, 1}, {"c", 5, 2}, {"c", 136, -1}};
  for (auto& d : devs) {
    json e = {{"allow", true}, {"type", d.type}, {"major", d.major}, {"access", "rwm"}};
    if (d.minor >= 0) e["minor"] = d.minor;
    r["devices"].push_back(e);
  }
  if (!limits.is_object()) return r;
  if (auto mem = num(limits.value("memory_limits", json::object()), "limit_in_bytes")) {
    r["memory"] = {{"limit", mem}};
    if (crunner::path_exists("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes"))
      r["memory"]["swap"] = mem;
  }
  json cpu = limits.value("cpu_limits", json::object());
  unsigned long long shares = num(cpu, "weight");
  if (!shares) shares = num(cpu, "limit_in_shares");
  if (shares) r["cpu"] = {{"shares", shares}};
  if (auto pids = num(limits.value("pid_limits", json::object()), "max"))
    r["pids"] = {{"limit", pids}};
  return r;
}

}  // namespace

namespace {

// Capability numbers (linux/capability.h), to drop the ones our own bounding set lacks:
// the runtime cannot grant them and would fail with "unable to apply caps".
int cap_number(const std::string& name) {
  static const char* const kNames[] = {"CHOWN",
                                       "DAC_OVERRIDE",
                                       "DAC_READ_SEARCH",
                                       "FOWNER",
                                       "FSETID",
                                       "KILL",
                                       "SETGID",
                                       "SETUID",
                                       "SETPCAP",
                                       "LINUX_IMMUTABLE",
                                       "NET_BIND_SERVICE",
                                       "NET_BROADCAST",
                                       "NET_ADMIN",
                                       "NET_RAW",
                                       "IPC_LOCK",
                                       "IPC_OWNER",
                                       "SYS_MODULE",
                                       "SYS_RAWIO",
                                       "SYS_CHROOT",
                                       "SYS_PTRACE",
                                       "SYS_PACCT",
                                       "SYS_ADMIN",
                                       "SYS_BOOT",
                                       "SYS_NICE",
                                       "SYS_RESOURCE",
                                       "SYS_TIME",
                                       "SYS_TTY_CONFIG",
                                       "MKNOD",
                                       "LEASE",
                                       "AUDIT_WRITE",
                                       "AUDIT_CONTROL",
                                       "SETFCAP",
                                       "MAC_OVERRIDE",
                                       "MAC_ADMIN",
                                       "SYSLOG",
                                       "WAKE_ALARM",
                                       "BLOCK_SUSPEND",
                                       "AUDIT_READ"};
  for (int i = 0; i < static_cast<int>(sizeof kNames / sizeof kNames[0]); ++i)
    if (name == std::string("CAP_") + kNames[i]) return i;
  return -1;
}

bool in_bounding_set(const char* name) {
  int n = cap_number(name);
  return n >= 0 && prctl(PR_CAPBSET_READ, n, 0, 0, 0) == 1;
}

}  // namespace

json container_caps(bool privileged) {
  json caps = json::array();
  for (const char* c : kUnprivilegedCaps)
    if (in_bounding_set(c)) caps.push_back(c);
  if (privileged)
    for (const char* c : kPrivilegedExtraCaps)
      if (in_bounding_set(c)) caps.push_back(c);
  return caps;
}

json build_config(const json& spec, const BundleParams& p, std::string& err) {
  bool privileged = spec.value("privileged", false);
  json caps = container_caps(privileged);
  json env = json::array();  // the image's environment, then the spec's (Guardian's Env rule)
  for (auto& e : p.image_env) env.push_back(e);
  if (spec.contains("env") && spec["env"].is_array())
    for (auto& e : spec["env"])
      if (e.is_string()) env.push_back(e);
  bool has_path = false;
  for (auto& e : env)
    if (e.get<std::string>().rfind("PATH=", 0) == 0) has_path = true;
  if (!has_path) env.push_back("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");

  // The image plugin's mounts come first (Guardian prepends them: a plugin that does not
  // mount the rootfs itself returns its overlay there).
  json mounts = p.image_mounts.is_array() ? p.image_mounts : json::array();
  json defaults = json::array({
      {{"destination", "/proc"},
       {"type", "proc"},
       {"source", "proc"},
       {"options", {"nosuid", "noexec", "nodev"}}},
      {{"destination", "/dev"},
       {"type", "tmpfs"},
       {"source", "tmpfs"},
       {"options", {"nosuid", "strictatime", "mode=755", "size=65536k"}}},
      {{"destination", "/dev/pts"},
       {"type", "devpts"},
       {"source", "devpts"},
       {"options", {"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}}},
      {{"destination", "/dev/shm"},
       {"type", "tmpfs"},
       {"source", "shm"},
       {"options", {"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}}},
      {{"destination", "/dev/mqueue"},
       {"type", "mqueue"},
       {"source", "mqueue"},
       {"options", {"nosuid", "noexec", "nodev"}}},
      {{"destination", "/sys"},
       {"type", "sysfs"},
       {"source", "sysfs"},
       {"options", {"nosuid", "noexec", "nodev", "ro"}}},
  });
  for (auto& m : defaults) mounts.push_back(m);
  mounts.push_back(bind_mount(p.init_path, "/dev/garden-init", true));
  mounts.push_back(bind_mount(p.hosts_file, "/etc/hosts", false));
  mounts.push_back(bind_mount(p.resolv_file, "/etc/resolv.conf", false));
  if (spec.contains("bind_mounts") && spec["bind_mounts"].is_array()) {
    for (auto& bm : spec["bind_mounts"]) {
      std::string src = bm.value("src_path", ""), dst = bm.value("dst_path", "");
      if (src.empty() || dst.empty() || dst[0] != '/') {
        err = "bind mount needs an absolute dst_path and a src_path";
        return nullptr;
      }
      if (bm.value("origin", 0) == 1) src = p.rootfs + (src[0] == '/' ? "" : "/") + src;
      if (!crunner::path_exists(src)) {
        err = "bind mount source `" + src + "` does not exist";
        return nullptr;
      }
      json m = bind_mount(src, dst, bm.value("mode", 0) == 0);
      m["options"].push_back("rbind");
      mounts.push_back(m);
    }
  }

  json ns = json::array({{{"type", "network"}},
                         {{"type", "pid"}},
                         {{"type", "uts"}},
                         {{"type", "ipc"}},
                         {{"type", "mount"}}});
  std::string hostname = p.handle.substr(0, 63);
  json linux_ = {
      {"namespaces", ns},
      {"cgroupsPath", p.cgroup_parent + "/" + p.handle},
      {"resources", resources(spec.value("limits", json::object()))},
      {"maskedPaths",
       {"/proc/kcore", "/proc/latency_stats", "/proc/sched_debug", "/proc/scsi", "/proc/timer_list",
        "/proc/timer_stats", "/proc/keys", "/sys/firmware"}},
      {"readonlyPaths", {"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"}},
  };
  if (!privileged) {
    linux_["namespaces"].push_back({{"type", "user"}});
    json map = json::array();
    for (auto& m : image::unprivileged_id_mappings())
      map.push_back({{"containerID", m.container_id}, {"hostID", m.host_id}, {"size", m.size}});
    linux_["uidMappings"] = map;
    linux_["gidMappings"] = map;
    linux_["seccomp"] = seccomp_allowlist();
  }
  json config = {
      {"ociVersion", "1.0.2"},
      {"process",
       {{"terminal", false},
        {"user", {{"uid", 0}, {"gid", 0}}},
        {"args", {"/dev/garden-init"}},
        {"env", env},
        {"cwd", "/"},
        {"capabilities",
         {{"bounding", caps}, {"effective", caps}, {"permitted", caps}, {"inheritable", caps}}},
        {"noNewPrivileges", false}}},
      {"root", {{"path", p.rootfs}, {"readonly", false}}},
      {"hostname", hostname},
      {"mounts", mounts},
      {"linux", linux_},
      {"annotations", {{"garden.handle", p.handle}}},
  };
  return config;
}

namespace {

// Creates `rel` (a path relative to the directory fd `dir`) without following symlinks;
// the last component is a directory or (is_dir false) an empty file.
std::string ensure_at(int rootfd, const std::string& rel, bool is_dir) {
  auto parts = crunner::split(rel, '/');
  std::vector<std::string> comps;
  for (auto& s : parts)
    if (!s.empty() && s != ".") comps.push_back(s);
  if (comps.empty()) return "";
  crunner::UniqueFd cur(fcntl(rootfd, F_DUPFD_CLOEXEC, 0));
  for (size_t i = 0; i < comps.size(); ++i) {
    const std::string& c = comps[i];
    if (c == "..") return "refusing `..` in mount destination `" + rel + "`";
    bool last = i + 1 == comps.size();
    struct stat st;
    if (fstatat(cur.get(), c.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0) {
      if (S_ISLNK(st.st_mode)) return "";  // let the runtime resolve it inside the rootfs
      if (last) return "";
      if (!S_ISDIR(st.st_mode)) return "";
    } else if (errno == ENOENT) {
      if (!last || is_dir) {
        if (mkdirat(cur.get(), c.c_str(), 0755) < 0 && errno != EEXIST)
          return "mkdir `" + rel + "`: " + crunner::errno_text(errno);
      } else {
        int fd = openat(cur.get(), c.c_str(), O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0644);
        if (fd < 0 && errno != EEXIST) return "create `" + rel + "`: " + crunner::errno_text(errno);
        if (fd >= 0) close(fd);
        return "";
      }
    } else {
      return "stat `" + rel + "`: " + crunner::errno_text(errno);
    }
    if (last) return "";
    int next = openat(cur.get(), c.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (next < 0) return "open `" + rel + "`: " + crunner::errno_text(errno);
    cur.reset(next);
  }
  return "";
}

}  // namespace

std::string prepare_mountpoints(const std::string& rootfs, const json& config) {
  crunner::UniqueFd root(open(rootfs.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!root) return "open rootfs `" + rootfs + "`: " + crunner::errno_text(errno);
  for (auto& m : config["mounts"]) {
    std::string dst = m.value("destination", "");
    if (dst.rfind("/dev/", 0) == 0 || dst == "/dev") {
      if (dst == "/dev") {
        auto e = ensure_at(root.get(), "dev", true);
        if (!e.empty()) return e;
      }
      continue;  // inside the container's own /dev tmpfs
    }
    bool is_dir = true;
    if (m.value("type", "") == "bind") {
      struct stat st;
      if (stat(m.value("source", "").c_str(), &st) == 0) is_dir = S_ISDIR(st.st_mode);
    }
    auto e = ensure_at(root.get(), dst, is_dir);
    if (!e.empty()) return e;
  }
  return "";
}

}  // namespace garden
