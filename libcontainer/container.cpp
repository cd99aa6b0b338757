#include "libcontainer/container.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <climits>
#include <cstring>
#include <optional>
#include <utility>

#include "apparmor/apparmor.hpp"
#include "base/file.hpp"
#include "base/proc.hpp"
#include "base/text.hpp"
#include "base/time.hpp"
#include "base/undo.hpp"
#include "cgroups/manager.hpp"
#include "libcontainer/flag_checks.hpp"
#include "libcontainer/hooks.hpp"
#include "libcontainer/idmap.hpp"
#include "libcontainer/init.hpp"
#include "libcontainer/mount.hpp"
#include "libcontainer/namespaces.hpp"
#include "libcontainer/phase.hpp"
#include "libcontainer/process_setup.hpp"
#include "libcontainer/rootfs.hpp"
#include "libcontainer/spawn.hpp"
#include "libcontainer/spec.hpp"
#include "libcontainer/sync.hpp"
#include "libcontainer/terminal.hpp"
#include "seccomp/seccomp.hpp"
#include "selinux/selinux.hpp"

namespace crunner {

namespace {

std::string abs_path(const std::string& p) {
  char buf[PATH_MAX];
  if (realpath(p.c_str(), buf)) return buf;
  return {};
}

std::string describe_status(int status) {
  if (WIFEXITED(status)) return "exited with status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) {
    const char* a = sigabbrev_np(WTERMSIG(status));
    return std::string("was killed by signal ") +
           (a ? std::string("SIG") + a : std::to_string(WTERMSIG(status)));
  }
  return "ended";
}

// A cgroup the container joined (it existed before create) is removed only once nothing runs
// in it: its other processes are not ours to kill.
void destroy_if_empty(cgroups::Manager& m) {
  m.remove_unused();
}

// The state's cgroup was joined, not created (see create_container).
bool joined_cgroup(const ContainerState& s) {
  if (!s.cgroup.is_object()) return false;
  auto it = s.cgroup.find("shared");
  return it != s.cgroup.end() && it->is_boolean() && it->get<bool>();
}

std::string hook_state(const ContainerState& st, ContainerStatus s) {
  return oci_state(st, s).dump();
}

// Waits (up to ~10 s) for a process that is not our child to go away: its pidfd becomes
// readable when it exits (a zombie counts as gone). Polling /proc every 5 ms instead added
// 5 ms to every `delete --force` of a running container.
void wait_gone(const ContainerState& st) {
  UniqueFd pidfd(static_cast<int>(syscall(SYS_pidfd_open, st.pid, 0)));
  // The identity check comes after taking the pidfd: a reused pid is never waited for.
  if (!init_alive(st)) return;
  if (pidfd) {
    pollfd p{pidfd.get(), POLLIN, 0};
    while (poll(&p, 1, 10000) < 0 && errno == EINTR) {
    }
    return;
  }
  for (int i = 0; i < 2000 && init_alive(st); i++) usleep(5000);
}

// The container has a pid namespace of its own (not the host's, not one it joined by path):
// SIGKILL to its init makes the kernel kill every process of the namespace, and none can
// fork meanwhile (zap_pid_ns_processes), so no freezer is needed to stop forks racing the kill.
bool owns_pid_namespace(const ContainerState& s) {
  if (!s.config.is_object()) return false;
  auto lx = s.config.find("linux");
  if (lx == s.config.end() || !lx->is_object()) return false;
  auto ns = lx->find("namespaces");
  if (ns == lx->end() || !ns->is_array()) return false;
  for (const auto& n : *ns) {
    if (!n.is_object() || n.value("type", "") != "pid") continue;
    auto path = n.find("path");
    return path == n.end() || (path->is_string() && path->get<std::string>().empty());
  }
  return false;
}

}  // namespace

Result<int> parse_signal(const std::string& s) {
  long long n;
  if (parse_i64(s, n)) {
    // 0 is accepted, as runc: it only checks that the process is there.
    if (n < 0 || n > SIGRTMAX) return make_error(ErrorKind::InvalidSpec, "invalid signal " + s);
    return static_cast<int>(n);
  }
  std::string u;
  for (char c : s) u += static_cast<char>(toupper(static_cast<unsigned char>(c)));
  if (u.rfind("SIG", 0) == 0) u = u.substr(3);
  for (int i = 1; i < NSIG; i++) {
    const char* a = sigabbrev_np(i);
    if (a && u == a) return i;
  }
  if (u.rfind("RTMIN+", 0) == 0 && parse_i64(u.substr(6), n)) return SIGRTMIN + static_cast<int>(n);
  if (u.rfind("RTMAX-", 0) == 0 && parse_i64(u.substr(6), n)) return SIGRTMAX - static_cast<int>(n);
  return make_error(ErrorKind::InvalidSpec, "unknown signal \"" + s + "\"");
}

