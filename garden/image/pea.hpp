// Peas: processes with their own image (ProcessSpec.image), as Guardian runs them. A pea
// is a container of its own, run by the OCI runtime from a bundle in its process
// directory:
//   - rootfs from the image plugin (handle = the process id), or for raw:///dir (and a
//     directory without a plugin) an overlay over it in the process directory,
//   - a new mount namespace; the container's network, ipc, pid and uts namespaces (and its
//     user namespace when unprivileged) joined by path through the container's init,
//   - a cgroup as Guardian places it (pea_cgroups_path): held to the container's limits
//     unless the spec overrides them, then held to exactly the spec's cpu and memory limits,
//   - the image's environment, then the process's; dir "/" by default; the user resolved in
//     the pea's own /etc/passwd.
// DIR/pea.json records what must go when it exits (garden-dadoo runs the clean-up before
// publishing the exit status; the shim runs it too when the pea fails to start and when
// its container is destroyed).
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "garden/bundle/process_spec.hpp"

namespace garden::image {

struct PeaParams {
  std::string handle;  // the container's
  std::string id;      // the process id: runtime id, plugin handle, cgroup name "pea-<id>"
  std::string rootfs;  // the pea's root (from the plugin or raw://)
  std::vector<std::string> image_env;
  nlohmann::json image_mounts = nlohmann::json::array();
  int init_pid = 0;  // the container's init (namespaces are joined through /proc/<pid>/ns)
  bool privileged = false;
  std::string apparmor_profile;  // the container's (unprivileged only)
  std::string init_path, hosts_file, resolv_file, cgroup_parent;
};

// Guardian's OverrideContainerLimits: the spec has `limits` (an object, even an empty one).
bool overrides_container_limits(const nlohmann::json& pspec);
// The cgroupsPath of a pea, as Guardian places it (rundmc/peas): without an override it
// shares its container's limits, in a cgroup nested in the container's,
// `<parent>/<handle>/pea-<id>` (on a pure cgroup v2 host made threaded, the container's
// cgroup having processes), so deleting the pea's runtime container kills only the pea;
// with an override it is held to the override's limits only (none when empty, as Guardian),
// in a cgroup outside the container's, `<parent>/peas@<handle>/<id>` on v1 and v2 alike
// (Guardian: the top-level `<id>`; '@' is never in a handle, so it never meets one).
std::string pea_cgroups_path(const PeaParams& pp, bool override_limits);
// `peas@<handle>`, the directory of a container's peas that override its limits; destroy
// removes it in every hierarchy.
std::string peas_cgroup_dir_name(const std::string& handle);

// Whether a ProcessSpec has an image (Guardian: any field of ImageRef set).
bool is_pea(const nlohmann::json& spec);
// Process ids of peas name a runtime container, a cgroup and a plugin handle.
bool valid_pea_id(const std::string& id);

// The pea's config.json (the process included); err on an invalid spec.
nlohmann::json pea_config(const nlohmann::json& pspec, const PeaParams& pp, const User& u,
                          std::string& err);

// pea.json: the runtime root and id to delete, the plugin delete commands to run and the
// mounts to undo (a raw:// pea's own overlay).
nlohmann::json pea_record(const std::string& runtime_root, const std::string& id,
                          const std::vector<std::vector<std::string>>& plugin_deletes,
                          const std::vector<std::string>& unmounts = {});
// Runs the clean-up DIR/pea.json describes with the runtime binary; "" on success (also
// when there is no pea.json), else the first error. Idempotent.
std::string cleanup_pea(const std::string& dir, const std::string& runtime_bin);

}  // namespace garden::image
