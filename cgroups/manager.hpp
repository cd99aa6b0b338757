// The cgroup Manager: one container's cgroup(s), in whichever layout the host has.
//
//   Legacy  - cgroup v1 only: one directory per controller hierarchy (/sys/fs/cgroup/<ctrl>/P)
//   Hybrid  - v1 controllers, plus the cgroup2 hierarchy at /sys/fs/cgroup/unified/P, which the
//             container joins too (containerd reads it); limits go to v1
//   Unified - cgroup v2 only: /sys/fs/cgroup/P
//
// cgroupsPath as runc: absolute -> relative to each hierarchy's root; relative -> below the
// calling process's own cgroup (v1, hybrid) or its parent (v2); absent -> relative "<id>".
// --systemd-cgroup: cgroupsPath "slice:prefix:name" (default system.slice:crunner:<id>), a
// transient scope <prefix>-<name>.scope created over D-Bus with Delegate=yes (SystemdManager);
// without a running systemd, a clear error.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/error.hpp"
#include "base/fd.hpp"
#include "cgroups/cgdir.hpp"
#include "cgroups/resources.hpp"
#include "cgroups/stats.hpp"

namespace crunner::cgroups {

enum class Mode { Legacy, Hybrid, Unified };
const char* mode_name(Mode m);  // "legacy", "hybrid", "unified"

// From the filesystem type of root (cgroup2 -> Unified; otherwise Hybrid when root/unified is
// cgroup2, else Legacy).
Result<Mode> detect_mode(const std::string& root = "/sys/fs/cgroup");

// Notification of OOM kills in the container's memory cgroup. fd() becomes readable on an
// event; consume() then returns how many new OOM kills happened (0 is possible: the v1
// eventfd also fires when the cgroup is removed).
class OomWatch {
 public:
  virtual ~OomWatch() = default;
  virtual int fd() const = 0;
  virtual Result<uint64_t> consume() = 0;
};

class Manager {
 public:
  virtual ~Manager() = default;
  virtual Mode mode() const = 0;
  // The cgroup path inside each hierarchy ("/crunner/abc").
  virtual const std::string& path() const = 0;

  virtual Status create() = 0;  // mkdir in every hierarchy (hybrid: the unified one too)
  virtual Status add_pid(pid_t pid) = 0;
  virtual Status apply(const Resources& r) = 0;  // create and update
  virtual Status freeze(bool frozen) = 0;        // waits until really FROZEN / THAWED
  virtual Result<bool> frozen() const = 0;
  virtual Result<std::vector<pid_t>> pids() const = 0;  // recursive, sorted
  virtual Result<Stats> stats() const = 0;
  // SIGKILL uses cgroup.kill where present; otherwise freeze, signal every pid, thaw (a
  // paused container stays paused unless the signal was SIGKILL). An empty cgroup that is
  // not frozen is left alone.
  virtual Status kill_all(int sig) = 0;
  virtual Status destroy() = 0;  // rmdir (retrying while processes die); idempotent
  // A joined cgroup (others' processes may be there): removes what no longer serves anyone.
  // By default the whole cgroup when it has no process; v1 each hierarchy's directory that has
  // no process (in it or below), as runc's RemovePaths leaves only the busy ones.
  virtual void remove_unused();
  virtual bool exists() const = 0;
  // The container's cgroup2 directory (O_RDONLY|O_DIRECTORY) for clone3 CLONE_INTO_CGROUP;
  // Unsupported unless the mode is Unified.
  virtual Result<UniqueFd> unified_dir_fd() = 0;
  virtual Result<std::unique_ptr<OomWatch>> watch_oom() = 0;
  virtual nlohmann::json to_json() const = 0;  // for state.json; load_manager() reads it back
};

struct ManagerOptions {
  std::string root = "/sys/fs/cgroup";
  std::optional<Mode> mode;                        // default: detect_mode(root)
  std::string own_cgroup = "/proc/self/cgroup";    // for relative paths
  std::string mountinfo = "/proc/self/mountinfo";  // where the v1 hierarchies are mounted
  // runc's rootless cgroup manager (v1): no device rules; without a cgroupsPath, hierarchies
  // we may not create or join are skipped, and limits asked for in them fail naming them.
  bool rootless = false;
  std::string systemd_marker = "/run/systemd/system";
};

Result<std::unique_ptr<Manager>> make_manager(const std::string& cgroups_path,
                                              const std::string& id, bool systemd,
                                              const ManagerOptions& opts = {});
Result<std::unique_ptr<Manager>> load_manager(const nlohmann::json& saved);

// --rootless true|false|auto as runc decides it: auto is true when not running as real root
// (euid != 0, or uid 0 inside a user namespace such as rootless podman's).
Result<bool> rootless_cgroups(const std::string& flag);
// Whether this process runs in a user namespace (uid_map is not the identity of all ids).
bool in_user_namespace();

// The inner path as runc computes it (before the per-hierarchy prefix); exposed for tests.
// Relative results stay relative.
std::string inner_path(const std::string& cgroups_path, const std::string& id);

// Writes one JSON line per event to out_fd: {"type":"stats","id":..,"data":{..}} once
// (stats_once) or every interval, and {"type":"oom","id":..} on each OOM kill. Returns when
// the container's cgroup is gone.
Status run_events(Manager& m, const std::string& id, bool stats_once,
                  std::chrono::milliseconds interval, int out_fd);

}  // namespace crunner::cgroups
