// The container's rootfs: an overlay of the image's layers (read-only lowers, top first)
// with a private upper and work dir.
#pragma once

#include <string>
#include <vector>

#include "libcontainer/error.hpp"

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
