// Each container's own writable layer over its (shared, read-only to it) image rootfs,
// the way an image plugin (grootfs) gives every container a copy-on-write filesystem:
//
//   <cdir>/layer/          upper/ and work/ of the overlay; with a disk limit this is the
//                          mount point of <cdir>/disk.img, a sparse ext4 file system on a
//                          loop device whose size (and inode count) is the limit
//   <cdir>/rootfs/         the overlay (lowerdir = image, upperdir = layer/upper): the
//                          container's root
//
// Disk limits (garden DiskLimits): byte_hard / inode_hard are enforced by the size and
// inode count of the layer's file system; scope total (0) counts the image too, so the
// layer gets byte_hard minus the image's size; scope exclusive (1) counts only the
// container's own writes. Soft limits have no enforcement point in a file system without
// quota grace periods: they are recorded and reported, as grootfs does.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace garden {

struct DiskLimits {
  unsigned long long byte_soft = 0, byte_hard = 0, inode_soft = 0, inode_hard = 0;
  int scope = 0;  // 0 total, 1 exclusive
  bool limited() const { return byte_hard > 0 || inode_hard > 0; }
};

// Parses garden's disk_limits object; err set on a value of the wrong type or range.
DiskLimits parse_disk_limits(const nlohmann::json& j, std::string& err);

struct Usage {
  unsigned long long bytes = 0, inodes = 0;
};

// Bytes (allocated blocks) and inodes of a directory tree, each inode counted once;
// the root directory itself is not counted.
Usage tree_usage(const std::string& dir);

struct Layer {
  std::string merged;  // the container's root (the overlay mount point)
  Usage image;         // the image's usage (scope total limits count it)
  Usage base;          // what the empty layer file system already uses (limited only)
  bool limited = false;
};

// Sets up <cdir>/rootfs over image; on error, nothing stays mounted. The overlay is nodev
// unless devices is set: a privileged container's runtime mknods /dev/null & co. in its
// rootfs's /dev (unprivileged ones get them bind-mounted from the host). With templates (a
// directory), a limited layer's file system is a copy of one made there once per size and
// inode count instead of a mkfs.ext4 of its own.
std::string create_layer(const std::string& cdir, const std::string& image, const DiskLimits& dl,
                         Layer& out, bool devices = false, const std::string& templates = "");

// The container's own writes: the layer file system's usage (limited) or its upper tree.
Usage layer_usage(const std::string& cdir, bool limited, const Usage& base);

// The loop devices whose backing file is below path ("/dev/loopN").
std::vector<std::string> loops_under(const std::string& path);

// Waits (bounded, a few seconds) for the loop devices backed below path to clear
// themselves: the kernel runs an autoclear after the last unmount asynchronously. Returns
// false if one is still attached (a lazily detached mount still in use).
bool wait_loops_released(const std::string& path);

// Unmounts every mount at or below path (deepest first; lazily when busy), so that the
// tree can be removed without deleting through a mount. Returns an error text if a mount
// is left.
std::string unmount_under(const std::string& path);

}  // namespace garden
