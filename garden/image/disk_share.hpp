// A pea's image shares its container's disk limit. An image plugin (crunner-image, GrootFS)
// enforces a container's limit with an XFS project quota on the image's overlay upper and
// work dirs; a pea gets an image of its own, created without a limit (as Guardian creates
// it), so without this a process with its own image could fill the store past its
// container's limit. The pea image's upper and work dirs join the container's project
// instead: everything the pea writes counts against the container's quota, and shows in its
// metrics.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace garden::image {

struct OverlayDirs {
  std::string upper, work;
};

// The overlay upper and work dirs of a root filesystem: from the overlay mounted at rootfs
// (mountinfo: an image the plugin mounted), else from an overlay mount of "/" in mounts (one
// the plugin left to the runtime). false when it is neither.
bool overlay_dirs(const std::string& rootfs, const nlohmann::json& mounts, OverlayDirs& out,
                  const std::string& mountinfo = "/proc/self/mountinfo");

// Moves the pea's upper and work dirs into the container's project (inheriting). "" when
// done, or when the container's upper dir has no project (no quota: nothing to share);
// else why not (never silently unlimited).
std::string share_disk_quota(const OverlayDirs& container, const OverlayDirs& pea);

}  // namespace garden::image
