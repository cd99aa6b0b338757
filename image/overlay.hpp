// The container's rootfs: an overlay of the image's layers (read-only lowers, top first)
// with a private upper and work dir.
#pragma once

#include <string>
#include <vector>

#include "base/error.hpp"
#include "base/fd.hpp"

namespace crunner::image {

struct OverlaySpec {
  std::vector<std::string> lowers;  // top first
  std::string upper, work, target;
};

// "lowerdir=...", "upperdir=...", "workdir=..." (GrootFS's mount options when not mounting).
std::vector<std::string> overlay_options(const OverlaySpec& s);
Status mount_overlay(const OverlaySpec& s);
// Unmounts `target` if it is a mount point; fine when it is not.
Status unmount_overlay(const std::string& target);

}  // namespace crunner::image

namespace crunner::image {

struct IdMap;

// A user namespace holding `map` (made by a short-lived child), for idmapped mounts.
Result<UniqueFd> userns_with(const IdMap& map);
// Whether this kernel and filesystem can idmap mounts of `dir` (a detached probe).
bool idmapped_mounts_work(const std::string& dir, int userns_fd);
// Read-only bind of `src` at `dst`, idmapped through `userns_fd` (open_tree + mount_setattr
// MOUNT_ATTR_IDMAP + move_mount).
Status idmapped_bind(const std::string& src, const std::string& dst, int userns_fd);

}  // namespace crunner::image
