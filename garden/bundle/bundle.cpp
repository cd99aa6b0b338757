#include "garden/bundle/bundle.hpp"

#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "base/fd.hpp"
#include "base/file.hpp"
#include "base/text.hpp"
#include "garden/cgroups/memory.hpp"
#include "garden/image/plugin.hpp"

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

// Guardian's unprivileged allowlist (guardiancmd/seccomp_linux.go, buildSeccomp), name for
// name: no mount, umount2, pivot_root, unshare, setns, clone3, sethostname, io_uring, ...
// (ptrace is allowed there on kernels >= 4.8). Syscalls newer than the highest one listed
// get ENOSYS from the runtime (runc and crunner add that stub), so libc falls back from
// clone3 to clone, which is allowed below only without namespace flags. Names unknown to the
// runtime's libseccomp (32-bit ones) are skipped by it.
const char* const kAllowedSyscalls[] = {"accept",
                                        "accept4",
                                        "access",
                                        "alarm",
                                        "bind",
                                        "brk",
                                        "capget",
                                        "capset",
                                        "chdir",
                                        "chmod",
                                        "chown",
                                        "chown32",
                                        "clock_getres",
                                        "clock_gettime",
                                        "clock_nanosleep",
                                        "close",
                                        "connect",
                                        "copy_file_range",
                                        "creat",
                                        "dup",
                                        "dup2",
                                        "dup3",
                                        "epoll_create",
                                        "epoll_create1",
                                        "epoll_ctl",
                                        "epoll_ctl_old",
                                        "epoll_pwait",
                                        "epoll_wait",
                                        "epoll_wait_old",
                                        "eventfd",
                                        "eventfd2",
                                        "execve",
                                        "execveat",
                                        "exit",
                                        "exit_group",
                                        "faccessat",
                                        "fadvise64",
                                        "fadvise64_64",
                                        "fallocate",
                                        "fanotify_mark",
                                        "fchdir",
                                        "fchmod",
                                        "fchmodat",
                                        "fchown",
                                        "fchown32",
                                        "fchownat",
                                        "fcntl",
                                        "fcntl64",
                                        "fdatasync",
                                        "fgetxattr",
                                        "flistxattr",
                                        "flock",
                                        "fork",
                                        "fremovexattr",
                                        "fsetxattr",
                                        "fstat",
                                        "fstat64",
                                        "fstatat64",
                                        "fstatfs",
                                        "fstatfs64",
                                        "fsync",
                                        "ftruncate",
                                        "ftruncate64",
                                        "futex",
                                        "futimesat",
                                        "getcpu",
                                        "getcwd",
                                        "getdents",
                                        "getdents64",
                                        "getegid",
                                        "getegid32",
                                        "geteuid",
                                        "geteuid32",
                                        "getgid",
                                        "getgid32",
                                        "getgroups",
                                        "getgroups32",
                                        "getitimer",
                                        "getpeername",
                                        "getpgid",
                                        "getpgrp",
                                        "getpid",
                                        "getppid",
                                        "getpriority",
                                        "getrandom",
                                        "getresgid",
                                        "getresgid32",
                                        "getresuid",
                                        "getresuid32",
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
                                        "getuid32",
                                        "getxattr",
                                        "inotify_add_watch",
                                        "inotify_init",
                                        "inotify_init1",
                                        "inotify_rm_watch",
                                        "io_cancel",
                                        "ioctl",
                                        "io_destroy",
                                        "io_getevents",
                                        "ioprio_get",
                                        "ioprio_set",
                                        "io_setup",
                                        "io_submit",
                                        "ipc",
                                        "kill",
                                        "lchown",
                                        "lchown32",
                                        "lgetxattr",
                                        "link",
                                        "linkat",
                                        "listen",
                                        "listxattr",
                                        "llistxattr",
                                        "_llseek",
                                        "lremovexattr",
                                        "lseek",
                                        "lsetxattr",
                                        "lstat",
                                        "lstat64",
                                        "madvise",
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
                                        "mmap2",
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
                                        "nanosleep",
                                        "newfstatat",
                                        "_newselect",
                                        "open",
                                        "openat",
                                        "pause",
                                        "pipe",
                                        "pipe2",
                                        "poll",
                                        "ppoll",
                                        "prctl",
                                        "pread64",
                                        "preadv",
                                        "prlimit64",
                                        "pselect6",
                                        "pwrite64",
                                        "pwritev",
                                        "read",
                                        "readahead",
                                        "readlink",
                                        "readlinkat",
                                        "readv",
                                        "recv",
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
                                        "send",
                                        "sendfile",
                                        "sendfile64",
                                        "sendmmsg",
                                        "sendmsg",
                                        "sendto",
                                        "setfsgid",
                                        "setfsgid32",
                                        "setfsuid",
                                        "setfsuid32",
                                        "setgid",
                                        "setgid32",
                                        "setgroups",
                                        "setgroups32",
                                        "setitimer",
                                        "setpgid",
                                        "setpriority",
                                        "setregid",
                                        "setregid32",
                                        "setresgid",
                                        "setresgid32",
                                        "setresuid",
                                        "setresuid32",
                                        "setreuid",
                                        "setreuid32",
                                        "setrlimit",
                                        "set_robust_list",
                                        "setsid",
                                        "setsockopt",
                                        "set_thread_area",
                                        "set_tid_address",
                                        "setuid",
                                        "setuid32",
                                        "setxattr",
                                        "shmat",
                                        "shmctl",
                                        "shmdt",
                                        "shmget",
                                        "shutdown",
                                        "sigaltstack",
                                        "signalfd",
                                        "signalfd4",
                                        "sigreturn",
                                        "socket",
                                        "socketcall",
                                        "socketpair",
                                        "splice",
                                        "stat",
                                        "stat64",
                                        "statx",
                                        "statfs",
                                        "statfs64",
                                        "symlink",
                                        "symlinkat",
                                        "sync",
                                        "sync_file_range",
                                        "syncfs",
                                        "sysinfo",
                                        "syslog",
                                        "tee",
                                        "tgkill",
                                        "time",
                                        "timer_create",
                                        "timer_delete",
                                        "timerfd_create",
                                        "timerfd_gettime",
                                        "timerfd_settime",
                                        "timer_getoverrun",
                                        "timer_gettime",
                                        "timer_settime",
                                        "times",
                                        "tkill",
                                        "truncate",
                                        "truncate64",
                                        "ugetrlimit",
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
                                        "modify_ldt",
                                        "chroot",
                                        "ptrace"};