Result<cgroups::Resources> container_resources(const spec::Linux& lx) {
  cgroups::Resources res;
  if (!lx.resources.is_null()) {
    auto r = cgroups::parse_resources(lx.resources);
    if (!r) return invalid_config(std::move(r).error());
    res = std::move(*r);
  }
  // linux.devices nodes are not allowed implicitly (runc).
  res.devices = cgroups::container_device_rules(res.devices);
  return res;
}

Error invalid_config(Error e) {
  if (e.kind == ErrorKind::InvalidSpec) e.context("invalid configuration");
  return e;
}

Result<LoadedBundle> load_bundle(const std::string& bundle_arg) {
  LoadedBundle b;
  b.dir = abs_path(bundle_arg.empty() ? "." : bundle_arg);
  if (b.dir.empty()) return sys_error("bundle `" + bundle_arg + "`");
  auto loaded = spec::load_spec(b.dir);
  if (!loaded) return invalid_config(std::move(loaded).error());
  b.spec = std::move(*loaded);
  if (auto v = spec::validate(b.spec); !v) return invalid_config(std::move(v).error());
  for (auto& w : spec::warnings(b.spec)) fprintf(stderr, "warning: %s\n", w.c_str());
  const spec::Spec& sp = b.spec;
  std::string root_path = sp.root.path[0] == '/' ? sp.root.path : b.dir + "/" + sp.root.path;
  b.rootfs = abs_path(root_path);
  if (b.rootfs.empty()) return sys_error("root.path: rootfs `" + root_path + "`");
  if (b.rootfs == "/")
    return invalid_spec("root.path: rootfs `" + root_path +
                        "` resolves to the host's root directory `/`");
  return b;
}

ContainerState provisional_state(const std::string& id, const LoadedBundle& b,
                                 const cgroups::Manager& cg, bool systemd_cgroup) {
  ContainerState st;
  st.id = id;
  // The state (and hooks' stdin) says 1.x even when config.json did not (runc's state
  // always carries its own version).
  st.oci_version = b.spec.oci_version.rfind("1.", 0) == 0 ? b.spec.oci_version : "1.2.0";
  st.bundle = b.dir;
  st.rootfs = b.rootfs;
  st.annotations = b.spec.annotations;
  st.cgroup = cg.to_json();
  st.systemd_cgroup = systemd_cgroup;
  st.provisional = true;
  return st;
}

namespace {

// What create_container's steps share: each reads what the earlier ones made, and adds to
// `undo` how to take away what it made itself. What the undo steps use is declared before
// `undo`, so it is still there when they run.
struct Creation {
  Creation(const StateStore& s, const CreateOptions& opts) : store(s), o(opts) {}
  const StateStore& store;
  const CreateOptions& o;
  LoadedBundle lb;
  NamespacePlan ns;
  cgroups::Resources res;
  std::unique_ptr<cgroups::Manager> cg;
  bool shared_cg = false;  // the cgroup existed before create: others' processes may be there
  std::optional<seccomp::Program> filter;
  InitPlan plan;
  ContainerState st;
  pid_t pid = -1;                                     // the init, while it is ours to kill and reap
  const std::vector<spec::Hook>* poststop = nullptr;  // set once create hooks may have run
  std::string stopped_state;
  Undo undo;
  UniqueFd lock, fifo_r, fifo_w, sock;
  Launched l;

