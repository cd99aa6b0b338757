// Turns a Garden ContainerSpec into an OCI bundle config (config.json), the way Guardian
// builds its bundles for runc: privileged vs unprivileged (user namespace), capabilities,
// masked paths, seccomp allowlist, hostname = handle, cgroupsPath <parent>/<handle>, limits.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace garden {

struct BundleParams {
  std::string handle;
  std::string rootfs;      // absolute host path
  std::string init_path;   // host path of garden-init
  std::string hosts_file;  // host paths bind-mounted to /etc/hosts and /etc/resolv.conf
  std::string resolv_file;
  std::string cgroup_parent;  // "garden"
  // The AppArmor profile of an unprivileged container's init ("" none); privileged
  // containers are unconfined (Guardian's unprivileged base bundle only).
  std::string apparmor_profile;
  // From an image plugin's runtime spec fragment: its environment and mounts.
  std::vector<std::string> image_env;
  nlohmann::json image_mounts = nlohmann::json::array();
};

// Builds config.json; err set on an invalid spec (bad bind mount, ...).
nlohmann::json build_config(const nlohmann::json& spec, const BundleParams& p, std::string& err);

// The capabilities of a process of user uid in a container (unprivileged or privileged):
// Guardian's set for root, intersected with the unprivileged set + CAP_SYS_ADMIN otherwise.
nlohmann::json container_caps(bool privileged, long long uid = 0);

// Creates the mount points the config needs inside rootfs (directories or empty files),
// walking components without following symlinks, so that a user-namespaced container whose
// rootfs belongs to host root can still be set up. What it creates belongs to uid:gid, the
// container's root as the host sees it (Guardian's MkdirChown): the runtime later creates
// the device nodes in /dev as that root, also when the image had no /dev.
std::string prepare_mountpoints(const std::string& rootfs, const nlohmann::json& config,
                                uid_t uid = 0, gid_t gid = 0);

}  // namespace garden