// clone(2) flags Guardian refuses: CLONE_NEWNS|NEWUTS|NEWIPC|NEWUSER|NEWPID|NEWNET.
constexpr unsigned long long kCloneNsFlags = 0x7C020000ULL;

json seccomp_allowlist() {
  json syscalls = json::array();
  json names = json::array();
  for (const char* n : kAllowedSyscalls) names.push_back(n);
  syscalls.push_back({{"names", names}, {"action", "SCMP_ACT_ALLOW"}});
  // personality(2): PER_LINUX (0), PER_LINUX32 (8) and the query 0xffffffff only.
  for (unsigned long long persona : {0x0ULL, 0x8ULL, 0xffffffffULL})
    syscalls.push_back(
        {{"names", {"personality"}},
         {"action", "SCMP_ACT_ALLOW"},
         {"args", {{{"index", 0}, {"value", persona}, {"valueTwo", 0}, {"op", "SCMP_CMP_EQ"}}}}});
  syscalls.push_back({{"names", {"clone"}},
                      {"action", "SCMP_ACT_ALLOW"},
                      {"args",
                       {{{"index", 0},
                         {"value", kCloneNsFlags},
                         {"valueTwo", 0},
                         {"op", "SCMP_CMP_MASKED_EQ"}}}}});
  return {{"defaultAction", "SCMP_ACT_ERRNO"},
          {"architectures", {"SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"}},
          {"syscalls", syscalls}};
}

// Where garden-init is bound (command_linux.go: initBindMountAndPath).
const char* const kInitPath = "/tmp/garden-init";

json bind_mount(const std::string& src, const std::string& dst, bool ro) {
  json opts = {"bind"};
  if (ro) opts.push_back("ro");
  return {{"destination", dst}, {"type", "bind"}, {"source", src}, {"options", opts}};
}

