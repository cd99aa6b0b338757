#include "libcontainer/container.hpp"

#include <fcntl.h>
#include <linux/sched.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <climits>
#include <cstring>
#include <optional>
#include <thread>
#include <utility>

#include "apparmor/apparmor.hpp"
#include "cgroups/manager.hpp"
#include "libcontainer/hooks.hpp"
#include "libcontainer/init.hpp"
#include "libcontainer/mount.hpp"
#include "libcontainer/phase.hpp"
#include "libcontainer/process_setup.hpp"
#include "libcontainer/rootfs.hpp"
#include "libcontainer/selfexe.hpp"
#include "libcontainer/spec.hpp"
#include "libcontainer/sync.hpp"
#include "libcontainer/terminal.hpp"
#include "libcontainer/utils.hpp"
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

// Owns a half-created container: kills and reaps the init and removes the
// state directory unless released.
// A cgroup the container joined (it existed before create) is removed only once nothing runs
// in it: its other processes are not ours to kill.
void destroy_if_empty(cgroups::Manager& m) {
  m.remove_unused();
}

// Whether prctl(PR_SET_DUMPABLE) under this linux.seccomp can only succeed or fail with an
// errno: no default or rule that kills, traps or notifies applies to prctl (one allowing it
// without argument conditions overrides such a default).
bool filter_spares_prctl(const nlohmann::json& seccomp) {
  if (!seccomp.is_object()) return true;
  auto harmless = [](const nlohmann::json& a) {
    return a.is_string() && (a == "SCMP_ACT_ALLOW" || a == "SCMP_ACT_ERRNO" ||
                             a == "SCMP_ACT_LOG" || a == "SCMP_ACT_TRACE");
  };
  bool allowed_outright = false;
  if (auto it = seccomp.find("syscalls"); it != seccomp.end() && it->is_array()) {
    for (const auto& rule : *it) {
      if (!rule.is_object() || !rule.contains("names") || !rule["names"].is_array()) continue;
      bool names_prctl = false;
      for (const auto& n : rule["names"]) names_prctl = names_prctl || n == "prctl";
      if (!names_prctl) continue;
      if (!harmless(rule.value("action", nlohmann::json()))) return false;
      auto args = rule.find("args");
      if (args == rule.end() || args->is_null() || (args->is_array() && args->empty()))
        allowed_outright = true;
    }
  }
  return allowed_outright || harmless(seccomp.value("defaultAction", nlohmann::json()));
}

// The state's cgroup was joined, not created (see create_container).
bool joined_cgroup(const ContainerState& s) {
  if (!s.cgroup.is_object()) return false;
  auto it = s.cgroup.find("shared");
  return it != s.cgroup.end() && it->is_boolean() && it->get<bool>();
}

struct CreateGuard {
  const StateStore& store;
  std::string id;
  pid_t pid = -1;
  bool armed = true;
  cgroups::Manager* cg = nullptr;
  bool cg_shared = false;  // the cgroup existed before create: others' processes may be there
  // No mount namespace: the mounts under this rootfs in the host's namespace are undone,
  // except those that were there before.
  std::optional<std::pair<std::string, std::vector<int>>> host_mounts;
  const std::vector<spec::Hook>* poststop = nullptr;  // set once create hooks may have run
  std::string stopped_state;
  ~CreateGuard() {
    if (!armed) return;
    if (pid > 0) {
      kill(pid, SIGKILL);
      waitpid(pid, nullptr, 0);
    }
    if (host_mounts) (void)release_host_mounts(host_mounts->first, host_mounts->second);
    if (cg && !cg_shared) {
      (void)cg->kill_all(SIGKILL);
      (void)cg->destroy();
    } else if (cg) {
      destroy_if_empty(*cg);
    }
    (void)store.remove(id);
    // runtime.md: a failed create hook stops the container and continues with
    // delete, whose poststop hooks run (failures are warnings).
    if (poststop && !poststop->empty()) run_hooks_warn(*poststop, "poststop", stopped_state);
  }
};

