// The container's root filesystem, set up by the container's init child in its
// new mount namespace (single-threaded, root of its user namespace).
//
//   prepare_rootfs()   before the createContainer hooks, still on the host "/"
//   finalize_rootfs()  after them: pivot_root and the in-container steps
//
// Both return errors instead of throwing (they run after clone) and every error
// names what failed: "mount `proc` to `/proc`: operation not permitted",
// "linux.devices[0]: mknod `/dev/fuse`: ...".
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "base/error.hpp"
#include "libcontainer/mountopts.hpp"
#include "libcontainer/spec.hpp"

namespace crunner {

struct RootfsConfig {
  const spec::Spec* spec = nullptr;
  std::string rootfs;      // absolute, realpath'd host path of the rootfs directory
  std::string bundle;      // absolute bundle dir; relative bind-mount sources resolve against it
  bool no_pivot = false;   // --no-pivot: MS_MOVE + chroot instead of pivot_root
  bool in_userns = false;  // inside a new user namespace: devices are bind-mounted from the host
  // The container has its own cgroup namespace (cgroup mounts are fresh, not
  // binds). Defaults to "linux.namespaces has a new cgroup namespace".
  std::optional<bool> cgroupns;
  // Bind source trees cloned by the parent (user namespaces), keyed \"src\\ndest\".
  std::map<std::string, int> source_fds;
};

// Step A: "/" made rslave, or what linux.rootfsPropagation asks for (runc;
// (r)unbindable is applied after pivot_root only), the rootfs's parent mount
// private when it is shared (nothing under the rootfs propagates to the host
// except through binds of shared host mounts), the rootfs bound onto
// itself, every spec mount in order, then (unless /dev is a bind mount) the
// default devices, linux.devices, the /dev symlinks and /dev/ptmx -> pts/ptmx
// (and an empty /dev/console file when process.terminal).
Status prepare_rootfs(const RootfsConfig& c);

// Step B: pivot_root (or MS_MOVE + chroot with no_pivot), chdir "/",
// /dev read-only when its mount asked, linux.sysctl, readonlyPaths (recursive
// read-only binds), maskedPaths (/dev/null over files, read-only tmpfs over
// directories), root.readonly, then "(r)unbindable" rootfsPropagation on the
// new "/" (other values act before pivot_root only, as in runc).
// Missing masked/readonly paths are ignored.
Status finalize_rootfs(const RootfsConfig& c);

// Bind-mounts the terminal `slave_fd` (opened from the container's /dev/ptmx)
// on <root>/dev/console; `root` is the rootfs path between prepare_rootfs and
// finalize_rootfs (when runc does it), or "/" after finalize_rootfs: with
// process.terminal, prepare_rootfs already created the /dev/console file, so
// this works even once /dev or / are read-only.
Status mount_console(const std::string& root, int slave_fd);

// A container without a mount namespace (linux.namespaces lists no "mount") mounts into
// the host's mount namespace, on and under its rootfs, and chroots there instead of
// pivot_root (prepare_rootfs/finalize_rootfs leave "/"'s propagation alone then). These
// record the mounts already on or under the rootfs before create (it may be the caller's
// overlay), and unmount every other one there, innermost first (delete, a failed create).
Result<std::vector<int>> mount_ids_under(const std::string& rootfs);
Status release_host_mounts(const std::string& rootfs, const std::vector<int>& keep);

// std::vector<std::string> known_mount_options();  (mountopts.hpp)

}  // namespace crunner
