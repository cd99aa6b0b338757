// `crunner exec`: a new process inside a running container.
//
// The parent enters the container's pid namespace for its children only,
// clone3()s the process straight into it (and into the container's v2 cgroup
// with CLONE_INTO_CGROUP), then goes back. The child becomes non-dumpable
// before it joins anything, joins the user namespace first and then the
// others, sets up the process exactly like the init (user, caps, rlimits,
// no_new_privs, AppArmor, seccomp last) and execs. Its sync socket is
// O_CLOEXEC: EOF means the execve succeeded; an Error message means it did not.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <utility>

#include "base/error.hpp"
#include "base/fd.hpp"
#include "libcontainer/spec.hpp"
#include "libcontainer/state.hpp"

namespace crunner {

struct ExecOptions {
  std::string id;
  spec::Process process;
  std::string console_socket;
  std::string pid_file;
  bool detach = false;
  bool ignore_paused = false;
  int preserve_fds = 0;
  // --cgroup, parsed by parse_sub_cgroups (exec_cgroup.hpp): controller ("" = all) -> path
  // below the container's cgroup
  std::map<std::string, std::string> sub_cgroups;
  // The container as the caller already loaded it (container_status); loaded here when
  // absent. Saves reading and parsing state.json twice per exec.
  std::optional<std::pair<ContainerState, ContainerStatus>> loaded;
};

struct ExecLaunched {
  pid_t pid = 0;
  UniqueFd tty_master;  // foreground with a terminal
};

Result<ExecLaunched> exec_process(const StateStore& store, const ExecOptions& o);

}  // namespace crunner
