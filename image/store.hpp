// The store: layers unpacked once (layers/<chain id>[-<mapping>]/diff), shared by every image
// that lists them; images (images/<id>/{rootfs,diff,work,image.json}) are overlay mounts of
// their layers with a private upper dir. A layer's reference count is the number of images
// whose image.json lists it, so it cannot drift from what is mounted. Locks (locks/):
// store.lock (shared by create, exclusive for clean/delete-store) and one per layer, held
// while it is fetched and unpacked, so concurrent creates fetch each blob once.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/error.hpp"
#include "image/idmap.hpp"
#include "image/registry.hpp"

namespace crunner::image {

struct CreateSpec {
  std::string id;
  std::string image;  // the reference as given
  int64_t disk_limit = 0;
  bool exclude_image_from_quota = false;
  bool mount = true;  // false: print the overlay mount for the caller instead
  IdMap map;
  RegistryOptions registry;
};

struct CreatedImage {
  std::string rootfs;                // <store>/images/<id>/rootfs
  std::vector<std::string> env;      // from the image config
  std::vector<std::string> options;  // overlay options, when not mounted
};

struct DiskUsage {
  uint64_t total = 0, exclusive = 0;
};

class Store {
 public:
  explicit Store(std::string path) : path_(std::move(path)) {}
  const std::string& path() const { return path_; }

  Status init(const IdMap& map, uint64_t size_bytes);
  bool initialized() const;
  Result<CreatedImage> create(const CreateSpec& spec);
  // false when there was no such image.
  Result<bool> remove(const std::string& id);
  Result<DiskUsage> stats(const std::string& id);
  Result<std::vector<std::string>> list();  // image paths
  // Removes layers no image uses; with threshold > 0 only when the store uses more. Returns
  // the number removed, or -1 when below the threshold.
  Result<long> clean(uint64_t threshold);
  Status destroy();
  IdMap store_map() const;
  uint64_t layers_bytes() const;

 private:
  Status ensure_layer(class Source& src, const struct Layer& l, const std::string& key,
                      const IdMap& map);
  std::string path_;
};

bool valid_image_id(const std::string& id);

}  // namespace crunner::image
