// Image manifests (Docker schema 2 and OCI), manifest lists / OCI indexes, and image configs.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/error.hpp"

namespace crunner::image {

inline constexpr const char* kMediaOciIndex = "application/vnd.oci.image.index.v1+json";
inline constexpr const char* kMediaOciManifest = "application/vnd.oci.image.manifest.v1+json";
inline constexpr const char* kMediaDockerList =
    "application/vnd.docker.distribution.manifest.list.v2+json";
inline constexpr const char* kMediaDockerManifest =
    "application/vnd.docker.distribution.manifest.v2+json";
inline constexpr size_t kMaxManifestBytes = 4u << 20;
inline constexpr size_t kMaxConfigBytes = 8u << 20;

struct Descriptor {
  std::string media_type;
  std::string digest;
  int64_t size = 0;
  std::string os, arch, variant;  // platform, in indexes only
  std::string ref_name;           // org.opencontainers.image.ref.name annotation
};

struct Manifest {
  Descriptor config;
  std::vector<Descriptor> layers;
};

struct ImageConfig {
  std::vector<std::string> env;
  std::string user;
  std::string workdir;
  std::vector<std::string> diff_ids;
};

enum class ManifestKind { Index, Manifest };

// Index or manifest, from its media type (or, when the registry sends none, its content).
Result<ManifestKind> manifest_kind(const std::string& media_type, const std::string& body);
// The entries of an index / manifest list.
Result<std::vector<Descriptor>> parse_index(const std::string& body);
// The one entry for os/arch (variant ignored unless several match); error names what there is.
Result<Descriptor> select_platform(const std::vector<Descriptor>& entries, const std::string& os,
                                   const std::string& arch);
Result<Manifest> parse_manifest(const std::string& body);
Result<ImageConfig> parse_config(const std::string& body);

// chain ids: chain[0] = diff[0], chain[n] = sha256(chain[n-1] + " " + diff[n]).
std::vector<std::string> chain_ids(const std::vector<std::string>& diff_ids);

}  // namespace crunner::image
