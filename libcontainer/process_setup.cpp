#include "libcontainer/process_setup.hpp"

#include <grp.h>
#include <limits.h>
#include <linux/sched.h>
#include <signal.h>
#include <sys/capability.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <string_view>
#include <unordered_set>

#include <set>

#include "apparmor/apparmor.hpp"
#include "base/file.hpp"
#include "base/text.hpp"
#include "libcontainer/phase.hpp"
#include "libcontainer/sched.hpp"
#include "libcontainer/sync.hpp"
#include "selinux/selinux.hpp"

namespace crunner {

int cap_last_cap() {
  static int last = -1;
  if (last < 0) {
    long long v = 40;
    read_i64_file("/proc/sys/kernel/cap_last_cap", v);
    last = static_cast<int>(v);
  }
  return last;
}

CapSets cap_sets(const std::optional<spec::Capabilities>& caps,
                 std::vector<std::string>* warnings) {
  CapSets c;
  if (!caps) return c;
  c.present = true;
  int last = cap_last_cap();
  std::set<std::string> ignored;
  auto mask = [&](const std::vector<std::string>& names) {
    uint64_t m = 0;
    for (auto& n : names) {
      auto v = spec::capability_by_name(n);
      if (!v || *v > last || *v > 63) {
        ignored.insert(n);
        continue;
      }
      m |= 1ULL << *v;
    }
    return m;
  };
  c.bounding = mask(caps->bounding);
  c.effective = mask(caps->effective);
  c.inheritable = mask(caps->inheritable);
  c.permitted = mask(caps->permitted);
  c.ambient = mask(caps->ambient);
  if (!ignored.empty() && warnings) {
    // runc 1.1.5's words and list format: sorted names in brackets, space-separated.
    std::string list;
    for (auto& n : ignored) list += (list.empty() ? "" : " ") + n;
    warnings->push_back("ignoring unknown or unavailable capabilities: [" + list + "]");
  }
  return c;
}

Status apply_rlimits(const std::vector<spec::Rlimit>& rl) {
  for (auto& r : rl) {
    struct rlimit l = {static_cast<rlim_t>(r.soft), static_cast<rlim_t>(r.hard)};
    if (setrlimit(r.resource, &l) < 0)
      return sys_error("set rlimit " + r.type + " to soft " + std::to_string(r.soft) + " hard " +
                       std::to_string(r.hard));
  }
  return {};
}

Status drop_bounding(const CapSets& c) {
  if (!c.present) return {};
  int last = cap_last_cap();
  for (int i = 0; i <= last; i++) {
    if (i < 64 && (c.bounding & (1ULL << i))) continue;
    if (prctl(PR_CAPBSET_DROP, i, 0, 0, 0) < 0 && errno != EINVAL)
      return sys_error("drop capability " + std::to_string(i) + " from the bounding set");
  }
  return {};
}

Status set_user(const spec::User& u) {
  if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0) return sys_error("prctl PR_SET_KEEPCAPS");
  std::vector<gid_t> groups(u.additional_gids.begin(), u.additional_gids.end());
  if (setgroups(groups.size(), groups.data()) < 0) {
    // setgroups is denied in a user namespace with setgroups=deny; only an
    // empty request may then be skipped.
    if (!(errno == EPERM && groups.empty())) return sys_error("setgroups");
  }
  if (setresgid(u.gid, u.gid, u.gid) < 0) return sys_error("setgid " + std::to_string(u.gid));
  if (setresuid(u.uid, u.uid, u.uid) < 0) return sys_error("setuid " + std::to_string(u.uid));
  if (u.umask) umask(*u.umask);
  if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) < 0) return sys_error("prctl PR_SET_KEEPCAPS");
  return {};
}

