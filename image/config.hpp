// GrootFS's YAML config file (--config), the subset of keys crunner-image implements:
//
//   store: /var/lib/crunner-image        log_level: debug|info|error|fatal
//   init:   { store_size_bytes: N, uid_mappings: [..], gid_mappings: [..] }
//   create: { disk_limit_size_bytes: N, exclude_image_from_quota: bool, with_mount: bool,
//             without_mount: bool, insecure_registries: [..], registry_mirror: URL }
//   clean:  { threshold_bytes: N }
//
// Block style only ("key: value", two-space nesting, "- item" lists, # comments); any other
// key is refused by name.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "base/error.hpp"

namespace crunner::image {

struct Config {
  std::optional<std::string> store, log_level, registry_mirror;
  std::optional<uint64_t> store_size_bytes, disk_limit_size_bytes, clean_threshold_bytes;
  std::optional<bool> exclude_image_from_quota, without_mount;
  std::vector<std::string> uid_mappings, gid_mappings, insecure_registries;
};

Result<Config> parse_config_text(const std::string& text, const std::string& name);
Result<Config> load_config(const std::string& path);

}  // namespace crunner::image
