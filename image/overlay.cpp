#include "image/overlay.hpp"

#include <sys/mount.h>

#include "libcontainer/utils.hpp"

namespace crunner::image {

std::vector<std::string> overlay_options(const OverlaySpec& s) {
  return {"lowerdir=" + join(s.lowers, ":"), "upperdir=" + s.upper, "workdir=" + s.work};
}

Status mount_overlay(const OverlaySpec& s) {
  for (const auto& p : s.lowers)
    if (p.find_first_of(",:\\") != std::string::npos)
      return invalid_spec("mount overlay: layer path `" + p + "` contains `,`, `:` or `\\`");
  std::string data = join(overlay_options(s), ",");
  if (data.size() >= 4000)
    return invalid_spec("mount overlay on `" + s.target + "`: " + std::to_string(s.lowers.size()) +
                        " layers make the mount options longer than a page");
  if (mount("overlay", s.target.c_str(), "overlay", 0, data.c_str()) < 0)
    return sys_error("mount overlay on `" + s.target + "`");
  return {};
}

Status unmount_overlay(const std::string& target) {
  if (umount2(target.c_str(), UMOUNT_NOFOLLOW) < 0) {
    if (errno == EINVAL || errno == ENOENT) return {};
    if (errno == EBUSY) {
      if (umount2(target.c_str(), MNT_DETACH | UMOUNT_NOFOLLOW) == 0) return {};
    }
    return sys_error("unmount `" + target + "`");
  }
  return {};
}

}  // namespace crunner::image
