// Disk limits: XFS project quotas on an XFS store (init-store --store-size-bytes makes one on
// a loop-mounted file, as GrootFS does). Each limited image directory gets its own project id
// (inherited by everything created under it: the overlay's upper and work dirs).
#pragma once

#include <cstdint>
#include <string>

#include "base/error.hpp"

namespace crunner::image {

bool is_xfs(const std::string& path);
Status check_backing_size(uint64_t size_bytes);  // XFS's minimum
Status mount_xfs_backing(const std::string& store, uint64_t size_bytes);
Status unmount_xfs_backing(const std::string& store);
Status apply_quota(const std::string& store, const std::string& image_dir, uint64_t bytes);
// Bytes used by the image dir's project; an error when it has no quota.
Result<uint64_t> quota_usage(const std::string& store, const std::string& image_dir);
Status remove_quota(const std::string& store, const std::string& image_dir);

}  // namespace crunner::image
