// The state store: <root>/<id>/state.json plus exec.fifo while created.
//
// Creating the directory is the existence check; commands that change a
// container hold flock() on the directory; state.json is written atomically
// (temp + rename, no fsync). The status is derived on every read from the init's
// pid + start time, exec.fifo and the freezer; it is never trusted from disk.
#pragma once

#include <sys/types.h>

#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/error.hpp"
#include "base/fd.hpp"

namespace crunner {

enum class ContainerStatus { Creating, Created, Running, Paused, Stopped };
const char* status_name(ContainerStatus s);

struct ContainerState {
  std::string id;
  std::string oci_version;
  pid_t pid = 0;
  unsigned long long start_time = 0;  // of pid, from /proc/<pid>/stat
  std::string bundle;
  std::string rootfs;
  std::string created;  // RFC3339Nano
  std::map<std::string, std::string> annotations;
  nlohmann::json config;  // the config.json the container was created from
  nlohmann::json cgroup;  // cgroup manager description (null when none)
  bool systemd_cgroup = false;
  // Saved by create before anything exists and as pids appear; cleared by its last save.
  // A provisional record is "creating": `delete --force` cleans up after it.
  bool provisional = false;
  // No mount namespace in the config: the init mounts into the host's, under `rootfs`.
  // The ids of the mounts that were already there are kept; delete unmounts the others.
  bool host_mount_ns = false;
  std::vector<int> host_mounts_before;

  nlohmann::json to_json() const;
  static Result<ContainerState> from_json(const nlohmann::json& j);
};

// ^[\w+.-]+$ and not "." / "..".
bool valid_container_id(const std::string& id);

class StateStore {
 public:
  explicit StateStore(std::string root) : root_(std::move(root)) {}
  const std::string& root() const { return root_; }
  std::string dir(const std::string& id) const { return root_ + "/" + id; }
  std::string fifo_path(const std::string& id) const { return dir(id) + "/exec.fifo"; }

  // mkdir <root>/<id> (mode 0711); Exists error when it is already there.
  Status create_dir(const std::string& id) const;
  // flock(LOCK_EX) on <root>/<id>; NotFound when missing, also when it was removed
  // while we waited for the lock.
  Result<UniqueFd> lock(const std::string& id) const;
  Status save(const ContainerState& s) const;
  // NotFound: "container does not exist" (the words containerd/podman match).
  Result<ContainerState> load(const std::string& id) const;
  bool exists(const std::string& id) const;
  Status remove(const std::string& id) const;  // rm -rf <root>/<id>
  Result<std::vector<std::string>> list() const;

 private:
  std::string root_;
};

// Is the recorded init still the same, non-zombie process?
bool init_alive(const ContainerState& s);
// Derived status; `frozen` comes from the cgroup freezer.
ContainerStatus derive_status(const ContainerState& s, const StateStore& store, bool frozen);
// The OCI state document (runtime.md), with runc's "owner" field.
nlohmann::ordered_json oci_state(const ContainerState& s, ContainerStatus st);

}  // namespace crunner
