// checkpoint and restore with criu (through its RPC interface, libcontainer/criu.hpp), as
// runc does them: checkpoint dumps a running container into an image directory (the
// container is gone afterwards unless --leave-running or --pre-dump); restore recreates it
// from the bundle's config.json and the image: crunner makes the state directory and the
// cgroups, and criu makes the namespaces, mounts and processes.
#pragma once

#include <string>
#include <vector>

#include "base/error.hpp"
#include "libcontainer/state.hpp"

namespace crunner {

// Flags shared by checkpoint and restore (runc's names).
struct CriuFlags {
  std::string criu = "criu";  // global --criu
  std::string image_path;     // "" = ./checkpoint
  std::string work_path;      // "" = criu's default (logs go to the image directory)
  bool tcp_established = false, ext_unix_sk = false, shell_job = false, file_locks = false;
  bool auto_dedup = false, lazy_pages = false;
  std::string manage_cgroups_mode;    // "", soft, full, strict, ignore
  std::vector<std::string> empty_ns;  // namespace types; only "network"
};

struct CheckpointOptions {
  std::string id;
  CriuFlags criu;
  std::string parent_path;  // relative to image_path
  bool leave_running = false, pre_dump = false;
  int status_fd = -1;
  std::string page_server;  // ADDRESS:PORT
};

struct RestoreOptions {
  std::string id;
  CriuFlags criu;
  std::string bundle;  // "" = current directory
  std::string pid_file, console_socket;
  bool detach = false, no_subreaper = false, no_pivot = false;
  bool systemd_cgroup = false, rootless_cgroups = false;
  // The restored processes' LSM profile ("apparmor:NAME", "selinux:LABEL"; "" = the
  // dumped one) and mount context (SELinux): checked, then passed to criu.
  std::string lsm_profile, lsm_mount_context;
};

// Dumps the container; unless it was left running (or pre-dumped) it is then deleted.
Status checkpoint_container(const StateStore& store, const CheckpointOptions& o);
// Restores; with `detach` returns 0 once the container runs, else waits for its init and
// returns its exit code as `run` does (the container is deleted then).
Result<int> restore_container(const StateStore& store, const RestoreOptions& o);

}  // namespace crunner
