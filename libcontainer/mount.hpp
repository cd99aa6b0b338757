// Mounting one OCI mount entry inside the rootfs (before pivot_root).
//
// Destinations are resolved inside the rootfs (safepath.hpp) and the mount is
// made onto the resolved fd through /proc/self/fd/N. Every error names the
// entry: "mount `proc` to `/proc`: operation not permitted".
#pragma once

#include <map>
#include <string>

#include "base/error.hpp"
#include "libcontainer/mountopts.hpp"
#include "libcontainer/spec.hpp"

namespace crunner {

struct MountContext {
  std::string rootfs;  // host path of the rootfs (realpath'd)
  std::string bundle;  // relative bind sources resolve against it
  bool in_userns = false;
  bool cgroupns = false;    // the container has its own cgroup namespace
  std::string mount_label;  // linux.mountLabel (SELinux), "" for none
  // Bind sources cloned by the parent with open_tree(OPEN_TREE_CLONE) before
  // the init entered a new user namespace, where host paths may not be
  // reachable; attached with move_mount (runc's mountFds, done the new way).
  const std::map<std::string, int>* source_fds = nullptr;
};

// Mounts `m` under the root `rootfd` (an fd on ctx.rootfs).
Status mount_entry(int rootfd, const spec::Mount& m, const MountContext& ctx);

// Host path of a bind-mount source: absolute as is, relative against the bundle.
std::string bind_source(const spec::Mount& m, const std::string& bundle);

// The destination as runc treats it: cleaned and absolute.
std::string mount_destination(const spec::Mount& m);

// True for entries mounted as bind mounts (type "bind" or a bind/rbind option).
bool is_bind_mount(const spec::Mount& m);

// Remounts the mount whose root `fd` is, with MS_REMOUNT|MS_BIND|flags. When
// the kernel refuses (EPERM: flags locked by a less privileged user namespace
// owner), retries keeping the nosuid/nodev/noexec/ro/atime flags the mount
// already has. `what` prefixes errors.
Status remount_bind(int fd, unsigned long flags, const std::string& what);

// Applies the recursive attributes (rro, rnosuid, ...) with mount_setattr(2).
Status apply_rec_attrs(int fd, const MountOptions& o, const std::string& what);

// Applies each propagation change in order to the mount at `fd`.
Status apply_propagation(int fd, const MountOptions& o, const std::string& what);

// fd-only mounting (open_tree/fsmount + move_mount): needs no /proc, so it works
// inside a container that has none. An error with err == ENOSYS means the kernel
// (or a seccomp filter) lacks the API and the caller should use mount(2).
//
// Binds what `src` refers to (file or directory, O_PATH fds fine) onto `dst`,
// recursively when `recursive`, with `attr_set` (MOUNT_ATTR_*) applied to the
// new mounts before they become visible.
Status bind_fd(int src, int dst, bool recursive, uint64_t attr_set, const std::string& what);
// A fresh tmpfs on `dst` (read-only when `ro`; `data` as for mount(2)).
Status tmpfs_fd(int dst, bool ro, const std::string& what);

// Path of `fd` relative to `rootfs` ("/proc/self"), from /proc/self/fd; empty when
// the fd is outside of it.
std::string path_in_root(int fd, const std::string& rootfs);

// runc's check for bind mounts into /proc: only on top of /proc with a procfs
// source, or onto a few files lxcfs emulates. `resolved` is the in-root path.
Status check_proc_mount(const std::string& resolved, const std::string& source);

}  // namespace crunner