// The process's own permitted and inheritable sets (0 when unreadable).
static std::pair<uint64_t, uint64_t> own_caps() {
  uint64_t permitted = 0, inheritable = 0;
  cap_t own = cap_get_proc();
  if (!own) return {0, 0};
  for (int n = 0; n <= std::min(cap_last_cap(), 63); n++) {
    cap_flag_value_t v = CAP_CLEAR;
    if (cap_get_flag(own, n, CAP_PERMITTED, &v) == 0 && v == CAP_SET) permitted |= 1ULL << n;
    if (cap_get_flag(own, n, CAP_INHERITABLE, &v) == 0 && v == CAP_SET) inheritable |= 1ULL << n;
  }
  cap_free(own);
  return {permitted, inheritable};
}

// Why capset was refused: the capabilities asked for that this process does not hold
// itself (a runtime started without one, e.g. root lacking CAP_SYS_RESOURCE, cannot grant
// it; Docker's --privileged asks for every capability).
std::string unheld_caps_message(const CapSets& c) {
  auto [permitted, inheritable] = own_caps();
  uint64_t missing =
      ((c.permitted | c.effective) & ~permitted) | (c.inheritable & ~(permitted | inheritable));
  std::string names;
  for (int n = 0; n < 64; n++) {
    if (!(missing & (1ULL << n))) continue;
    char* name = cap_to_name(n);
    std::string s = name ? name : std::to_string(n);
    if (name) cap_free(name);
    for (auto& ch : s) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
    names += (names.empty() ? "" : ", ") + s;
  }
  if (names.empty()) return "set capabilities";
  return "set capabilities: process.capabilities asks for " + names +
         ", which the runtime itself does not hold (its caller lacks it), so it cannot be granted";
}

Status apply_caps(const CapSets& c) {
  if (!c.present) {
    return {};
  }
  cap_t caps = cap_init();
  if (!caps) return sys_error("cap_init");
  int last = std::min(cap_last_cap(), 63);
  std::vector<cap_value_t> e, p, i;
  for (int n = 0; n <= last; n++) {
    uint64_t b = 1ULL << n;
    if (c.effective & b) e.push_back(n);
    if (c.permitted & b) p.push_back(n);
    if (c.inheritable & b) i.push_back(n);
  }
  if ((!e.empty() && cap_set_flag(caps, CAP_EFFECTIVE, e.size(), e.data(), CAP_SET) < 0) ||
      (!p.empty() && cap_set_flag(caps, CAP_PERMITTED, p.size(), p.data(), CAP_SET) < 0) ||
      (!i.empty() && cap_set_flag(caps, CAP_INHERITABLE, i.size(), i.data(), CAP_SET) < 0)) {
    cap_free(caps);
    return sys_error("build capability sets");
  }
  int r = cap_set_proc(caps);
  int err = errno;
  cap_free(caps);
  if (r < 0 && err == EPERM) return sys_error(unheld_caps_message(c), err);
  if (r < 0) return sys_error("set capabilities", err);
  if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
    return sys_error("clear ambient capabilities");
  for (int n = 0; n <= last; n++) {
    if (!(c.ambient & (1ULL << n))) continue;
    // Like runc: an ambient capability that is not permitted+inheritable is
    // skipped (the kernel refuses it), not fatal.
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, n, 0, 0) < 0 && errno != EPERM)
      return sys_error("raise ambient capability " + std::to_string(n));
  }
  return {};
}

Status set_no_new_privs() {
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) return sys_error("prctl PR_SET_NO_NEW_PRIVS");
  return {};
}

// The home directory of uid in the container's /etc/passwd, "/" when absent.
static std::string home_of(uint32_t uid) {
  auto text = read_file("/etc/passwd");
  if (text) {
    for (auto& line : split(*text, '\n')) {
      auto f = split(line, ':');
      unsigned long long u;
      if (f.size() >= 6 && parse_u64(f[2], u) && u == uid) return f[5].empty() ? "/" : f[5];
    }
  }
  return "/";
}

