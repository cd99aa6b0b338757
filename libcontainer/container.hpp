// The container lifecycle as the CLI drives it: create, start, kill, delete,
// state. The parent side of the process model (see sync.hpp's diagram).
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>

#include "cgroups/manager.hpp"

#include "base/error.hpp"
#include "base/fd.hpp"
#include "libcontainer/spec.hpp"
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

// A bundle as create and restore read it: config.json loaded and validated (a config crunner
// refuses says "invalid configuration", runc's words, then why), the rootfs resolved (never
// the host's `/`).
struct LoadedBundle {
  std::string dir, rootfs;
  spec::Spec spec;
};
Result<LoadedBundle> load_bundle(const std::string& bundle);
// A config the runtime refuses: runc's words ("invalid configuration"), which callers
// match, then ours (InvalidSpec errors only).
Error invalid_config(Error e);
// linux.resources parsed (a bad value: "invalid configuration"), with runc's device policy:
// the spec's rules, then the always-allowed devices (deny-all first when the spec has none).
Result<cgroups::Resources> container_resources(const spec::Linux& lx);
// The first state record of a container being created or restored ("creating").
ContainerState provisional_state(const std::string& id, const LoadedBundle& b,
                                 const cgroups::Manager& cg, bool systemd_cgroup);

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