  const spec::Process& proc() const { return *lb.spec.process; }
  const spec::Linux& lx() const { return lb.spec.linux_or_empty(); }
};

Status check_terminal(const CreateOptions& o, const spec::Process& proc) {
  if (proc.terminal && o.console_socket.empty() && !o.foreground)
    return invalid_spec("process.terminal is true: --console-socket is required");
  if (!proc.terminal && !o.console_socket.empty())
    return invalid_spec("--console-socket given but process.terminal is false");
  struct stat sock_st;
  if (!o.console_socket.empty() && stat(o.console_socket.c_str(), &sock_st) < 0)
    return sys_error("--console-socket `" + o.console_socket + "`");
  return {};
}

// Without a mount namespace (the spec: an unlisted namespace is inherited) the init mounts
// into the host's, under the rootfs, and chroots; what would change the host's own mounts is
// refused (runc refuses masked and readonly paths the same way).
Status check_host_mounts(const spec::Linux& lx) {
  if (lx.has_ns(spec::NsType::Mount)) return {};
  const char* why = " needs a private mount namespace (linux.namespaces has no \"mount\")";
  if (!lx.masked_paths.empty()) return invalid_spec(std::string("linux.maskedPaths:") + why);
  if (!lx.readonly_paths.empty()) return invalid_spec(std::string("linux.readonlyPaths:") + why);
  if (!lx.rootfs_propagation.empty())
    return invalid_spec(std::string("linux.rootfsPropagation:") + why);
  return {};
}

// The LSM labels checked (the AppArmor profile loaded, SELinux on when labels are asked
// for), the seccomp filter compiled here or taken from the cache (the init only loads it),
// the capabilities converted.
Status prepare_security(Creation& c) {
  const spec::Process& proc = c.proc();
  const spec::Linux& lx = c.lx();
  std::vector<std::string> warnings;
  CR_TRY_CTX(apparmor::check_profile(proc.apparmor_profile), "process.apparmorProfile");
  CR_TRY(selinux::check_label("process.selinuxLabel", proc.selinux_label));
  CR_TRY(selinux::check_label("linux.mountLabel", lx.mount_label));
  if (!lx.seccomp.is_null()) {
    CR_ASSIGN(c.filter, seccomp::compile_cached(
                            lx.seccomp, seccomp::cache_dir_for_root(c.store.root()), &warnings));
    c.plan.seccomp = &*c.filter;
  }
  c.plan.caps = cap_sets(proc.capabilities, &warnings);
  for (auto& w : warnings) fprintf(stderr, "warning: %s\n", w.c_str());
  return {};
}

// Step 1, before anything exists: config.json and the options validated, the namespaces
// to join opened, linux.resources parsed, the cgroup manager made, security prepared.
Status load_and_validate(Creation& c) {
  if (!valid_container_id(c.o.id)) return invalid_spec("invalid container ID format");
  CR_ASSIGN(c.lb, load_bundle(c.o.bundle));
  CR_TRY(check_terminal(c.o, c.proc()));
  CR_TRY(check_host_mounts(c.lx()));
  phase::mark("parse");
  CR_ASSIGN(c.ns, plan_namespaces(c.lx()));
  CR_ASSIGN(c.res, container_resources(c.lx()));
  cgroups::ManagerOptions mopts;
  mopts.rootless = c.o.rootless_cgroups;
  CR_ASSIGN(c.cg, cgroups::make_manager(c.lx().cgroups_path, c.o.id, c.o.systemd_cgroup, mopts));
  CR_TRY(prepare_security(c));
  phase::mark("prepare");
  CR_TRY(check_pid_file(c.o.pid_file));
  return check_preserve_fds(c.o.preserve_fds);
}

// Step 2: the id claimed. The state directory (its creation is the existence check), locked;
// the provisional record; exec.fifo with both ends open. The container exists from here on.
Status claim_id(Creation& c) {
  CR_TRY(c.store.create_dir(c.o.id));
  c.undo.add([&c] {
    (void)c.store.remove(c.o.id);
    // runtime.md: a failed create hook stops the container and continues with delete,
    // whose poststop hooks run (failures are warnings).
    if (c.poststop && !c.poststop->empty())
      run_hooks_warn(*c.poststop, "poststop", c.stopped_state);
  });
  CR_ASSIGN(c.lock, c.store.lock(c.o.id));
  // The provisional record: saved before anything else exists and again as each pid
  // appears, so that `delete --force` finds every step's leftovers (cgroups, the init)
  // even when this process is killed half-way. It stays "creating" until the last save.
  c.st = provisional_state(c.o.id, c.lb, *c.cg, c.o.systemd_cgroup);
  if (!c.lx().has_ns(spec::NsType::Mount)) {
    c.st.host_mount_ns = true;
    CR_ASSIGN(c.st.host_mounts_before, mount_ids_under(c.lb.rootfs));
    // No mount namespace: the mounts under this rootfs in the host's namespace are undone,
    // except those that were there before.
    c.undo.add([rootfs = c.lb.rootfs, before = c.st.host_mounts_before] {
      (void)release_host_mounts(rootfs, before);
    });
  }
  std::string fifo = c.store.fifo_path(c.o.id);
  if (mkfifo(fifo.c_str(), 0622) < 0) return sys_error("create `" + fifo + "`");
  CR_ASSIGN(c.fifo_r, open_path(fifo, O_RDONLY | O_NONBLOCK));
  CR_ASSIGN(c.fifo_w, open_path(fifo, O_WRONLY));
  phase::mark("state-dir");
  return {};
}

// Step 3: the cgroup, before the init, so it never runs outside it. An existing cgroup is
// joined, as runc does (a caller may have prepared it); only a frozen one is refused, since
// the init could never run there. Such a shared cgroup's other processes are not ours: a
// failed create or a delete kills only our init and leaves a non-empty cgroup in place.
Status prepare_cgroup(Creation& c) {
  cgroups::Manager& cg = *c.cg;
  c.shared_cg = cg.exists();
  if (c.shared_cg) {
    if (auto f = cg.frozen(); f.ok() && *f)
      return make_error(ErrorKind::BadState,
                        "container's cgroup unexpectedly frozen: `" + cg.path() + "`");
    if (auto ps = cg.pids(); ps.ok() && !ps->empty())
      // runc 1.1.5's words, uninterrupted ("container's cgroup is not empty: N process(es)
      // found"): scripts around Docker match them; then which cgroup.
      fprintf(stderr, "warning: container's cgroup is not empty: %zu process(es) found (`%s`)\n",
              ps->size(), cg.path().c_str());
    c.st.cgroup["shared"] = true;
  }
  CR_TRY(c.store.save(c.st));
  CR_TRY_CTX(cg.create(), "create cgroup");
  c.undo.add([&cg, shared = c.shared_cg] {
    if (shared) return destroy_if_empty(cg);
    (void)cg.kill_all(SIGKILL);
    (void)cg.destroy();
  });
  CR_TRY_CTX(cg.apply(c.res), "linux.resources");
  phase::mark("cgroups");
  return {};
}

// Step 4: the init cloned (spawn.cpp) with everything it needs, its pid recorded.
Status start_init(Creation& c) {
  InitPlan& p = c.plan;
  p.spec = &c.lb.spec;
  p.rootfs = c.lb.rootfs;
  p.bundle = c.lb.dir;
  p.id = c.o.id;
  p.fifo_r = c.fifo_r.get();
  p.fifo_w = c.fifo_w.get();
  p.no_pivot = c.o.no_pivot;
  p.new_keyring = !c.o.no_new_keyring;
  p.env = c.proc().env;
  p.preserve_fds = c.o.preserve_fds;
  p.close_fds.push_back(c.lock.get());
  // On a pure v2 host the init is cloned straight into its cgroup.
  UniqueFd cg_fd;
  if (c.cg->mode() == cgroups::Mode::Unified) {
    if (auto fd = c.cg->unified_dir_fd()) cg_fd = std::move(*fd);
  }
  CR_ASSIGN(SpawnedInit init, spawn_init(p, c.ns, c.lx(), cg_fd.get()));
  phase::mark("clone");
  c.pid = init.pid;
  c.undo.add([&c] {
    if (c.pid <= 0) return;
    kill(c.pid, SIGKILL);
    waitpid(c.pid, nullptr, 0);
  });
  c.sock = std::move(init.sock);
  c.l.pidfd = std::move(init.pidfd);
  c.st.pid = c.pid;
  c.st.start_time = process_start_time(c.pid);
  return c.store.save(c.st);
}

// The child's error, or how it died when it could not say. A child killed by the OOM killer
// (a memory limit below what setup needs) resets the socket (ECONNRESET) rather than closing
// it: both mean "say how it died".
Error setup_failure(Creation& c, Error e) {
  if (!((e.message == "peer closed" && e.err == 0) || e.err == ECONNRESET)) return e;
  int status = 0;
  if (waitpid(c.pid, &status, 0) != c.pid) return e;
  c.pid = -1;
  std::string how = "container init " + describe_status(status) + " during setup";
  if (WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) {
    auto stats = c.cg->stats();
    if (stats && stats->memory.oom_kill > 0)
      how =
          "container init was killed by the OOM killer during setup: "
          "linux.resources.memory.limit " +
          (c.res.memory.limit ? std::to_string(*c.res.memory.limit) : std::string("")) +
          " is too low";
  }
  return make_error(ErrorKind::Internal, how);
}

// Step 5: the init placed: its id maps written (idmap.cpp; a two-stage first child asks for
// them itself, see answer_init), its cgroups joined (idempotent after CLONE_INTO_CGROUP)
// before it may unshare its cgroup namespace, oomScoreAdj set. MapsDone lets it go on.
Status place_init(Creation& c) {
  if (c.plan.maps_by_unprivileged) {  // the init says when it is dumpable (see init.cpp)
    auto ready = sync_expect(c.sock.get(), SyncType::UserNs);
    if (!ready) return setup_failure(c, std::move(ready).error());
  }
  if (c.ns.new_userns && !c.ns.two_stage) CR_TRY(write_id_maps(c.pid, c.lx()));
  CR_TRY_CTX(c.cg->add_pid(c.pid), "join cgroup");
  if (auto adj = c.proc().oom_score_adj)
    CR_TRY_CTX(
        write_file("/proc/" + std::to_string(c.pid) + "/oom_score_adj", std::to_string(*adj)),
        "process.oomScoreAdj");
  CR_TRY(sync_send(c.sock.get(), SyncType::MapsDone));
  phase::mark("cgroup-join");
  return {};
}

// Two-stage: the first child forked the init (host pid `init`) and exits.
Status adopt_init(Creation& c, pid_t init) {
  int status;
  waitpid(c.pid, &status, 0);
  c.pid = init;
  c.l.pidfd.reset(static_cast<int>(syscall(SYS_pidfd_open, init, 0)));
  c.st.pid = init;
  c.st.start_time = process_start_time(init);
  return c.store.save(c.st);
}

// The init's mounts are done: prestart and createRuntime hooks; from here a failure runs
// the poststop hooks too.
Status run_create_hooks(Creation& c) {
  const spec::Hooks& h = c.lb.spec.hooks;
  std::string s = hook_state(c.st, ContainerStatus::Created);
  c.poststop = &h.poststop;
  c.stopped_state = hook_state(c.st, ContainerStatus::Stopped);
  CR_TRY(run_hooks(h.prestart, "prestart", s));
  CR_TRY(run_hooks(h.create_runtime, "createRuntime", s));
  return sync_send(c.sock.get(), SyncType::HooksDone, 0, 0, s);
}

// One request of the init during its setup (sync.hpp's table).
Status answer(Creation& c, const SyncMsg& m, UniqueFd fd) {
  switch (m.type) {
    case SyncType::Error:
      return sync_error(m);
    case SyncType::UserNs:  // two-stage: the first child unshared its user namespace
      CR_TRY(write_id_maps(c.pid, c.lx()));
      return sync_send(c.sock.get(), SyncType::MapsDone);
    case SyncType::Pid:
      return adopt_init(c, static_cast<pid_t>(m.arg));
    case SyncType::Hooks:
      return run_create_hooks(c);
    case SyncType::Tty:
      if (c.o.console_socket.empty()) {
        c.l.tty_master = std::move(fd);
        return {};
      }
      return send_console_fd(c.o.console_socket, fd.get());
    case SyncType::Seccomp:
      if (!c.filter) return {};
      CR_TRY_CTX(seccomp::send_to_listener(*c.filter, fd.get(), c.pid,
                                           oci_state(c.st, ContainerStatus::Creating)),
                 "linux.seccomp.listenerPath");
      return {};
    default:
      return make_error(ErrorKind::Internal,
                        std::string("unexpected message from init: ") + sync_type_name(m.type));
  }
}

// Step 6: the init's steps, answered until it is Ready (blocked before execve).
Status answer_init(Creation& c) {
  c.st.created = now_rfc3339_nano();
  for (;;) {
    UniqueFd fd;
    auto m = sync_recv(c.sock.get(), &fd);
    if (!m) return setup_failure(c, std::move(m).error());
    if (m->type == SyncType::Ready) {
      phase::mark("wait-init");
      phase::replay(std::string(m->text, strnlen(m->text, sizeof m->text)), "init:");
      return {};
    }
    CR_TRY(answer(c, *m, std::move(fd)));
  }
}

// Step 7: the state recorded for good (no longer provisional, the config included), the
// pid file written.
Status record_state(Creation& c) {
  c.st.config = c.lb.spec.raw;
  c.st.provisional = false;
  // Rootless: the hierarchies create/add_pid had to drop (permission denied, no limits
  // asked) are not the container's: exec, stats and delete must not look for them.
  c.st.cgroup = c.cg->to_json();
  if (c.shared_cg) c.st.cgroup["shared"] = true;
  CR_TRY(c.store.save(c.st));
  return write_pid_file(c.o.pid_file, c.pid);
}

}  // namespace

