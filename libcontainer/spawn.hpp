// The parent's side of making a container's init: what the clone needs besides the InitPlan
// the caller filled (the sync socket, the namespaces, bind sources a user namespace would
// hide, socket-activation fds), then the clone itself.
#pragma once

#include <sys/types.h>

#include "base/error.hpp"
#include "base/fd.hpp"
#include "libcontainer/init.hpp"
#include "libcontainer/namespaces.hpp"

namespace crunner {

struct SpawnedInit {
  pid_t pid = -1;
  UniqueFd pidfd;  // -1 where clone3 is missing
  UniqueFd sock;   // the parent's end of the sync socketpair
};

// Clones the init into its new namespaces (and into `cgroup_fd` with CLONE_INTO_CGROUP when
// >= 0); the child runs container_init(plan) and never returns here.
Result<SpawnedInit> spawn_init(InitPlan& plan, const NamespacePlan& ns, const spec::Linux& lx,
                               int cgroup_fd);

}  // namespace crunner
