// A container's namespaces as create makes them: new ones become clone flags (cgroup and
// time are made apart, see below), joined ones are opened before anything exists, and a
// user namespace joined, or made while others are joined, takes the two-stage init
// (sync.hpp).
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

#include "base/error.hpp"
#include "base/fd.hpp"
#include "libcontainer/spec.hpp"

namespace crunner {

struct NamespacePlan {
  uint64_t clone_flags = 0;  // 0 when two_stage: the first child unshares them
  bool new_userns = false;
  bool new_cgroupns = false;  // unshared by the init once the parent placed it in its cgroups
  bool new_netns = false;
  bool new_timens = false;  // unshared by the parent, so the offsets are set before clone
  bool two_stage = false;
  int unshare_flags = 0;                   // two_stage: what the first child unshares
  std::vector<std::pair<int, int>> joins;  // (ns fd, CLONE_NEW*) joined after clone, user first
  std::vector<UniqueFd> fds;               // owns the fds of `joins`
  UniqueFd join_pid;  // one-stage: a pid namespace the parent enters for its children
};

// linux.namespaces sorted as above; a path that does not open is named by its index.
Result<NamespacePlan> plan_namespaces(const spec::Linux& lx);

// The namespaces the parent enters for its children only, around the init's clone: a joined
// pid namespace, and a new time namespace with linux.timeOffsets written (a time namespace
// cannot change once entered). The parent's own are back after leave() or destruction.
class ChildNamespaces {
 public:
  Status enter(const NamespacePlan& ns, const spec::Linux& lx);
  void leave();
  ~ChildNamespaces() { leave(); }

 private:
  UniqueFd own_pid_, own_time_;
};

}  // namespace crunner