pid_t clone_child(uint64_t flags, int* pidfd, int cgroup_fd) {
  // The child is born non-dumpable: it runs our binary, possibly already in the
  // container's pid namespace (exec, a joined pid namespace), and until
  // child_preamble ran, a dumpable child's /proc/<pid>/exe would be open to the
  // container (CVE-2019-5736). The parent's own flag is restored after the clone.
  int dumpable = prctl(PR_GET_DUMPABLE, 0, 0, 0, 0);
  if (dumpable > 0) prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  struct clone_args a = {};
  a.flags = flags | (pidfd ? CLONE_PIDFD : 0);
  if (cgroup_fd >= 0) {
    a.flags |= CLONE_INTO_CGROUP;
    a.cgroup = static_cast<uint64_t>(cgroup_fd);
  }
  a.pidfd = reinterpret_cast<uint64_t>(pidfd);
  a.exit_signal = SIGCHLD;
  long r = syscall(SYS_clone3, &a, sizeof(a));
  if (r < 0 && cgroup_fd >= 0 && (errno == EINVAL || errno == EOPNOTSUPP)) {
    a.flags &= ~static_cast<uint64_t>(CLONE_INTO_CGROUP);
    a.cgroup = 0;
    r = syscall(SYS_clone3, &a, sizeof(a));
  }
  if (r < 0 && errno == ENOSYS) {
    if (pidfd) *pidfd = -1;
    r = syscall(SYS_clone, flags | SIGCHLD, nullptr, nullptr, nullptr, nullptr);
  }
  if (r != 0 && dumpable > 0) {
    int err = errno;
    prctl(PR_SET_DUMPABLE, dumpable, 0, 0, 0);
    errno = err;
  }
  return static_cast<pid_t>(r);
}

void child_preamble(const std::vector<int>& close_fds, int preserve_fds) {
  for (int fd : close_fds) ::close(fd);
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  prctl(PR_SET_DUMPABLE, 0);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  for (int sig : {SIGPIPE, SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGTTOU, SIGTTIN, SIGTSTP, SIGCHLD})
    signal(sig, SIG_DFL);
  syscall(SYS_close_range, 3 + preserve_fds, ~0U, 1U << 2 /* CLOSE_RANGE_CLOEXEC */);
}

void child_fail(int sock, const Error& e) {
  (void)sync_send(sock, SyncType::Error, e.err, static_cast<int64_t>(e.kind) + 1, e.message);
  _exit(1);
}

std::vector<char*> cstr_array(const std::vector<std::string>& v) {
  std::vector<char*> out;
  for (auto& s : v) out.push_back(const_cast<char*>(s.c_str()));
  out.push_back(nullptr);
  return out;
}

static Status load_filter(const seccomp::Program* filter, int sock) {
  if (!filter) return {};
  phase::mark("process");
  int notify = -1;
  int r = seccomp::load(*filter, &notify);
  if (r < 0) return sys_error("load seccomp filter", -r);
  phase::mark("seccomp");
  if (notify >= 0) {
    CR_TRY(sync_send(sock, SyncType::Seccomp, 0, 0, "", notify));
    ::close(notify);
  }
  return {};
}

// The working directory must be reachable from our root: a cwd such as
// /proc/self/fd/N names a directory we still hold open (close-on-exec closes it
// only at execve), possibly one on the host (CVE-2024-21626). The kernel's
// getcwd says "(unreachable)..." for a directory outside the root, ENOENT for
// a removed one.
static Status check_cwd_inside(const std::string& cwd) {
  char buf[PATH_MAX];
  long r = syscall(SYS_getcwd, buf, sizeof buf);
  if (r < 0 && errno != ENOENT) return sys_error("getcwd after chdir to cwd (\"" + cwd + "\")");
  if (r < 0 || buf[0] != '/')
    return make_error(ErrorKind::Permission, "chdir to cwd (\"" + cwd +
                                                 "\") set in config.json: the directory is "
                                                 "outside the container");
  return {};
}