Result<Launched> create_container(const StateStore& store, const CreateOptions& o) {
  Creation c(store, o);
  CR_TRY(load_and_validate(c));
  CR_TRY(claim_id(c));
  CR_TRY(prepare_cgroup(c));
  CR_TRY(start_init(c));
  CR_TRY(place_init(c));
  CR_TRY(answer_init(c));
  CR_TRY(record_state(c));
  c.undo.dismiss();
  phase::mark("state");
  c.l.state = std::move(c.st);
  if (o.for_run) c.l.fifo_w = std::move(c.fifo_w);
  return std::move(c.l);
}

std::unique_ptr<cgroups::Manager> cgroup_of(const ContainerState& s) {
  if (s.cgroup.is_null()) return nullptr;
  auto m = cgroups::load_manager(s.cgroup);
  if (!m) return nullptr;
  return std::move(*m);
}

Result<std::pair<ContainerState, ContainerStatus>> container_status(const StateStore& store,
                                                                    const std::string& id) {
  if (!valid_container_id(id))
    return make_error(ErrorKind::InvalidSpec, "invalid container ID format");
  CR_ASSIGN(ContainerState s, store.load(id));
  bool frozen = false;
  if (init_alive(s)) {
    if (auto m = cgroup_of(s)) {
      auto f = m->frozen();
      frozen = f && *f;
    }
  }
  ContainerStatus st = derive_status(s, store, frozen);
  return std::make_pair(std::move(s), st);
}

