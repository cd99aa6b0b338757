// The container init, numbered as in docs/DESIGN.md §3 (step 8). Runs in the
// clone3 child: single-threaded, no exceptions, every failure is reported to
// the parent in the child's own words (with errno) before _exit.
#include "libcontainer/init.hpp"

#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstring>

#include "base/error.hpp"
#include "base/fd.hpp"
#include "libcontainer/hooks.hpp"
#include "libcontainer/phase.hpp"
#include "libcontainer/rootfs.hpp"
#include "libcontainer/sync.hpp"
#include "libcontainer/terminal.hpp"

namespace crunner {

namespace {

[[noreturn]] void fail(int sock, const Error& e) {
  child_fail(sock, e);
}

#define INIT_TRY(expr, ctx)                                         \
  do {                                                              \
    auto&& r_ = (expr);                                             \
    if (!r_.ok()) fail(p.sock, std::move(r_.error().context(ctx))); \
  } while (0)

Status loopback_up() {
  int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s < 0) return sys_error("socket");
  UniqueFd sock(s);
  struct ifreq ifr = {};
  strncpy(ifr.ifr_name, "lo", IFNAMSIZ - 1);
  if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0) return sys_error("get flags of lo");
  ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
  if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0) return sys_error("set lo up");
  return {};
}

// Root of the user namespace we are in (its mapped uid/gid 0).
void become_root(const InitPlan& p) {
  if (setresgid(0, 0, 0) < 0) fail(p.sock, sys_error("setgid 0 in the user namespace"));
  if (setresuid(0, 0, 0) < 0) fail(p.sock, sys_error("setuid 0 in the user namespace"));
}

// 3, two-stage: the first child joins (user first, while it still holds the caps the joins
// need), unshares the user namespace and waits for its maps, unshares the rest and forks the
// init, which alone goes on.
void two_stage_fork(InitPlan& p) {
  for (auto& [fd, type] : p.joins)
    if (setns(fd, type) < 0) fail(p.sock, sys_error("join namespace (setns)"));
  if (p.new_userns) {
    if (unshare(CLONE_NEWUSER) < 0) fail(p.sock, sys_error("create user namespace"));
    if (auto r = sync_send(p.sock, SyncType::UserNs); !r) _exit(1);
    if (!sync_expect(p.sock, SyncType::MapsDone)) _exit(1);
  }
  become_root(p);
  if (unshare(p.unshare_flags & ~CLONE_NEWUSER) < 0) fail(p.sock, sys_error("create namespaces"));
  pid_t init = fork();
  if (init < 0) fail(p.sock, sys_error("fork the container init"));
  if (init > 0) {
    (void)sync_send(p.sock, SyncType::Pid, 0, init);
    _exit(0);
  }
  // The init's parent (the first child) exits now: no parent-death signal;
  // if crunner dies, the init sees EOF on the sync socket and exits.
  prctl(PR_SET_PDEATHSIG, 0);
  p.joins.clear();
}

// 3. Wait for the parent: id maps written, cgroups joined.
//    Rootless, the parent may write our maps (and setgroups) only while we are dumpable
//    (else /proc/<pid> belongs to root); nothing of the container runs yet (runc does so).
void wait_for_parent(InitPlan& p) {
  if (p.maps_by_unprivileged) {
    prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
    if (auto r = sync_send(p.sock, SyncType::UserNs); !r) _exit(1);
  }
  auto go = sync_expect(p.sock, SyncType::MapsDone);
  if (p.maps_by_unprivileged) prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  if (!go) _exit(1);
  if (p.two_stage) {
    two_stage_fork(p);
  } else if (p.new_userns) {
    become_root(p);
  }
  phase::mark("wait-parent");
}

// 4. Join namespaces given by path; the cgroup namespace is created now that
//    we are in our cgroups, so its root is the container's cgroup.
void enter_namespaces(InitPlan& p) {
  for (auto& [fd, type] : p.joins)
    if (setns(fd, type) < 0) fail(p.sock, sys_error("join namespace (setns)"));
  if (p.new_cgroupns && unshare(CLONE_NEWCGROUP) < 0)
    fail(p.sock, sys_error("create cgroup namespace"));
  if (setsid() < 0) fail(p.sock, sys_error("setsid"));
  // A session keyring of our own, named like runc's, so the container cannot
  // read the host session's keys (KEYCTL_JOIN_SESSION_KEYRING = 1).
  if (p.new_keyring) {
    std::string name = "_ses." + p.id;
    if (syscall(SYS_keyctl, 1, name.c_str()) < 0 && errno != ENOSYS && errno != EPERM)
      fail(p.sock, sys_error("join a new session keyring"));
  }
  if (p.new_netns) INIT_TRY(loopback_up(), "bring up loopback");
  phase::mark("namespaces");
}

