// The OCI "cgroup" mount type.
//
// cgroup v2 host (/sys/fs/cgroup is cgroup2), as runc: a fresh cgroup2 mount
// (with a cgroup namespace it shows the namespace's root, without it the host's
// tree); if that is refused (EPERM/EBUSY: a user namespace without a cgroup
// namespace), a bind of the container's own cgroup directory.
//
// cgroup v1 / hybrid host (what runc does for v1): a tmpfs (nosuid,nodev,
// noexec, mode=755) at the destination and one directory per host hierarchy
// found under /sys/fs/cgroup (cpu, memory, name=systemd at systemd, ...; not
// the hybrid's cgroup2 at unified, which runc does not mount either):
//  - with its own cgroup namespace, each is a fresh mount of that hierarchy
//    ("cgroup" with the controllers as data, or "cgroup2"): the kernel roots it
//    at the namespace's cgroup;
//  - without, each is a bind mount of the container's own cgroup directory in
//    that hierarchy (read from /proc/self/cgroup), so the container sees its
//    cgroup as the root as it would with a namespace.
// Co-mounted controllers ("cpu,cpuacct") get runc's symlinks (cpu -> cpu,cpuacct).
// The mount's flags (ro, nosuid, ...) apply to every hierarchy; the tmpfs keeps
// nosuid,nodev,noexec and stays read-write like runc's.
//
// Call it with the process already in the container's cgroups, before pivot_root.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "base/error.hpp"
#include "libcontainer/mount.hpp"
#include "libcontainer/mountopts.hpp"
#include "libcontainer/spec.hpp"

namespace crunner {

Status mount_cgroup(int rootfd, const spec::Mount& m, const MountOptions& o,
                    const MountContext& ctx, const std::string& what);

// From a v1 superblock option string ("rw,xattr,cpu,cpuacct", "rw,name=systemd")
// the data that selects the same hierarchy ("cpu,cpuacct", "none,name=systemd").
// `controllers` are the kernel's controller names (/proc/cgroups).
std::string cgroup_v1_select(const std::string& super_options,
                             const std::vector<std::string>& controllers);

// For a hierarchy selected by `select` (as above, or "" for cgroup2), our path in
// it from /proc/self/cgroup text; nullopt when absent.
std::optional<std::string> own_cgroup_path(const std::string& proc_self_cgroup,
                                           const std::string& select);

}  // namespace crunner
