#include "libcontainer/exec.hpp"

#include <fcntl.h>
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <climits>
#include <cstdio>
#include <cstring>

#include "apparmor/apparmor.hpp"
#include "base/file.hpp"
#include "base/text.hpp"
#include "base/undo.hpp"
#include "cgroups/cgdir.hpp"
#include "libcontainer/container.hpp"
#include "libcontainer/exec_cgroup.hpp"
#include "libcontainer/flag_checks.hpp"
#include "libcontainer/phase.hpp"
#include "libcontainer/process_setup.hpp"
#include "libcontainer/selfexe.hpp"
#include "libcontainer/sync.hpp"
#include "libcontainer/terminal.hpp"
#include "selinux/selinux.hpp"

namespace crunner {

namespace {

struct NsJoin {
  spec::NsType type;
  UniqueFd fd;
};

bool same_ns(pid_t pid, const char* name) {
  struct stat a, b;
  std::string mine = std::string("/proc/self/ns/") + name;
  std::string theirs = "/proc/" + std::to_string(pid) + "/ns/" + name;
  if (stat(mine.c_str(), &a) < 0) return true;  // a kind this kernel lacks
  // Theirs unreadable (a rootless caller and an init not yet started, hence not dumpable):
  // "different", so that opening it fails with its error; taking it as "same" ran the
  // process in the caller's namespaces, outside the container.
  if (stat(theirs.c_str(), &b) < 0) return false;
  return a.st_ino == b.st_ino && a.st_dev == b.st_dev;
}

struct ChildPlan {
  const spec::Process* proc;
  int sock;
  std::vector<std::pair<int, int>> joins;  // user first
  int preserve_fds;
  CapSets caps;
  const seccomp::Program* seccomp = nullptr;
  std::vector<int> close_fds;
  int root_fd = -1;  // the init's root, chrooted into when the container has no mount namespace
  // Rootless: the container's pid namespace, which only its user namespace's root may enter.
  // The child joins it after the user namespace and forks the process into it.
  int pidns_fd = -1;
};

[[noreturn]] void exec_child(const ChildPlan& p) {
  const spec::Process& proc = *p.proc;
  child_preamble(p.close_fds, p.preserve_fds);
  auto go = sync_expect(p.sock, SyncType::MapsDone);
  if (!go) _exit(1);
  for (auto& [fd, type] : p.joins)
    if (setns(fd, type) < 0) child_fail(p.sock, sys_error("join the container's namespace"));
  if (p.pidns_fd >= 0) {
    if (setns(p.pidns_fd, CLONE_NEWPID) < 0)
      child_fail(p.sock, sys_error("enter the container's pid namespace"));
    pid_t c = fork();
    if (c < 0) child_fail(p.sock, sys_error("fork into the container's pid namespace"));
    if (c > 0) {
      (void)sync_send(p.sock, SyncType::Pid, 0, c);
      _exit(0);
    }
  }
  if (p.root_fd >= 0 && (fchdir(p.root_fd) < 0 || chroot(".") < 0 || chdir("/") < 0))
    child_fail(p.sock, sys_error("chroot into the container's root"));
  // In the container's user namespace, become its root (as runc's nsexec does),
  // so what we create (the pty) is owned by a mapped id.
  if (!p.joins.empty() && p.joins.front().second == CLONE_NEWUSER) {
    (void)!setresgid(0, 0, 0);
    (void)!setresuid(0, 0, 0);
  }
  if (setsid() < 0) child_fail(p.sock, sys_error("setsid"));
  if (proc.terminal) {
    auto m = setup_container_pty(proc.user.uid, proc.console_size, false);
    if (!m) child_fail(p.sock, m.error().context("set up terminal"));
    if (auto r = sync_send(p.sock, SyncType::Tty, 0, 0, "", m->get()); !r) _exit(1);
  }
  if (auto r = apply_rlimits(proc.rlimits); !r) child_fail(p.sock, r.error());
  std::vector<std::string> env = proc.env;
  auto exe = finish_process(proc, p.caps, p.seccomp, p.sock, env);
  if (!exe) child_fail(p.sock, exe.error());
  prctl(PR_SET_PDEATHSIG, 0);
  auto argv = cstr_array(proc.args);
  auto envp = cstr_array(env);
  execve(exe->c_str(), argv.data(), envp.data());
  child_fail(p.sock, sys_error("exec \"" + *exe + "\""));
}

// Writes pid to cgroup.procs of every v1 directory, and of the cgroup2 one unless
// CLONE_INTO_CGROUP already put it there (clone_child falls back without it on kernels
// that refuse it).
Status join_cgroups(pid_t pid, const SubCgroupTargets& t) {
  std::string p = std::to_string(pid);
  for (auto& d : t.v1_dirs) CR_TRY(write_file(d + "/cgroup.procs", p, O_WRONLY));
  if (t.unified_dir.empty()) return {};
  if (auto own = read_file("/proc/" + p + "/cgroup")) {
    for (auto& line : split(*own, '\n'))
      if (line.rfind("0::", 0) == 0 &&
          cgroups::path_join(t.unified_mount, line.substr(3)) == cgroups::clean_path(t.unified_dir))
        return {};
  }
  return write_file(t.unified_dir + "/cgroup.procs", p, O_WRONLY);
}

// The container's process.oomScoreAdj, which runc gives every exec'd process too (from
// config.json, not from the exec's process.json); without it the process keeps its caller's
// score (under Docker and CRI, the shim's), so exec probes and `kubectl exec` got another
// OOM priority than the container.
std::optional<int> container_oom_score_adj(const nlohmann::json& config) {
  if (!config.is_object() || !config.contains("process")) return std::nullopt;
  const auto& p = config["process"];
  if (!p.is_object() || !p.contains("oomScoreAdj") || !p["oomScoreAdj"].is_number_integer())
    return std::nullopt;
  return p["oomScoreAdj"].get<int>();
}

// The container's process.apparmorProfile and process.selinuxLabel go to an exec'd process
// that names none itself, also one given as --process FILE (runc starts an exec's settings
// from the container's config and lets the process override them): such a process ran
// unconfined before.
void inherit_lsm_labels(const nlohmann::json& config, spec::Process& proc) {
  if (!config.is_object() || !config.contains("process") || !config["process"].is_object()) return;
  const auto& p = config["process"];
  auto take = [&p](const char* key, std::string& field) {
    if (field.empty() && p.contains(key) && p[key].is_string()) field = p[key].get<std::string>();
  };
  take("apparmorProfile", proc.apparmor_profile);
  take("selinuxLabel", proc.selinux_label);
}

// Why a rootless created init stayed non-dumpable (container.cpp, finish_process): the
// container's ids could write our binary, or its seccomp filter was loaded before a change
// of user (no noNewPrivileges), which cleared the flag again where setting it could be refused.
std::string non_dumpable_reason(const nlohmann::json& config) {
  char buf[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  std::string exe = n > 0 ? std::string(buf, static_cast<size_t>(n)) : "crunner";
  std::string writable = "`" + exe + "` is writable by an id the container maps (CVE-2019-5736)";
  auto sp = spec::parse_spec(config.dump());
  if (!sp || !sp->process) return writable;
  const auto& l = sp->linux_or_empty();
  if (self_exe_writable_by(l.uid_mappings, l.gid_mappings)) return writable;
  return "its seccomp filter was loaded before its user changed (no noNewPrivileges)";
}

// Opens the init's namespace `name`. A rootless caller is refused that (EACCES) before start
// only when the init stayed non-dumpable (docs/DESIGN.md section 7, point 3): say why
// instead of "permission denied".
Result<UniqueFd> open_init_ns(pid_t pid, const char* name, const ContainerState& s,
                              ContainerStatus st) {
  auto fd = open_path("/proc/" + std::to_string(pid) + "/ns/" + name, O_RDONLY);
  if (fd || st != ContainerStatus::Created || geteuid() == 0 ||
      (fd.error().err != EACCES && fd.error().err != EPERM))
    return fd;
  return make_error(ErrorKind::BadState,
                    "cannot exec in created container `" + s.id +
                        "` before it starts: rootless, its init stays non-dumpable because " +
                        non_dumpable_reason(s.config) +
                        "; start the container first, or install crunner owned by an unmapped "
                        "user, not group- or world-writable, or on a read-only mount");
}

// What exec_process's steps share; `undo` kills and reaps the process if a later step fails.
struct Execution {
  Execution(const StateStore& st, const ExecOptions& opts) : store(st), o(opts) {}
  const StateStore& store;
  const ExecOptions& o;
  ContainerState s;
  ContainerStatus status = ContainerStatus::Stopped;
  spec::Process proc;
  ChildPlan plan;
  std::vector<UniqueFd> ns_fds;  // own the fds of plan.joins
  UniqueFd root_fd, pidns, own_pid, cg_fd;
  std::optional<seccomp::Program> filter;
  SubCgroupTargets cgt;
  pid_t pid = -1;  // the child, then (rootless) the process it forked
  Undo undo;
  UniqueFd sock;
  ExecLaunched l;
};

// The container's state (it must run, or be created, or paused with --ignore-paused) and the
// process to run in it, checked before anything is made.
Status check_exec(Execution& e) {
  const ExecOptions& o = e.o;
  std::pair<ContainerState, ContainerStatus> cs;
  if (o.loaded) {
    cs = *o.loaded;
  } else {
    CR_ASSIGN(cs, container_status(e.store, o.id));
  }
  e.s = std::move(cs.first);
  e.status = cs.second;
  phase::mark("load-state");
  if (cs.second == ContainerStatus::Stopped)
    return make_error(ErrorKind::BadState, "cannot exec in a stopped container");
  if (cs.second == ContainerStatus::Paused && !o.ignore_paused)
    return make_error(ErrorKind::BadState,
                      "cannot exec in a paused container (use --ignore-paused to override)");
  e.proc = o.process;
  inherit_lsm_labels(e.s.config, e.proc);
  const spec::Process& proc = e.proc;
  if (proc.args.empty()) return invalid_spec("process.args: must not be empty");
  CR_TRY(check_pid_file(o.pid_file));
  CR_TRY(check_preserve_fds(o.preserve_fds));
  for (size_t i = 0; i < proc.env.size(); i++)
    if (proc.env[i].find('=') == std::string::npos)
      return invalid_spec("process.env[" + std::to_string(i) +
                          "]: invalid environment variable \"" + proc.env[i] +
                          "\" (expected KEY=VALUE)");
  if (proc.terminal && o.console_socket.empty() && o.detach)
    return invalid_spec("--tty with --detach requires --console-socket");
  if (!proc.terminal && !o.console_socket.empty())
    return invalid_spec("--console-socket given but the process has no terminal");
  // As runc: a foreground exec proxies the pty itself; the socket is for detached callers.
  if (!o.detach && !o.console_socket.empty())
    return invalid_spec("--console-socket needs --detach (a foreground exec proxies the terminal)");
  return {};
}

// The container's namespaces that differ from ours (user first), its root when it has no
// mount namespace of its own (a directory of the host's, entered by chroot as the init did),
// and its pid namespace.
Status open_exec_namespaces(Execution& e) {
  static const std::pair<spec::NsType, const char*> order[] = {
      {spec::NsType::User, "user"}, {spec::NsType::Mount, "mnt"}, {spec::NsType::Network, "net"},
      {spec::NsType::Ipc, "ipc"},   {spec::NsType::Uts, "uts"},   {spec::NsType::Cgroup, "cgroup"},
      {spec::NsType::Time, "time"}};
  const std::string proc_dir = "/proc/" + std::to_string(e.s.pid);
  for (auto& [type, name] : order) {
    if (same_ns(e.s.pid, name)) continue;
    CR_ASSIGN(UniqueFd fd, open_init_ns(e.s.pid, name, e.s, e.status));
    e.plan.joins.emplace_back(fd.get(), spec::ns_clone_flag(type));
    e.ns_fds.push_back(std::move(fd));
  }
  if (e.s.host_mount_ns) {
    CR_ASSIGN(e.root_fd, open_path(proc_dir + "/root", O_PATH | O_DIRECTORY));
    e.plan.root_fd = e.root_fd.get();
  }
  if (!same_ns(e.s.pid, "pid")) {
    CR_ASSIGN(e.pidns, open_init_ns(e.s.pid, "pid", e.s, e.status));
    CR_ASSIGN(e.own_pid, open_path("/proc/self/ns/pid", O_RDONLY));
  }
  return {};
}

// LSM labels checked, the container's seccomp filter compiled (or from the cache), the
// process's capabilities converted.
Status prepare_exec_security(Execution& e) {
  const nlohmann::json& config = e.s.config;
  CR_TRY_CTX(apparmor::check_profile(e.proc.apparmor_profile), "process.apparmorProfile");
  CR_TRY(selinux::check_label("process.selinuxLabel", e.proc.selinux_label));
  std::vector<std::string> warnings;
  if (config.is_object() && config.contains("linux") && config["linux"].contains("seccomp") &&
      !config["linux"]["seccomp"].is_null()) {
    CR_ASSIGN(e.filter,
              seccomp::compile_cached(config["linux"]["seccomp"],
                                      seccomp::cache_dir_for_root(e.store.root()), &warnings));
    e.plan.seccomp = &*e.filter;
  }
  // The profile's warnings (unknown syscall names) were shown by create; the process's
  // capability warnings are this exec's own.
  std::vector<std::string> cap_warnings;
  e.plan.caps = cap_sets(e.proc.capabilities, &cap_warnings);
  for (auto& w : cap_warnings) fprintf(stderr, "warning: %s\n", w.c_str());
  return {};
}

// The container's cgroups (or the --cgroup sub-cgroups in them): the cgroup2 one (unified,
// or hybrid's unified hierarchy) is joined by clone3 CLONE_INTO_CGROUP, the v1 ones by
// writing the pid to their cgroup.procs before the child may go on.
Status resolve_exec_cgroups(Execution& e) {
  if (!e.s.cgroup.is_null()) {
    CR_ASSIGN(e.cgt, resolve_sub_cgroups(e.s.cgroup, e.o.sub_cgroups));
  } else if (!e.o.sub_cgroups.empty()) {
    return make_error(ErrorKind::Unsupported, "--cgroup: the container has no cgroup");
  }
  if (!e.cgt.unified_dir.empty()) {
    CR_ASSIGN(e.cg_fd, open_path(e.cgt.unified_dir, O_RDONLY | O_DIRECTORY));
  }
  phase::mark("prepare");
  return {};
}

// The child cloned straight into the container's pid namespace (entered by us for our
// children only) and cgroup.
Status spawn_exec(Execution& e) {
  ChildPlan& plan = e.plan;
  plan.proc = &e.proc;
  plan.preserve_fds = e.o.preserve_fds;
  int sp[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) < 0) return sys_error("socketpair");
  e.sock.reset(sp[0]);
  UniqueFd child_sock(sp[1]);
  plan.sock = child_sock.get();
  plan.close_fds.push_back(e.sock.get());
  if (e.pidns && setns(e.pidns.get(), CLONE_NEWPID) < 0) {
    // Rootless (as runc's nsexec): only the container's user namespace may enter its pid
    // namespace, so the child joins that first, then the pid namespace, and forks the process
    // there. A foreground exec reaps it as a subreaper; a detached one leaves it to the
    // caller's (containerd's shim and conmon are subreapers).
    const bool joins_user = !plan.joins.empty() && plan.joins.front().second == CLONE_NEWUSER;
    if (errno != EPERM || !joins_user) return sys_error("enter the container's pid namespace");
    plan.pidns_fd = e.pidns.get();
    if (!e.o.detach) prctl(PR_SET_CHILD_SUBREAPER, 1);
  }
  pid_t r = clone_child(0, nullptr, e.cg_fd.get());
  if (r == 0) exec_child(plan);
  int clone_err = errno;
  if (e.own_pid) setns(e.own_pid.get(), CLONE_NEWPID);
  if (r < 0) return sys_error("clone process", clone_err);
  phase::mark("clone");
  e.pid = e.l.pid = r;
  e.undo.add([&e] {
    kill(e.pid, SIGKILL);
    waitpid(e.pid, nullptr, 0);
  });
  return {};
}

// The child placed in the container's cgroups with its oomScoreAdj; MapsDone lets it go on.
Status place_exec(Execution& e) {
  CR_TRY_CTX(join_cgroups(e.pid, e.cgt), "join the container's cgroup");
  if (auto adj = container_oom_score_adj(e.s.config)) {
    CR_TRY_CTX(
        write_file("/proc/" + std::to_string(e.pid) + "/oom_score_adj", std::to_string(*adj)),
        "the container's process.oomScoreAdj");
  }
  CR_TRY(sync_send(e.sock.get(), SyncType::MapsDone));
  phase::mark("cgroup-join");
  return {};
}

// The child's requests answered until execve closes the socket (or the child was killed,
// which its exit status shows to a foreground caller).
Status answer_exec(Execution& e) {
  for (;;) {
    UniqueFd fd;
    auto m = sync_recv(e.sock.get(), &fd);
    if (!m) {
      if (m.error().message == "peer closed") break;  // execve closed the socket
      return std::move(m).error();
    }
    if (m->type == SyncType::Error) return sync_error(*m);
    if (m->type == SyncType::Pid && e.plan.pidns_fd >= 0) {  // the process, forked by the child
      int status;
      waitpid(e.pid, &status, 0);
      e.pid = e.l.pid = static_cast<pid_t>(m->arg);
    } else if (m->type == SyncType::Seccomp && e.filter) {
      CR_TRY_CTX(seccomp::send_to_listener(*e.filter, fd.get(), e.pid,
                                           oci_state(e.s, ContainerStatus::Running)),
                 "linux.seccomp.listenerPath");
    } else if (m->type == SyncType::Tty) {
      if (!e.o.console_socket.empty())
        CR_TRY(send_console_fd(e.o.console_socket, fd.get()));
      else
        e.l.tty_master = std::move(fd);
    }
  }
  phase::mark("exec");
  return {};
}

}  // namespace

Result<ExecLaunched> exec_process(const StateStore& store, const ExecOptions& o) {
  Execution e(store, o);
  CR_TRY(check_exec(e));
  CR_TRY(open_exec_namespaces(e));
  CR_TRY(prepare_exec_security(e));
  CR_TRY(resolve_exec_cgroups(e));
  CR_TRY(spawn_exec(e));
  CR_TRY(place_exec(e));
  CR_TRY(answer_exec(e));
  CR_TRY(write_pid_file(o.pid_file, e.pid));
  e.undo.dismiss();
  return std::move(e.l);
}

}  // namespace crunner
