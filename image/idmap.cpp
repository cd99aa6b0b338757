#include "image/idmap.hpp"

#include "base/error.hpp"
#include "base/sha256.hpp"
#include "base/text.hpp"

namespace crunner::image {

Result<IdRange> parse_id_range(const std::string& s) {
  auto parts = split(s, ':');
  unsigned long long v[3];
  if (parts.size() != 3 || !parse_u64(parts[0], v[0]) || !parse_u64(parts[1], v[1]) ||
      !parse_u64(parts[2], v[2]))
    return invalid_spec("parse id mapping `" + s + "`: want containerID:hostID:size");
  if (v[2] == 0 || v[0] + v[2] > (1ull << 32) || v[1] + v[2] > (1ull << 32))
    return invalid_spec("parse id mapping `" + s + "`: range out of bounds");
  return IdRange{static_cast<uint32_t>(v[0]), static_cast<uint32_t>(v[1]),
                 static_cast<uint32_t>(v[2])};
}

uint32_t map_id(const std::vector<IdRange>& m, uint32_t id) {
  if (m.empty()) return id;
  for (const auto& r : m)
    if (id >= r.container && id - r.container < r.size) return r.host + (id - r.container);
  return 65534;
}

uint32_t root_host_id(const std::vector<IdRange>& m) {
  return map_id(m, 0);
}

std::string IdMap::to_json() const {
  std::string s = "{\"uid\":[";
  for (size_t i = 0; i < uids.size(); i++)
    s += std::string(i ? "," : "") + "\"" + std::to_string(uids[i].container) + ":" +
         std::to_string(uids[i].host) + ":" + std::to_string(uids[i].size) + "\"";
  s += "],\"gid\":[";
  for (size_t i = 0; i < gids.size(); i++)
    s += std::string(i ? "," : "") + "\"" + std::to_string(gids[i].container) + ":" +
         std::to_string(gids[i].host) + ":" + std::to_string(gids[i].size) + "\"";
  return s + "]}";
}

std::string IdMap::key() const {
  if (empty()) return "";
  return Sha256::hex(to_json()).substr(0, 16);
}

}  // namespace crunner::image
