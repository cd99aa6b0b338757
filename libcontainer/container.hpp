// The container lifecycle as the CLI drives it: create, start, kill, delete,
// state. The parent side of the process model (see sync.hpp's diagram).
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>

#include "cgroups/manager.hpp"

#include "libcontainer/error.hpp"
#include "libcontainer/fd.hpp"
#include "libcontainer/state.hpp"

namespace crunner {

struct CreateOptions {
  std::string id;
  std::string bundle;          // "" = current directory
  std::string pid_file;        // written atomically when set
  std::string console_socket;  // terminal: true requires it unless `foreground`
  bool no_pivot = false;
  bool no_new_keyring = false;
  int preserve_fds = 0;
  bool foreground = false;  // `run` without -d: crunner keeps the pty master itself
  bool for_run = false;     // `run`: keep the exec.fifo write end to start it at once
  bool systemd_cgroup = false;
  bool rootless_cgroups = false;  // --rootless (resolved): see cgroups::ManagerOptions
};

struct Launched {
  ContainerState state;
  UniqueFd pidfd;       // of the init
  UniqueFd tty_master;  // foreground run with a terminal
  UniqueFd fifo_w;      // foreground run: writing one byte starts the container
};

// Builds the container and leaves its init blocked before execve. On failure
// nothing is left behind (state dir, process, cgroups).
Result<Launched> create_container(const StateStore& store, const CreateOptions& o);
// Unblocks a created container, then runs poststart hooks (failures: warnings).
Status start_container(const StateStore& store, const std::string& id);
// Used by `run`: starts through the fifo we still hold.
Status start_launched(const StateStore& store, Launched& l);
Status kill_container(const StateStore& store, const std::string& id, int sig, bool all);
Status delete_container(const StateStore& store, const std::string& id, bool force);
// Loads the state and derives the status.
Result<std::pair<ContainerState, ContainerStatus>> container_status(const StateStore& store,
                                                                    const std::string& id);
// pause (freeze) / resume (thaw); "container not running" / "container not paused".
Status pause_container(const StateStore& store, const std::string& id, bool pause);
// The container's cgroup manager from its state (null when it has none).
std::unique_ptr<cgroups::Manager> cgroup_of(const ContainerState& s);
// Parses "9", "KILL", "SIGKILL", "sigkill"; error names the signal.
Result<int> parse_signal(const std::string& s);

}  // namespace crunner