Status pause_container(const StateStore& store, const std::string& id, bool pause) {
  CR_ASSIGN(auto cs, container_status(store, id));
  CR_ASSIGN(UniqueFd lock, store.lock(id));
  CR_ASSIGN(cs, container_status(store, id));
  auto& [s, st] = cs;
  if (pause && st != ContainerStatus::Running && st != ContainerStatus::Created)
    return make_error(ErrorKind::BadState, "container not running");
  if (!pause && st != ContainerStatus::Paused)
    return make_error(ErrorKind::BadState, "container not paused");
  auto m = cgroup_of(s);
  if (!m) return make_error(ErrorKind::Unsupported, "container has no cgroup to freeze");
  return m->freeze(pause);
}

// Starts the init through exec.fifo and waits until it has exec'd the program.
// `rfd` is a read end we opened BEFORE opening the writer we signal with, so
// poll() reports POLLHUP once every writer is gone: the init's own write end is
// O_CLOEXEC, so that is the moment of execve (or of its death). A failure after
// start (startContainer hook, execve) is written by the init into the fifo as
// "E<message>"; a leftover "0" means it died before it read our byte.
static Status signal_and_await(const std::string& fifo, int rfd) {
  int wfd = ::open(fifo.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC);
  if (wfd < 0) {
    if (errno == ENXIO) return make_error(ErrorKind::BadState, "container not running");
    return sys_error("open exec fifo");
  }
  UniqueFd w(wfd);
  CR_TRY(write_all(wfd, "0", 1));
  w.reset();
  for (;;) {
    struct pollfd p = {rfd, 0, 0};
    int r = poll(&p, 1, -1);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return sys_error("wait for the container to start");
    if (p.revents & (POLLHUP | POLLERR)) break;
  }
  std::string left;
  char buf[4096];
  ssize_t n;
  while ((n = read(rfd, buf, sizeof(buf))) > 0) left.append(buf, n);
  if (left.empty()) return {};
  if (left[0] == 'E') return make_error(ErrorKind::Internal, left.substr(1));
  return make_error(ErrorKind::BadState, "the container's init exited before it was started");
}