void dedup_env(std::vector<std::string>& env) {
  // Walk from the end so the last occurrence of each name is the one kept, at its own
  // position (runc's prepareEnv does the same, after Go's os/exec dedupEnv).
  std::unordered_set<std::string_view> seen;
  std::vector<bool> keep(env.size(), false);
  for (size_t i = env.size(); i-- > 0;) {
    std::string_view kv = env[i];
    keep[i] = seen.insert(kv.substr(0, kv.find('='))).second;
  }
  std::vector<std::string> out;
  out.reserve(seen.size());
  for (size_t i = 0; i < env.size(); i++)
    if (keep[i]) out.push_back(std::move(env[i]));
  env = std::move(out);
}

Result<std::string> finish_process(const spec::Process& proc, const CapSets& caps,
                                   const seccomp::Program* filter, int sock,
                                   std::vector<std::string>& env, EndDumpable dumpable) {
  auto mark_dumpable = [dumpable] {
    if (dumpable != EndDumpable::No) prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
  };
  dedup_env(env);
  bool has_home = false;
  for (auto& kv : env) has_home = has_home || kv.rfind("HOME=", 0) == 0;
  if (!has_home) env.push_back("HOME=" + home_of(proc.user.uid));
  // Before privileges go: a negative nice or a realtime policy needs CAP_SYS_NICE.
  CR_TRY(apply_scheduling(proc));
  bool cwd_done = chdir(proc.cwd.c_str()) == 0;
  int cwd_err = errno;
  if (cwd_done) CR_TRY(check_cwd_inside(proc.cwd));
  CR_TRY_CTX(drop_bounding(caps), "apply capabilities");
  if (!proc.no_new_privileges) {
    mark_dumpable();  // kept when set_user changes no id (the container's root)
    CR_TRY(load_filter(filter, sock));
  }
  CR_TRY(set_user(proc.user));
  if (!cwd_done) {
    if (chdir(proc.cwd.c_str()) < 0)
      return sys_error("chdir to cwd (\"" + proc.cwd + "\") set in config.json",
                       cwd_err == EACCES ? errno : cwd_err);
    CR_TRY(check_cwd_inside(proc.cwd));
  }
  CR_ASSIGN(std::string exe, find_executable(proc.args[0], env));
  CR_TRY_CTX(apply_caps(caps), "apply capabilities");
  CR_TRY(apparmor::apply_exec_profile(proc.apparmor_profile));
  CR_TRY(selinux::apply_exec_label(proc.selinux_label));
  if (proc.no_new_privileges) {
    mark_dumpable();
    CR_TRY(set_no_new_privs());
    CR_TRY(load_filter(filter, sock));
  } else if (!filter || dumpable == EndDumpable::AfterFilterToo) {
    mark_dumpable();
  }
  phase::mark("credentials");
  return exe;
}

Result<std::string> find_executable(const std::string& arg0, const std::vector<std::string>& env) {
  auto check = [](const std::string& p) -> int {
    struct stat st;
    if (stat(p.c_str(), &st) < 0) return errno;
    if (S_ISDIR(st.st_mode)) return EACCES;
    if (access(p.c_str(), X_OK) < 0) return errno;
    return 0;
  };
  if (arg0.find('/') != std::string::npos) {
    int e = check(arg0);
    if (e) return sys_error("exec: \"" + arg0 + "\"", e);
    return arg0;
  }
  std::string path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
  for (auto& kv : env)
    if (kv.rfind("PATH=", 0) == 0) path = kv.substr(5);
  int denied = 0;
  for (auto& dir : split(path, ':')) {
    std::string p = (dir.empty() ? "." : dir) + "/" + arg0;
    int e = check(p);
    if (e == 0) return p;
    if (e == EACCES) denied = e;
  }
  if (denied) return sys_error("exec: \"" + arg0 + "\"", denied);
  return Error{ErrorKind::NotFound, ENOENT,
               "exec: \"" + arg0 + "\": executable file not found in $PATH"};
}

}  // namespace crunner
