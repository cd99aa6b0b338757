// The container's init: what the clone3 child does, from clone to execve.
#pragma once

#include <map>
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
  std::string id;
  int sock = -1;    // child end of the sync socketpair
  int fifo_r = -1;  // exec.fifo, read end: blocks until `start`
  int fifo_w = -1;  // exec.fifo, held open so the read blocks instead of EOF
  bool no_pivot = false;
  bool new_keyring = true;  // join a fresh session keyring (unless --no-new-keyring)
  bool new_userns = false;
  bool maps_by_unprivileged = false;  // rootless: dumpable until the parent wrote our maps
  // Rootless, and the binary is not writable by the container's ids: dumpable once created,
  // so that the caller may open our namespaces for an exec before start (docs/DESIGN.md §7).
  EndDumpable dumpable_when_created = EndDumpable::No;
  bool new_cgroupns = false;               // unshared after the parent placed us in our cgroups
  bool new_netns = false;                  // bring lo up
  std::vector<std::pair<int, int>> joins;  // (ns fd, CLONE_NEW*) joined after clone, user first
  bool two_stage = false;  // join, unshare(unshare_flags), fork the init (see sync.hpp)
  int unshare_flags = 0;
  int preserve_fds = 0;  // fds 3 .. 3+n-1 stay open
  std::vector<int> close_fds;
  std::map<std::string, int> source_fds;  // bind sources opened by the parent (userns)  //
                                          // parent-only fds (the state lock) closed at once
  CapSets caps;
  const seccomp::Program* seccomp = nullptr;  // compiled by the parent
  std::vector<std::string> env;
};

// Never returns: ends in execve or _exit. Errors are sent over plan.sock.
[[noreturn]] void container_init(InitPlan& plan);

}  // namespace crunner