// The saved config's hooks, parsed only when it has any (a whole-spec parse is not free).
static bool has_hooks(const ContainerState& s) {
  return s.config.is_object() && s.config.contains("hooks") && !s.config.at("hooks").empty();
}

static void run_poststart(const ContainerState& s) {
  if (!has_hooks(s)) return;
  auto sp = spec::parse_spec(s.config.dump());
  if (sp && !sp->hooks.poststart.empty())
    run_hooks_warn(sp->hooks.poststart, "poststart", hook_state(s, ContainerStatus::Running));
}

Status start_container(const StateStore& store, const std::string& id) {
  CR_ASSIGN(auto cs, container_status(store, id));
  CR_ASSIGN(UniqueFd lock, store.lock(id));
  CR_ASSIGN(cs, container_status(store, id));
  auto& [s, st] = cs;
  if (st == ContainerStatus::Stopped)
    return make_error(ErrorKind::BadState, "cannot start a container that has stopped");
  if (st != ContainerStatus::Created)
    return make_error(ErrorKind::BadState,
                      std::string("cannot start an already ") + status_name(st) + " container");
  std::string fifo = store.fifo_path(id);
  // Probe first: ENXIO (no reader) means the init is gone.
  int probe = ::open(fifo.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC);
  if (probe < 0) {
    if (errno == ENXIO) return make_error(ErrorKind::BadState, "container not running");
    return sys_error("open exec fifo");
  }
  ::close(probe);
  CR_ASSIGN(UniqueFd rfd, open_path(fifo, O_RDONLY | O_NONBLOCK));
  phase::mark("load-state");
  auto r = signal_and_await(fifo, rfd.get());
  (void)unlink(fifo.c_str());
  CR_TRY(r);
  phase::mark("exec");
  run_poststart(s);
  phase::mark("poststart");
  return {};
}

