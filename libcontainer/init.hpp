// The container's init: what the clone3 child does, from clone to execve.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "libcontainer/process_setup.hpp"
#include "libcontainer/spec.hpp"

namespace crunner {

// Everything the child needs, prepared by the parent before clone.
struct InitPlan {
  const spec::Spec* spec = nullptr;
  std::string rootfs;  // absolute realpath
  std::string bundle;  // absolute
  int sock = -1;       // child end of the sync socketpair
  int fifo_r = -1;     // exec.fifo, read end: blocks until `start`
  int fifo_w = -1;     // exec.fifo, held open so the read blocks instead of EOF
  bool no_pivot = false;
  bool new_userns = false;
  bool new_cgroupns = false;               // unshared after the parent placed us in our cgroups
  bool new_netns = false;                  // bring lo up
  std::vector<std::pair<int, int>> joins;  // (ns fd, CLONE_NEW*) joined after clone
  int preserve_fds = 0;                    // fds 3 .. 3+n-1 stay open
  std::vector<int> close_fds;              // parent-only fds (the state lock) closed at once
  CapSets caps;
  const seccomp::Program* seccomp = nullptr;  // compiled by the parent
  std::vector<std::string> env;
};

// Never returns: ends in execve or _exit. Errors are sent over plan.sock.
[[noreturn]] void container_init(const InitPlan& plan);

}  // namespace crunner