Status write_id_map(pid_t pid, const char* file, const std::vector<spec::IdMapping>& m) {
  std::string text;
  for (auto& e : m)
    text += std::to_string(e.container_id) + " " + std::to_string(e.host_id) + " " +
            std::to_string(e.size) + "\n";
  return write_file("/proc/" + std::to_string(pid) + "/" + file, text);
}

// One mapping of the caller's own id: what an unprivileged process may write itself.
bool own_id_only(const std::vector<spec::IdMapping>& m, unsigned own) {
  return m.size() == 1 && m[0].size == 1 && m[0].host_id == own;
}

// newuidmap/newgidmap (shadow's setuid helpers, checked against /etc/subuid and /etc/subgid):
// how a non-root caller maps more than its own id, as runc does when writing the map fails.
Status run_id_map_tool(const char* tool, pid_t pid, const std::vector<spec::IdMapping>& m) {
  // The system's own directories only: the helper is setuid root.
  const std::vector<std::string> env = {"PATH=/usr/bin:/bin:/usr/sbin:/sbin"};
  auto path = find_executable(tool, env);
  std::string ctx = std::string(tool) + " for pid " + std::to_string(pid);
  if (!path)
    return make_error(ErrorKind::Unsupported,
                      ctx +
                          ": not installed (apt-get install uidmap): a non-root caller needs "
                          "it to map more than its own id");
  spec::Hook h;
  h.path = *path;
  h.args = {tool, std::to_string(pid)};
  for (auto& e : m) {
    h.args.push_back(std::to_string(e.container_id));
    h.args.push_back(std::to_string(e.host_id));
    h.args.push_back(std::to_string(e.size));
  }
  h.env = env;
  h.timeout = 30;
  return run_program(h, "", ctx);
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

Result<Launched> create_container(const StateStore& store, const CreateOptions& o) {
  if (!valid_container_id(o.id))
    return make_error(ErrorKind::InvalidSpec, "invalid container ID format");
  CR_ASSIGN(LoadedBundle lb, load_bundle(o.bundle));
  const std::string& bundle = lb.dir;
  const std::string& rootfs = lb.rootfs;
  spec::Spec& sp = lb.spec;
  const spec::Process& proc = *sp.process;
  const spec::Linux& lx = sp.linux_or_empty();
  if (proc.terminal && o.console_socket.empty() && !o.foreground)
    return make_error(ErrorKind::InvalidSpec,
                      "process.terminal is true: --console-socket is required");
  if (!proc.terminal && !o.console_socket.empty())
    return make_error(ErrorKind::InvalidSpec,
                      "--console-socket given but process.terminal is false");
  // Without a mount namespace (the spec: an unlisted namespace is inherited) the init
  // mounts into the host's, under the rootfs, and chroots; what would change the host's
  // own mounts is refused (runc refuses masked and readonly paths the same way).
  const bool host_mounts = !lx.has_ns(spec::NsType::Mount);
  if (host_mounts) {
    const char* why = " needs a private mount namespace (linux.namespaces has no \"mount\")";
    if (!lx.masked_paths.empty()) return invalid_spec(std::string("linux.maskedPaths:") + why);
    if (!lx.readonly_paths.empty()) return invalid_spec(std::string("linux.readonlyPaths:") + why);
    if (!lx.rootfs_propagation.empty())
      return invalid_spec(std::string("linux.rootfsPropagation:") + why);
  }
  phase::mark("parse");

  // Namespaces: new ones are clone flags; joined ones are opened now.
  uint64_t flags = 0;
  bool new_userns = false, new_cgroupns = false, new_netns = false, new_timens = false;
  InitPlan plan;
  std::vector<UniqueFd> ns_fds;
  UniqueFd join_pid;
  bool joins_other = false, joins_user = false;
  for (size_t i = 0; i < lx.namespaces.size(); i++) {
    const auto& ns = lx.namespaces[i];
    int f = spec::ns_clone_flag(ns.type);
    if (ns.path.empty()) {
      if (ns.type == spec::NsType::User) new_userns = true;
      if (ns.type == spec::NsType::Cgroup) {
        new_cgroupns = true;
        continue;
      }
      if (ns.type == spec::NsType::Network) new_netns = true;
      if (ns.type == spec::NsType::Time) {
        new_timens = true;  // unshared by the parent so the offsets can be set first
        continue;
      }
      flags |= f;
      continue;
    }
    std::string where = "linux.namespaces[" + std::to_string(i) + "].path";
    auto fd = open_path(ns.path, O_RDONLY);
    if (!fd) return fd.error().context(where);
    if (ns.type == spec::NsType::Pid) {
      join_pid = std::move(*fd);
    } else if (ns.type == spec::NsType::User) {
      joins_user = true;
      plan.joins.insert(plan.joins.begin(), {fd->get(), f});
      ns_fds.push_back(std::move(*fd));
    } else {
      joins_other = true;
      plan.joins.emplace_back(fd->get(), f);
      ns_fds.push_back(std::move(*fd));
    }
  }
  // Joining a user namespace, or creating one while joining others, needs the
  // joins to happen before the new namespaces exist: a first child joins and
  // unshares, then forks the init into the new pid namespace (two_stage).
  bool two_stage = joins_user || (new_userns && joins_other);
  if (two_stage) {
    plan.two_stage = true;
    plan.unshare_flags = static_cast<int>(flags);
    flags = 0;
    // The first child joins a pid namespace itself (after the user namespace), so that it
    // stays in ours and only the init it forks is in the joined one: its fork returns a
    // pid we know, and when it exits the init is re-parented to our caller (a subreaper
    // of our pid namespace), not to the joined namespace's pid 1.
    if (join_pid) {
      plan.joins.emplace_back(join_pid.get(), CLONE_NEWPID);
      ns_fds.push_back(std::move(join_pid));
    }
  }

  // Resources: parsed up front, so a bad value is reported before anything exists.
  CR_ASSIGN(cgroups::Resources res, container_resources(lx));
  cgroups::ManagerOptions mopts;
  mopts.rootless = o.rootless_cgroups;
  CR_ASSIGN(auto cg, cgroups::make_manager(lx.cgroups_path, o.id, o.systemd_cgroup, mopts));

  std::vector<std::string> warnings;
  CR_TRY_CTX(apparmor::check_profile(proc.apparmor_profile), "process.apparmorProfile");
  CR_TRY(selinux::check_label("process.selinuxLabel", proc.selinux_label));
  CR_TRY(selinux::check_label("linux.mountLabel", lx.mount_label));
  // seccomp is compiled here (or taken from the cache); the init only loads it.
  std::optional<seccomp::Program> filter;
  if (!lx.seccomp.is_null()) {
    CR_ASSIGN(filter, seccomp::compile_cached(lx.seccomp, seccomp::cache_dir_for_root(store.root()),
                                              &warnings));
    plan.seccomp = &*filter;
  }
  plan.caps = cap_sets(proc.capabilities, &warnings);
  for (auto& w : warnings) fprintf(stderr, "warning: %s\n", w.c_str());
  phase::mark("prepare");

  CR_TRY(check_pid_file(o.pid_file));
  CR_TRY(check_preserve_fds(o.preserve_fds));

  // The container exists from here on; the guard removes it on failure.
  CR_TRY(store.create_dir(o.id));
  CreateGuard guard{store, o.id};
  CR_ASSIGN(UniqueFd lock, store.lock(o.id));
  // The provisional record: saved before anything else exists and again as each pid
  // appears, so that `delete --force` finds every step's leftovers (cgroups, the init)
  // even when this process is killed half-way. It stays "creating" until the last save.
  ContainerState st = provisional_state(o.id, lb, *cg, o.systemd_cgroup);
  if (host_mounts) {
    st.host_mount_ns = true;
    CR_ASSIGN(st.host_mounts_before, mount_ids_under(rootfs));
    guard.host_mounts.emplace(rootfs, st.host_mounts_before);
  }
  std::string fifo = store.fifo_path(o.id);
  if (mkfifo(fifo.c_str(), 0622) < 0) return sys_error("create `" + fifo + "`");
  CR_ASSIGN(UniqueFd fifo_r, open_path(fifo, O_RDONLY | O_NONBLOCK));
  CR_ASSIGN(UniqueFd fifo_w, open_path(fifo, O_WRONLY));
  if (!o.console_socket.empty()) {
    struct stat sock_st;
    if (stat(o.console_socket.c_str(), &sock_st) < 0)
      return sys_error("--console-socket `" + o.console_socket + "`");
  }

  phase::mark("state-dir");
  // cgroups exist before the init, so it never runs outside them. An existing cgroup is
  // joined, as runc does (a caller may have prepared it); only a frozen one is refused, since
  // the init could never run there. Such a shared cgroup's other processes are not ours: a
  // failed create or a delete kills only our init and leaves a non-empty cgroup in place.
  const bool shared_cg = cg->exists();
  if (shared_cg) {
    if (auto f = cg->frozen(); f.ok() && *f)
      return make_error(ErrorKind::BadState,
                        "container's cgroup unexpectedly frozen: `" + cg->path() + "`");
    if (auto ps = cg->pids(); ps.ok() && !ps->empty())
      // runc 1.1.5's words, uninterrupted ("container's cgroup is not empty: N process(es)
      // found"): scripts around Docker match them; then which cgroup.
      fprintf(stderr, "warning: container's cgroup is not empty: %zu process(es) found (`%s`)\n",
              ps->size(), cg->path().c_str());
  }
  if (shared_cg) st.cgroup["shared"] = true;
  CR_TRY(store.save(st));
  CR_TRY_CTX(cg->create(), "create cgroup");
  guard.cg = cg.get();
  guard.cg_shared = shared_cg;
  CR_TRY_CTX(cg->apply(res), "linux.resources");
  phase::mark("cgroups");
  UniqueFd cg_fd;
  if (cg->mode() == cgroups::Mode::Unified) {
    auto fd = cg->unified_dir_fd();
    if (fd) cg_fd = std::move(*fd);
  }

  int sp_fds[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp_fds) < 0)
    return sys_error("socketpair");
  UniqueFd parent_sock(sp_fds[0]), child_sock(sp_fds[1]);

  // In a user namespace the init may not reach host bind sources (a 0700
  // directory on the way): open them here, as root, and hand over the fds.
  std::vector<UniqueFd> source_fds;
  if (new_userns || two_stage) {
    for (auto& m : sp.mounts) {
      if (!is_bind_mount(m)) continue;
      std::string src = bind_source(m, bundle);
      bool rec = std::find(m.options.begin(), m.options.end(), "rbind") != m.options.end();
      int fd = open_tree(AT_FDCWD, src.c_str(),
                         OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | (rec ? AT_RECURSIVE : 0));
      if (fd < 0) continue;  // the init reports the error with the mount's name
      plan.source_fds[src + "\n" + mount_destination(m)] = fd;
      source_fds.emplace_back(fd);
    }
  }
  plan.spec = &sp;
  plan.rootfs = rootfs;
  plan.bundle = bundle;
  plan.sock = child_sock.get();
  plan.fifo_r = fifo_r.get();
  plan.fifo_w = fifo_w.get();
  plan.no_pivot = o.no_pivot;
  plan.new_keyring = !o.no_new_keyring;
  plan.id = o.id;
  plan.new_userns = new_userns;
  plan.maps_by_unprivileged = new_userns && !two_stage && geteuid() != 0;
  if (plan.maps_by_unprivileged && !self_exe_writable_by(lx.uid_mappings, lx.gid_mappings))
    plan.dumpable_when_created =
        filter_spares_prctl(lx.seccomp) ? EndDumpable::AfterFilterToo : EndDumpable::BeforeFilter;
  plan.new_cgroupns = new_cgroupns;
  plan.new_netns = new_netns;
  plan.env = proc.env;
  plan.preserve_fds = o.preserve_fds;
  plan.close_fds.push_back(lock.get());
  plan.close_fds.push_back(parent_sock.get());
  if (const char* lf = getenv("LISTEN_FDS")) {
    long long n;
    if (parse_i64(lf, n) && n > 0) {
      plan.preserve_fds += static_cast<int>(n);
      plan.env.push_back("LISTEN_FDS=" + std::to_string(n));
      plan.env.push_back("LISTEN_PID=1");
    }
  }

  // A joined pid namespace is entered for our children only, and left again.
  UniqueFd own_pid;
  if (join_pid) {
    CR_ASSIGN(own_pid, open_path("/proc/self/ns/pid", O_RDONLY));
    if (setns(join_pid.get(), CLONE_NEWPID) < 0) return sys_error("join pid namespace");
  }
  // A new time namespace: unshared for our children, offsets written, then the
  // init is cloned into it (a time namespace cannot change once entered).
  UniqueFd own_time;
  if (new_timens) {
    CR_ASSIGN(own_time, open_path("/proc/self/ns/time", O_RDONLY));
    if (unshare(CLONE_NEWTIME) < 0) return sys_error("create time namespace");
    std::string offs;
    for (auto& [clock, off] : lx.time_offsets)
      offs += clock + " " + std::to_string(off.secs) + " " + std::to_string(off.nanosecs) + "\n";
    if (!offs.empty()) {
      auto r = write_file("/proc/self/timens_offsets", offs);
      if (!r) {
        setns(own_time.get(), CLONE_NEWTIME);
        return r.error().context("linux.timeOffsets");
      }
    }
  }
  int pidfd = -1;
  pid_t pid = clone_child(flags, &pidfd, cg_fd.get());
  if (pid == 0) container_init(plan);
  int clone_err = errno;
  if (own_pid) setns(own_pid.get(), CLONE_NEWPID);
  if (own_time) setns(own_time.get(), CLONE_NEWTIME);
  if (pid < 0) return sys_error("clone container init", clone_err);
  phase::mark("clone");
  guard.pid = pid;
  st.pid = pid;
  st.start_time = process_start_time(pid);
  CR_TRY(store.save(st));
  Launched l;
  l.pidfd.reset(pidfd);
  child_sock.reset();
  int psock = parent_sock.get();

  // Reports the child's error, or how it died when it could not say.
  // A child killed by the OOM killer (a memory limit below what setup needs) resets the
  // socket (ECONNRESET) rather than closing it: both mean "say how it died".
  auto child_failed = [&](Error e) -> Error {
    if ((e.message == "peer closed" && e.err == 0) || e.err == ECONNRESET) {
      int status = 0;
      if (waitpid(pid, &status, 0) == pid) {
        guard.pid = -1;
        std::string how = "container init " + describe_status(status) + " during setup";
        if (WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) {
          auto stats = cg->stats();
          if (stats && stats->memory.oom_kill > 0)
            how =
                "container init was killed by the OOM killer during setup: "
                "linux.resources.memory.limit " +
                (res.memory.limit ? std::to_string(*res.memory.limit) : std::string("")) +
                " is too low";
        }
        return make_error(ErrorKind::Internal, how);
      }
    }
    return e;
  };

  auto write_maps = [&]() -> Status {
    // Without CAP_SETGID in the parent namespace (rootless), the kernel takes a gid_map only
    // once setgroups is denied; runc does the same. More than the caller's own id needs
    // newgidmap/newuidmap (runc: when writing the map itself is refused), and then
    // setgroups stays allowed, as runc leaves it.
    const bool rootless = geteuid() != 0;
    if (rootless && own_id_only(lx.gid_mappings, getegid())) {
      if (auto r = write_file("/proc/" + std::to_string(pid) + "/setgroups", "deny"); !r)
        return r.error().context("linux.gidMappings (rootless)");
    }
    if (auto r = write_id_map(pid, "gid_map", lx.gid_mappings); !r) {
      if (!rootless || r.error().err != EPERM) return r.error().context("linux.gidMappings");
      CR_TRY_CTX(run_id_map_tool("newgidmap", pid, lx.gid_mappings), "linux.gidMappings");
    }
    if (auto r = write_id_map(pid, "uid_map", lx.uid_mappings); !r) {
      if (!rootless || r.error().err != EPERM) return r.error().context("linux.uidMappings");
      CR_TRY_CTX(run_id_map_tool("newuidmap", pid, lx.uid_mappings), "linux.uidMappings");
    }
    return {};
  };
  if (plan.maps_by_unprivileged) {  // the init says when it is dumpable (see init.cpp)
    auto ready = sync_expect(psock, SyncType::UserNs);
    if (!ready) return child_failed(std::move(ready).error());
  }
  if (new_userns && !two_stage) CR_TRY(write_maps());
  // cgroups: joined here (idempotent after CLONE_INTO_CGROUP), before the
  // child may unshare its cgroup namespace.
  CR_TRY_CTX(cg->add_pid(pid), "join cgroup");
  if (proc.oom_score_adj) {
    CR_TRY_CTX(write_file("/proc/" + std::to_string(pid) + "/oom_score_adj",
                          std::to_string(*proc.oom_score_adj)),
               "process.oomScoreAdj");
  }
  CR_TRY(sync_send(psock, SyncType::MapsDone));
  phase::mark("cgroup-join");

  st.created = now_rfc3339_nano();

  for (;;) {
    UniqueFd fd;
    auto m = sync_recv(psock, &fd);
    if (!m) return child_failed(std::move(m).error());
    if (m->type == SyncType::Error) return sync_error(*m);
    if (m->type == SyncType::UserNs) {  // two-stage: the first child unshared its userns
      CR_TRY(write_maps());
      CR_TRY(sync_send(psock, SyncType::MapsDone));
    } else if (m->type == SyncType::Pid) {  // two-stage: the init, forked by the first child
      int status;
      waitpid(pid, &status, 0);
      pid = static_cast<pid_t>(m->arg);
      guard.pid = pid;
      l.pidfd.reset(static_cast<int>(syscall(SYS_pidfd_open, pid, 0)));
      st.pid = pid;
      st.start_time = process_start_time(pid);
      CR_TRY(store.save(st));
    } else if (m->type == SyncType::Hooks) {
      std::string s = hook_state(st, ContainerStatus::Created);
      guard.poststop = &sp.hooks.poststop;
      guard.stopped_state = hook_state(st, ContainerStatus::Stopped);
      CR_TRY(run_hooks(sp.hooks.prestart, "prestart", s));
      CR_TRY(run_hooks(sp.hooks.create_runtime, "createRuntime", s));
      CR_TRY(sync_send(psock, SyncType::HooksDone, 0, 0, s));
    } else if (m->type == SyncType::Tty) {
      if (!o.console_socket.empty())
        CR_TRY(send_console_fd(o.console_socket, fd.get()));
      else
        l.tty_master = std::move(fd);
    } else if (m->type == SyncType::Seccomp) {
      if (filter)
        CR_TRY_CTX(seccomp::send_to_listener(*filter, fd.get(), pid,
                                             oci_state(st, ContainerStatus::Creating)),
                   "linux.seccomp.listenerPath");
    } else if (m->type == SyncType::Ready) {
      phase::mark("wait-init");
      phase::replay(std::string(m->text, strnlen(m->text, sizeof m->text)), "init:");
      break;
    } else {
      return make_error(ErrorKind::Internal,
                        std::string("unexpected message from init: ") + sync_type_name(m->type));
    }
  }

  st.config = sp.raw;
  st.provisional = false;
  // Rootless: the hierarchies create/add_pid had to drop (permission denied, no limits
  // asked) are not the container's: exec, stats and delete must not look for them.
  st.cgroup = cg->to_json();
  if (shared_cg) st.cgroup["shared"] = true;
  CR_TRY(store.save(st));
  if (!o.pid_file.empty())
    CR_TRY_CTX(write_file_atomic(o.pid_file, std::to_string(pid), 0644, Durability::Rename),
               "--pid-file");
  guard.armed = false;
  phase::mark("state");
  l.state = std::move(st);
  if (o.for_run) l.fifo_w = std::move(fifo_w);
  return l;
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
