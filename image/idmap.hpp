// uid/gid mappings as GrootFS takes them ("containerID:hostID:size"), and the translation
// of a file owner from the image's ids to the host's.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "base/error.hpp"

namespace crunner::image {

struct IdRange {
  uint32_t container = 0, host = 0, size = 0;
};

struct IdMap {
  std::vector<IdRange> uids, gids;
  bool empty() const { return uids.empty() && gids.empty(); }
  // A stable name for the mapping, used to key shifted layer copies ("" when empty).
  std::string key() const;
  std::string to_json() const;
};

Result<IdRange> parse_id_range(const std::string& s);
// Container id -> host id; ids the mapping does not cover become the overflow id 65534.
uint32_t map_id(const std::vector<IdRange>& m, uint32_t id);
// Host id of the container's root (0 without a mapping).
uint32_t root_host_id(const std::vector<IdRange>& m);

}  // namespace crunner::image