Status start_launched(const StateStore& store, Launched& l) {
  std::string fifo = store.fifo_path(l.state.id);
  CR_ASSIGN(UniqueFd rfd, open_path(fifo, O_RDONLY | O_NONBLOCK));
  l.fifo_w.reset();
  auto r = signal_and_await(fifo, rfd.get());
  (void)unlink(fifo.c_str());
  CR_TRY(r);
  phase::mark("exec");
  run_poststart(l.state);
  phase::mark("poststart");
  return {};
}

Status kill_container(const StateStore& store, const std::string& id, int sig, bool all) {
  CR_ASSIGN(auto cs, container_status(store, id));
  auto& [s, st] = cs;
  if (all) {
    if (auto m = cgroup_of(s); m && m->exists()) {
      CR_TRY(m->kill_all(sig));
      return {};
    }
  }
  if (st == ContainerStatus::Stopped || st == ContainerStatus::Creating) {
    if (all) return {};
    return make_error(ErrorKind::BadState, "container not running");
  }
  int pfd = static_cast<int>(syscall(SYS_pidfd_open, s.pid, 0));
  UniqueFd pidfd(pfd);
  // Re-check identity after taking the pidfd, so a reused pid is never signalled.
  if (!init_alive(s)) {
    if (all) return {};
    return make_error(ErrorKind::BadState, "container not running");
  }
  int r = pfd >= 0 ? static_cast<int>(syscall(SYS_pidfd_send_signal, pfd, sig, nullptr, 0))
                   : kill(s.pid, sig);
  if (r < 0) {
    if (errno == ESRCH) return make_error(ErrorKind::BadState, "container not running");
    return sys_error("kill container init " + std::to_string(s.pid));
  }
  if (sig == SIGKILL && st == ContainerStatus::Paused) {
    if (auto m = cgroup_of(s)) (void)m->freeze(false);
  }
  return {};
}

