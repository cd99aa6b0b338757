// Where an image's layers come from: a registry (docker://), an OCI layout on disk (oci://),
// a tar archive (one layer, as CF stacks ship) or a rootfs directory (used in place).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "image/manifest.hpp"
#include "image/reference.hpp"
#include "image/registry.hpp"

namespace crunner::image {

struct Layer {
  std::string digest;    // the blob's digest (what is downloaded and verified)
  std::string chain_id;  // the store's key
  int64_t size = 0;
};

struct ResolvedImage {
  ImageConfig config;
  std::vector<Layer> layers;  // bottom first
  std::string directory;      // a rootfs directory source: used as the only lower layer
};

class Source {
 public:
  virtual ~Source() = default;
  virtual Result<ResolvedImage> resolve() = 0;
  // Writes the layer's blob, verified against its digest, to `fd`.
  virtual Status fetch(const Layer& l, int fd) = 0;
};

Result<std::unique_ptr<Source>> make_source(const Reference& ref, const RegistryOptions& opts);

// linux/amd64 resolution of an index body; exposed for tests.
inline constexpr const char* kOs = "linux";
inline constexpr const char* kArch = "amd64";

}  // namespace crunner::image