// 6. prestart/createRuntime hooks run in the parent; it sends the state, returned for the
//    startContainer hooks. Without any hook in the config there is nothing to run and no
//    state to pass: no round trip.
std::string create_hooks(InitPlan& p) {
  const spec::Spec& s = *p.spec;
  if (s.hooks.empty()) return "";
  if (auto r = sync_send(p.sock, SyncType::Hooks); !r) _exit(1);
  auto hooks_done = sync_expect(p.sock, SyncType::HooksDone);
  if (!hooks_done) _exit(1);
  std::string state = hooks_done->text;
  // createContainer hooks run in the container's mount namespace with the rootfs as cwd,
  // as runc runs them.
  if (!s.hooks.create_container.empty() && chdir(p.rootfs.c_str()) < 0)
    fail(p.sock, sys_error("chdir `" + p.rootfs + "` for the createContainer hooks"));
  INIT_TRY(run_hooks(s.hooks.create_container, "createContainer", state), "createContainer hook");
  phase::mark("hooks");
  return state;
}

void set_names(InitPlan& p) {
  const spec::Spec& s = *p.spec;
  if (!s.hostname.empty() && sethostname(s.hostname.data(), s.hostname.size()) < 0)
    fail(p.sock, sys_error("sethostname `" + s.hostname + "`"));
  if (s.domainname && !s.domainname->empty() &&
      setdomainname(s.domainname->data(), s.domainname->size()) < 0)
    fail(p.sock, sys_error("setdomainname `" + *s.domainname + "`"));
}

// 8. Terminal: the pty lives in the container's devpts; the parent gets the master.
void send_terminal(InitPlan& p) {
  const spec::Process& proc = *p.spec->process;
  if (!proc.terminal) return;
  auto m = setup_container_pty(proc.user.uid, proc.console_size);
  if (!m) fail(p.sock, m.error().context("set up terminal"));
  INIT_TRY(sync_send(p.sock, SyncType::Tty, 0, 0, "", m->get()), "send pty master");
}

// 9. The process: rlimits, personality, cwd, user, capabilities, AppArmor, no_new_privs,
//    seccomp. Returns the program's path.
std::string prepare_process(InitPlan& p) {
  const spec::Process& proc = *p.spec->process;
  const auto& l = p.spec->linux_or_empty();
  INIT_TRY(apply_rlimits(proc.rlimits), "apply rlimits");
  if (l.personality_domain && *l.personality_domain == "LINUX32" && personality(PER_LINUX32) < 0)
    fail(p.sock, sys_error("linux.personality: set LINUX32"));
  auto exe = finish_process(proc, p.caps, p.seccomp, p.sock, p.env, p.dumpable_when_created);
  if (!exe) fail(p.sock, exe.error());
  return *exe;
}

// 10. Ready: the parent records us; we block until `start` writes exec.fifo.
void wait_for_start(InitPlan& p) {
  prctl(PR_SET_PDEATHSIG, 0);
  if (auto r = sync_send(p.sock, SyncType::Ready, 0, 0, phase::drain()); !r) _exit(1);
  ::close(p.sock);
  if (p.fifo_r < 0) return;
  int fl = fcntl(p.fifo_r, F_GETFL);
  fcntl(p.fifo_r, F_SETFL, fl & ~O_NONBLOCK);
  char c;
  ssize_t n;
  do {
    n = read(p.fifo_r, &c, 1);
  } while (n < 0 && errno == EINTR);
  if (n != 1) _exit(1);
}

// 11. startContainer hooks, then the program in place of this process. A failure is written
//     into exec.fifo for `start` (or `run`) to report ("E<text>"), and printed here only when
//     that write fails: under `run` both share a terminal, and the error was printed twice.
[[noreturn]] void fail_started(const InitPlan& p, const Error& e, int code) {
  std::string msg = "E" + e.what();
  size_t len = std::min<size_t>(msg.size(), 4000);
  if (write(p.fifo_w, msg.data(), len) != static_cast<ssize_t>(len))
    fprintf(stderr, "crunner: %s\n", e.what().c_str());
  _exit(code);
}

[[noreturn]] void exec_program(InitPlan& p, const std::string& exe, const std::string& state) {
  if (auto r = run_hooks(p.spec->hooks.start_container, "startContainer", state); !r)
    fail_started(p, r.error(), 1);
  auto argv = cstr_array(p.spec->process->args);
  auto envp = cstr_array(p.env);
  execve(exe.c_str(), argv.data(), envp.data());
  int e = errno;
  fail_started(p, sys_error("exec \"" + exe + "\"", e), e == ENOENT ? 127 : 126);
}

}  // namespace

void container_init(InitPlan& p) {
  // 1-2. Die with the parent while being set up; non-dumpable; no host fd
  //      other than stdio and the preserved ones survives execve.
  child_preamble(p.close_fds, p.preserve_fds);
  phase::buffer();  // sent to the parent with Ready
  wait_for_parent(p);
  enter_namespaces(p);
  // 5. Mounts and devices.
  RootfsConfig rc{p.spec, p.rootfs, p.bundle, p.no_pivot, p.new_userns || p.two_stage, {}, {}};
  rc.source_fds = p.source_fds;
  INIT_TRY(prepare_rootfs(rc), "prepare rootfs");
  phase::mark("mounts");
  std::string state = create_hooks(p);
  // 7. pivot_root, masked and readonly paths, sysctl, read-only root.
  INIT_TRY(finalize_rootfs(rc), "finalize rootfs");
  phase::mark("pivot");
  set_names(p);
  send_terminal(p);
  std::string exe = prepare_process(p);
  wait_for_start(p);
  exec_program(p, exe, state);
}

}  // namespace crunner
