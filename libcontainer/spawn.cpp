#include "libcontainer/spawn.hpp"

#include <fcntl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <string>
#include <vector>

#include "base/error.hpp"
#include "base/fd.hpp"
#include "base/text.hpp"
#include "libcontainer/mount.hpp"
#include "libcontainer/process_setup.hpp"
#include "libcontainer/selfexe.hpp"

namespace crunner {

namespace {

// In a user namespace the init may not reach host bind sources (a 0700 directory on the way):
// they are opened here, as root, and the fds handed over. One that does not open is left to
// the init, which reports the error with the mount's name.
std::vector<UniqueFd> open_bind_sources(InitPlan& plan) {
  std::vector<UniqueFd> fds;
  for (auto& m : plan.spec->mounts) {
    if (!is_bind_mount(m)) continue;
    std::string src = bind_source(m, plan.bundle);
    bool rec = std::find(m.options.begin(), m.options.end(), "rbind") != m.options.end();
    int fd = open_tree(AT_FDCWD, src.c_str(),
                       OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | (rec ? AT_RECURSIVE : 0));
    if (fd < 0) continue;
    plan.source_fds[src + "\n" + mount_destination(m)] = fd;
    fds.emplace_back(fd);
  }
  return fds;
}

// Socket activation (LISTEN_FDS): the fds are passed on and the init is their listener.
void pass_listen_fds(InitPlan& plan) {
  const char* lf = getenv("LISTEN_FDS");
  long long n;
  if (!lf || !parse_i64(lf, n) || n <= 0) return;
  plan.preserve_fds += static_cast<int>(n);
  plan.env.push_back("LISTEN_FDS=" + std::to_string(n));
  plan.env.push_back("LISTEN_PID=1");
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

void take_namespaces(InitPlan& plan, const NamespacePlan& ns) {
  plan.new_userns = ns.new_userns;
  plan.maps_by_unprivileged = ns.new_userns && !ns.two_stage && geteuid() != 0;
  plan.new_cgroupns = ns.new_cgroupns;
  plan.new_netns = ns.new_netns;
  plan.joins = ns.joins;
  plan.two_stage = ns.two_stage;
  plan.unshare_flags = ns.unshare_flags;
}

}  // namespace

Result<SpawnedInit> spawn_init(InitPlan& plan, const NamespacePlan& ns, const spec::Linux& lx,
                               int cgroup_fd) {
  int sp_fds[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp_fds) < 0)
    return sys_error("socketpair");
  SpawnedInit s;
  s.sock.reset(sp_fds[0]);
  UniqueFd child_sock(sp_fds[1]);
  std::vector<UniqueFd> source_fds;
  if (ns.new_userns || ns.two_stage) source_fds = open_bind_sources(plan);
  take_namespaces(plan, ns);
  if (plan.maps_by_unprivileged && !self_exe_writable_by(lx.uid_mappings, lx.gid_mappings))
    plan.dumpable_when_created =
        filter_spares_prctl(lx.seccomp) ? EndDumpable::AfterFilterToo : EndDumpable::BeforeFilter;
  plan.sock = child_sock.get();
  plan.close_fds.push_back(s.sock.get());
  pass_listen_fds(plan);

  ChildNamespaces entered;
  CR_TRY(entered.enter(ns, lx));
  int pidfd = -1;
  s.pid = clone_child(ns.clone_flags, &pidfd, cgroup_fd);
  if (s.pid == 0) container_init(plan);
  int clone_err = errno;
  entered.leave();
  if (s.pid < 0) return sys_error("clone container init", clone_err);
  s.pidfd.reset(pidfd);
  return s;
}

}  // namespace crunner
