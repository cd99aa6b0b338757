// Device nodes in the container's /dev: runc's default set (null, zero, full,
// random, urandom, tty), linux.devices, the /dev/fd and stdio symlinks and
// /dev/ptmx -> pts/ptmx. Runs before pivot_root, with the rootfs as an fd.
#pragma once

#include <string>
#include <vector>

#include "base/error.hpp"
#include "libcontainer/spec.hpp"

namespace crunner {

// runc's default devices (all 0666 root:root character devices).
std::vector<spec::Device> default_devices();

// Creates one device node at dev.path inside the root: mknod with the mode and
// owner, or, when `bind` (user namespaces) or mknod is refused with EPERM, a
// bind mount of the host's node at the same path. An existing node is kept.
Status create_device(int rootfd, const spec::Device& dev, bool bind);

// Default devices (minus those linux.devices redefines) then linux.devices but
// /dev/ptmx (left to setup_dev_symlinks, as runc leaves it to setupPtmx),
// errors prefixed "linux.devices[i]: " for the spec's own entries.
Status create_devices(int rootfd, const std::vector<spec::Device>& spec_devices, bool bind);

// /dev/fd, /dev/stdin, /dev/stdout, /dev/stderr (and /dev/core when the host
// has /proc/kcore); /dev/ptmx replaced by a symlink to pts/ptmx.
Status setup_dev_symlinks(int rootfd);

}  // namespace crunner