unsigned long long num(const json& j, const char* key) {
  if (!j.is_object() || !j.contains(key) || !j[key].is_number()) return 0;
  return j[key].get<unsigned long long>();
}

// Unprivileged containers get the runtime's default device rules (Guardian sets none; runc
// and crunner deny everything but their default list). Privileged ones get Guardian's
// allowedDevices (guardiancmd/server.go): deny all, then mknod of any device, the usual
// character devices, /dev/net/tun and /dev/fuse.
json resources(const json& limits, bool privileged) {
  json r = json::object();
  if (privileged) {
    r["devices"] = json::array({{{"allow", false}, {"access", "rwm"}}});
    for (const char* type : {"c", "b"})
      r["devices"].push_back({{"allow", true}, {"type", type}, {"access", "m"}});
    const struct {
      long major, minor;
    } devs[] = {{1, 3}, {1, 8},    {1, 7}, {5, 0},    {1, 5},   {1, 9},
                {5, 1}, {136, -1}, {5, 2}, {10, 200}, {10, 229}};
    for (auto& d : devs) {
      json e = {{"allow", true}, {"type", "c"}, {"major", d.major}, {"access", "rwm"}};
      if (d.minor >= 0) e["minor"] = d.minor;
      r["devices"].push_back(e);
    }
  }
  if (!limits.is_object()) return r;
  if (auto mem = num(limits.value("memory_limits", json::object()), "limit_in_bytes")) {
    r["memory"] = {{"limit", mem}};
    // Guardian's swap = limit (no swap beyond it): on v1 only where swap is accounted
    // (memsw); on v2 the runtime writes memory.swap.max = swap - limit = 0.
    if (cgroups::unified() ||
        crunner::path_exists("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes"))
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

json container_caps(bool privileged, long long uid) {
  // Guardian (rundmc/processes/builder.go): a process of a non-root user gets the container's
  // caps intersected with nonRootMaxCaps, the unprivileged set plus CAP_SYS_ADMIN
  // (guardiancmd/server.go); root gets all of them.
  auto non_root_allowed = [](const std::string& c) {
    if (c == "CAP_SYS_ADMIN") return true;
    for (const char* u : kUnprivilegedCaps)
      if (c == u) return true;
    return false;
  };
  json caps = json::array();
  auto add = [&](const char* c) {
    if (!in_bounding_set(c)) return;
    if (uid != 0 && !non_root_allowed(c)) return;
    caps.push_back(c);
  };
  for (const char* c : kUnprivilegedCaps) add(c);
  if (privileged)
    for (const char* c : kPrivilegedExtraCaps) add(c);
  return caps;
}

namespace {

// bundlerules/env.go: the container's env is the image's (from the image plugin), then the
// spec's, nothing added (each process gets its PATH and USER when it runs: process_spec.cpp).
json container_env(const json& spec, const BundleParams& p) {
  json env = json::array();
  for (auto& e : p.image_env) env.push_back(e);
  if (spec.contains("env") && spec["env"].is_array())
    for (auto& e : spec["env"])
      if (e.is_string()) env.push_back(e);
  return env;
}

// The spec's bind_mounts (bundlerules/mounts.go: "bind" plus "ro"/"rw", not recursive),
// appended to mounts; false with err when one has no source or a relative destination.
bool add_spec_bind_mounts(const json& spec, const BundleParams& p, json& mounts, std::string& err) {
  if (!spec.contains("bind_mounts") || !spec["bind_mounts"].is_array()) return true;
  for (auto& bm : spec["bind_mounts"]) {
    std::string src = bm.value("src_path", ""), dst = bm.value("dst_path", "");
    if (src.empty() || dst.empty() || dst[0] != '/') {
      err = "bind mount needs an absolute dst_path and a src_path";
      return false;
    }
    if (bm.value("origin", 0) == 1) src = p.rootfs + (src[0] == '/' ? "" : "/") + src;
    if (!crunner::path_exists(src)) {
      err = "bind mount source `" + src + "` does not exist";
      return false;
    }
    mounts.push_back({{"destination", dst},
                      {"type", "bind"},
                      {"source", src},
                      {"options", {"bind", bm.value("mode", 0) == 1 ? "rw" : "ro"}}});
  }
  return true;
}

// guardiancmd/command_linux.go: defaultBindMounts + (un)privilegedMounts. No /dev tmpfs and
// no /dev/mqueue: /dev is the rootfs's own directory, where the runtime creates the
// device nodes, as runc does for Guardian. The image plugin's mounts come first (Guardian
// prepends them: a plugin that does not mount the rootfs itself returns its overlay there).
json container_mounts(const BundleParams& p, bool privileged) {
  json mounts = p.image_mounts.is_array() ? p.image_mounts : json::array();
  json defaults = json::array({
      {{"destination", "/sys"},
       {"type", "sysfs"},
       {"source", "sysfs"},
       {"options", {"nosuid", "noexec", "nodev", "ro"}}},
      {{"destination", "/dev/shm"},
       {"type", "tmpfs"},
       {"source", "tmpfs"},
       {"options", {"rw", "nodev", "relatime"}}},
      {{"destination", "/dev/pts"},
       {"type", "devpts"},
       {"source", "devpts"},
       {"options", {"nosuid", "noexec", "newinstance", "gid=5", "ptmxmode=0666", "mode=0620"}}},
  });
  for (auto& m : defaults) mounts.push_back(m);
  // Read-write as Guardian binds it: a read-only mount under /tmp made a privileged root's
  // `chown -R /tmp` fail (EROFS). Unprivileged roots still cannot change the host's file.
  mounts.push_back(bind_mount(p.init_path, kInitPath, false));
  mounts.push_back({{"destination", "/proc"},
                    {"type", "proc"},
                    {"source", "proc"},
                    {"options", {"nosuid", "noexec", "nodev"}}});
  if (!privileged)
    mounts.push_back({{"destination", "/sys/fs/cgroup"},
                      {"type", "cgroup"},
                      {"source", "cgroup"},
                      {"options", {"ro", "nosuid", "noexec", "nodev"}}});
  mounts.push_back(bind_mount(p.hosts_file, "/etc/hosts", false));
  mounts.push_back(bind_mount(p.resolv_file, "/etc/resolv.conf", false));
  return mounts;
}

// The config's "linux": namespaces, cgroup, limits; an unprivileged container gets a user
// namespace (image/'s id maps), masked paths and the seccomp allowlist; a privileged one
// /dev/fuse, masked and read-only /proc paths.
json container_linux(const json& spec, const BundleParams& p, bool privileged) {
  json ns = json::array({{{"type", "network"}},
                         {{"type", "pid"}},
                         {{"type", "uts"}},
                         {{"type", "ipc"}},
                         {{"type", "mount"}}});
  json linux_ = {
      {"namespaces", ns},
      {"cgroupsPath", p.cgroup_parent + "/" + p.handle},
      {"resources", resources(spec.value("limits", json::object()), privileged)},
      {"rootfsPropagation", "private"},
  };
  const json masked = {"/proc/kcore", "/proc/latency_stats", "/proc/sched_debug",
                       "/proc/scsi",  "/proc/timer_list",    "/proc/timer_stats",
                       "/proc/keys",  "/sys/firmware"};
  if (!privileged) {
    linux_["namespaces"].push_back({{"type", "user"}});
    json map = json::array();
    for (auto& m : image::unprivileged_id_mappings())
      map.push_back({{"containerID", m.container_id}, {"hostID", m.host_id}, {"size", m.size}});
    linux_["uidMappings"] = map;
    linux_["gidMappings"] = map;
    linux_["maskedPaths"] = masked;
    linux_["seccomp"] = seccomp_allowlist();
    return linux_;
  }
  // Guardian's privileged base: /dev/fuse (0666). Its privileged bundle masks nothing;
  // we keep the masked and read-only /proc paths there (docs/DESIGN.md §14).
  linux_["devices"] = {{{"path", "/dev/fuse"},
                        {"type", "c"},
                        {"major", 10},
                        {"minor", 229},
                        {"fileMode", 0666},
                        {"uid", 0},
                        {"gid", 0}}};
  linux_["maskedPaths"] = masked;
  linux_["readonlyPaths"] = {"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys",
                             "/proc/sysrq-trigger"};
  return linux_;
}

}  // namespace

json build_config(const json& spec, const BundleParams& p, std::string& err) {
  bool privileged = spec.value("privileged", false);
  json caps = container_caps(privileged);
  json mounts = container_mounts(p, privileged);
  if (!add_spec_bind_mounts(spec, p, mounts, err)) return nullptr;
  // bundlerules/hostname.go: the handle's last 49 characters.
  std::string hostname = p.handle.size() > 49 ? p.handle.substr(p.handle.size() - 49) : p.handle;
  json config = {
      {"ociVersion", "1.0.2"},
      {"process",
       {{"terminal", false},
        {"user", {{"uid", 0}, {"gid", 0}}},
        {"args", {kInitPath}},
        {"env", container_env(spec, p)},
        {"cwd", "/"},
        {"capabilities",
         {{"bounding", caps}, {"effective", caps}, {"permitted", caps}, {"inheritable", caps}}},
        {"noNewPrivileges", false}}},
      {"root", {{"path", p.rootfs}, {"readonly", false}}},
      {"hostname", hostname},
      {"mounts", mounts},
      {"linux", container_linux(spec, p, privileged)},
      {"annotations", {{"garden.handle", p.handle}}},
  };
  if (!privileged && !p.apparmor_profile.empty())
    config["process"]["apparmorProfile"] = p.apparmor_profile;
  return config;
}

namespace {

// Creates `rel` (a path relative to the directory fd `dir`) without following symlinks;
// the last component is a directory (of mode last_mode) or (is_dir false) an empty file. What
// it creates belongs to uid:gid.
std::string ensure_at(int rootfd, const std::string& rel, bool is_dir, uid_t uid, gid_t gid,
                      mode_t last_mode = 0755) {
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
        if (mkdirat(cur.get(), c.c_str(), 0755) < 0) {
          if (errno != EEXIST) return "mkdir `" + rel + "`: " + crunner::errno_text(errno);
        } else if (fchownat(cur.get(), c.c_str(), uid, gid, AT_SYMLINK_NOFOLLOW) < 0) {
          return "chown `" + rel + "`: " + crunner::errno_text(errno);
        } else if (last && last_mode != 0755 && fchmodat(cur.get(), c.c_str(), last_mode, 0) < 0) {
          return "chmod `" + rel + "`: " + crunner::errno_text(errno);
        }
      } else {
        int fd = openat(cur.get(), c.c_str(), O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0644);
        if (fd < 0 && errno != EEXIST) return "create `" + rel + "`: " + crunner::errno_text(errno);
        if (fd >= 0) {
          int r = fchown(fd, uid, gid);
          int e = errno;
          close(fd);
          if (r < 0) return "chown `" + rel + "`: " + crunner::errno_text(e);
        }
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

std::string prepare_mountpoints(const std::string& rootfs, const json& config, uid_t uid,
                                gid_t gid) {
  crunner::UniqueFd root(open(rootfs.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!root) return "open rootfs `" + rootfs + "`: " + crunner::errno_text(errno);
  bool dev_tmpfs = false;
  for (auto& m : config["mounts"])
    if (m.value("destination", "") == "/dev") dev_tmpfs = true;
  for (auto& m : config["mounts"]) {
    std::string dst = m.value("destination", "");
    if (dev_tmpfs && (dst.rfind("/dev/", 0) == 0 || dst == "/dev")) {
      if (dst == "/dev") {
        auto e = ensure_at(root.get(), "dev", true, uid, gid);
        if (!e.empty()) return e;
      }
      continue;  // inside the container's own /dev tmpfs
    }
    if (dst.rfind("/sys/", 0) == 0 || dst.rfind("/proc/", 0) == 0) continue;  // kernel fs
    bool is_dir = true;
    if (m.value("type", "") == "bind") {
      struct stat st;
      if (stat(m.value("source", "").c_str(), &st) == 0) is_dir = S_ISDIR(st.st_mode);
    }
    // The runtime gives a tmpfs the mode of the directory it covers (runc: "mode=" of an
    // existing target). A mount point made here for one is 1777, the tmpfs default that
    // runc leaves when it creates the directory itself: /dev/shm stays writable by all.
    mode_t mode = m.value("type", "") == "tmpfs" ? 01777 : 0755;
    auto e = ensure_at(root.get(), dst, is_dir, uid, gid, mode);
    if (!e.empty()) return e;
  }
  return "";
}

}  // namespace garden
