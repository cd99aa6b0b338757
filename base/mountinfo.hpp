// /proc/self/mountinfo parsing.
#pragma once

#include <string>
#include <vector>

#include "base/error.hpp"

namespace crunner {

struct MountInfo {
  int id = 0, parent = 0;
  std::string root;        // root of the mount inside its filesystem
  std::string mountpoint;  // unescaped
  std::string options;     // per-mount options ("rw,nosuid,relatime")
  std::string optional;    // optional fields ("shared:1 master:2"), space-joined
  std::string fstype;
  std::string source;
  std::string super_options;  // per-superblock options ("rw,cpu,cpuacct")
};

// Parses mountinfo text; malformed lines are skipped.
std::vector<MountInfo> parse_mountinfo(const std::string& text);
Result<std::vector<MountInfo>> read_mountinfo(const std::string& path = "/proc/self/mountinfo");

// The mount whose mountpoint is the longest prefix of `path` (an absolute, clean
// path); nullptr when none.
const MountInfo* find_mount_of(const std::vector<MountInfo>& mounts, const std::string& path);

}  // namespace crunner