namespace {

Status release_mounts_of(const ContainerState& s) {
  if (!s.host_mount_ns) return {};
  CR_TRY_CTX(release_host_mounts(s.rootfs, s.host_mounts_before),
             "unmount the container's mounts under `" + s.rootfs + "`");
  return {};
}

// Kills what is left of a creation that never finished (its creator was killed): the
// init recorded in the provisional state and everything in its cgroups (in a joined
// cgroup only our init; the cgroup goes when it is then empty).
Status clean_provisional(const StateStore& store, const ContainerState& s) {
  if (s.pid > 0) {
    UniqueFd pidfd(static_cast<int>(syscall(SYS_pidfd_open, s.pid, 0)));
    // The identity check comes after taking the pidfd: a reused pid is never signalled.
    if (pidfd && init_alive(s)) {
      syscall(SYS_pidfd_send_signal, pidfd.get(), SIGKILL, nullptr, 0);
      wait_gone(s);
    }
  }
  if (auto m = cgroup_of(s); m && m->exists()) {
    if (joined_cgroup(s)) {  // a cgroup we joined keeps its other processes
      destroy_if_empty(*m);
    } else {
      CR_TRY_CTX(m->kill_all(SIGKILL), "kill the processes of cgroup `" + m->path() + "`");
      CR_TRY_CTX(m->destroy(), "remove cgroup");
    }
  }
  CR_TRY(release_mounts_of(s));
  return store.remove(s.id);
}

// delete --force of a container whose state.json cannot be read: the default cgroup
// (derived from the id alone) is emptied and removed when it exists. Nothing else can
// be derived, so otherwise the error stands: success could hide a live container.
Status delete_unreadable(const StateStore& store, const std::string& id, Error why) {
  for (bool systemd : {false, true}) {
    auto m = cgroups::make_manager("", id, systemd);
    if (!m || !(*m)->exists()) continue;
    CR_TRY_CTX((*m)->kill_all(SIGKILL), "kill the processes of cgroup `" + (*m)->path() + "`");
    CR_TRY_CTX((*m)->destroy(), "remove cgroup");
    return store.remove(id);
  }
  return why.context(
      "delete --force: cannot tell which processes and cgroups the container "
      "has (remove `" +
      store.dir(id) + "` by hand once they are gone)");
}

}  // namespace

Status delete_container(const StateStore& store, const std::string& id, bool force) {
  if (!valid_container_id(id))
    return make_error(ErrorKind::InvalidSpec, "invalid container ID format");
  // Lock first, then read: of concurrent deletes one wins and the others find the
  // directory gone ("does not exist"), so poststop hooks run exactly once.
  auto lock = store.lock(id);
  if (!lock) {
    if (force && lock.error().kind == ErrorKind::NotFound) {
      (void)store.remove(id);
      return {};
    }
    return std::move(lock).error();
  }
  auto loaded = store.load(id);
  if (!loaded) {
    if (force && loaded.error().kind == ErrorKind::NotFound) {
      (void)store.remove(id);
      return {};
    }
    if (force) return delete_unreadable(store, id, std::move(loaded).error());
    return std::move(loaded).error();
  }
  ContainerState s = std::move(*loaded);
  ContainerStatus st = derive_status(s, store, false);
  if (st == ContainerStatus::Creating) return clean_provisional(store, s);
  phase::mark("load-state");
  if (st == ContainerStatus::Running || st == ContainerStatus::Paused) {
    if (!force)
      return make_error(ErrorKind::BadState, "cannot delete container " + id +
                                                 " that is not stopped: " + status_name(st));
  }
  if (st != ContainerStatus::Stopped && st != ContainerStatus::Creating) {
    // In a joined (shared) cgroup only our init is killed, as runc does. A running
    // container with a pid namespace of its own goes with its init; whatever is left in its
    // cgroup (processes moved in from outside the namespace) is killed below, frozen.
    bool all =
        !joined_cgroup(s) && !((st == ContainerStatus::Running || st == ContainerStatus::Created) &&
                               owns_pid_namespace(s));
    // An init that died meanwhile ("not running") is what delete wants anyway.
    if (auto k = kill_container(store, id, SIGKILL, all);
        !k && k.error().kind != ErrorKind::BadState)
      return std::move(k).error();
    wait_gone(s);
    phase::mark("kill");
  }
  bool run_poststop = st != ContainerStatus::Creating;
  CR_TRY(release_mounts_of(s));
  if (auto m = cgroup_of(s)) {
    if (m->exists() && joined_cgroup(s)) {
      destroy_if_empty(*m);
    } else if (m->exists()) {
      (void)m->kill_all(SIGKILL);
      CR_TRY_CTX(m->destroy(), "remove cgroup");
    }
  }
  phase::mark("cgroups");
  CR_TRY(store.remove(id));
  phase::mark("state");
  if (run_poststop && has_hooks(s)) {
    auto sp = spec::parse_spec(s.config.dump());
    if (sp && !sp->hooks.poststop.empty())
      run_hooks_warn(sp->hooks.poststop, "poststop", hook_state(s, ContainerStatus::Stopped));
    phase::mark("poststop");
  }
  return {};
}

}  // namespace crunner
