#include "libcontainer/namespaces.hpp"

#include <fcntl.h>
#include <sched.h>

#include <string>

#include "base/file.hpp"

namespace crunner {

namespace {

// Joining a user namespace, or creating one while joining others, needs the joins to happen
// before the new namespaces exist: a first child joins and unshares, then forks the init
// into the new pid namespace.
void make_two_stage(NamespacePlan& ns) {
  ns.two_stage = true;
  ns.unshare_flags = static_cast<int>(ns.clone_flags);
  ns.clone_flags = 0;
  // The first child joins a pid namespace itself (after the user namespace), so that it
  // stays in ours and only the init it forks is in the joined one: its fork returns a pid we
  // know, and when it exits the init is re-parented to our caller (a subreaper of our pid
  // namespace), not to the joined namespace's pid 1.
  if (ns.join_pid) {
    ns.joins.emplace_back(ns.join_pid.get(), CLONE_NEWPID);
    ns.fds.push_back(std::move(ns.join_pid));
  }
}

}  // namespace

Result<NamespacePlan> plan_namespaces(const spec::Linux& lx) {
  NamespacePlan p;
  bool joins_other = false, joins_user = false;
  for (size_t i = 0; i < lx.namespaces.size(); i++) {
    const auto& ns = lx.namespaces[i];
    int f = spec::ns_clone_flag(ns.type);
    if (ns.path.empty()) {
      if (ns.type == spec::NsType::User) p.new_userns = true;
      if (ns.type == spec::NsType::Network) p.new_netns = true;
      if (ns.type == spec::NsType::Cgroup)
        p.new_cgroupns = true;
      else if (ns.type == spec::NsType::Time)
        p.new_timens = true;
      else
        p.clone_flags |= f;
      continue;
    }
    auto fd = open_path(ns.path, O_RDONLY);
    if (!fd) return fd.error().context("linux.namespaces[" + std::to_string(i) + "].path");
    if (ns.type == spec::NsType::Pid) {
      p.join_pid = std::move(*fd);
      continue;
    }
    if (ns.type == spec::NsType::User) {
      joins_user = true;
      p.joins.insert(p.joins.begin(), {fd->get(), f});
    } else {
      joins_other = true;
      p.joins.emplace_back(fd->get(), f);
    }
    p.fds.push_back(std::move(*fd));
  }
  if (joins_user || (p.new_userns && joins_other)) make_two_stage(p);
  return p;
}

Status ChildNamespaces::enter(const NamespacePlan& ns, const spec::Linux& lx) {
  if (ns.join_pid) {
    CR_ASSIGN(own_pid_, open_path("/proc/self/ns/pid", O_RDONLY));
    if (setns(ns.join_pid.get(), CLONE_NEWPID) < 0) return sys_error("join pid namespace");
  }
  if (!ns.new_timens) return {};
  CR_ASSIGN(own_time_, open_path("/proc/self/ns/time", O_RDONLY));
  if (unshare(CLONE_NEWTIME) < 0) return sys_error("create time namespace");
  std::string offs;
  for (auto& [clock, off] : lx.time_offsets)
    offs += clock + " " + std::to_string(off.secs) + " " + std::to_string(off.nanosecs) + "\n";
  if (!offs.empty()) CR_TRY_CTX(write_file("/proc/self/timens_offsets", offs), "linux.timeOffsets");
  return {};
}

void ChildNamespaces::leave() {
  if (own_pid_) setns(own_pid_.get(), CLONE_NEWPID);
  if (own_time_) setns(own_time_.get(), CLONE_NEWTIME);
  own_pid_.reset();
  own_time_.reset();
}

}  // namespace crunner
