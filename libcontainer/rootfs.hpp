// Container root filesystem setup, run in the init inside its new mount namespace.
#pragma once

#include <string>
#include <vector>

#include "libcontainer/error.hpp"
#include "libcontainer/spec.hpp"

namespace crunner {

struct RootfsConfig {
  const spec::Spec* spec = nullptr;
  std::string rootfs;      // absolute, realpath'd host path of the rootfs directory
  std::string bundle;      // absolute bundle dir; relative bind sources resolve against it
  bool no_pivot = false;   // MS_MOVE + chroot instead of pivot_root
  bool in_userns = false;  // devices are bind-mounted from the host, not mknod'ed
};

// Before createContainer hooks: propagation, rootfs bind, mounts, devices.
Status prepare_rootfs(const RootfsConfig& c);
// After createContainer hooks: pivot_root, masked/readonly paths, sysctl, ro root.
Status finalize_rootfs(const RootfsConfig& c);
std::vector<std::string> known_mount_options();

}  // namespace crunner
