// Image references as GrootFS accepts them: docker://[registry[:port]]/name[:tag|@digest],
// oci:///path/to/layout[:tag], and a local path (a rootfs directory or a tar archive).
#pragma once

#include <string>

#include "base/error.hpp"

namespace crunner::image {

inline constexpr const char* kDockerHub = "registry-1.docker.io";

struct Reference {
  enum class Kind { Docker, Oci, Local } kind = Kind::Local;
  std::string registry;    // docker: host[:port]; kDockerHub when the URL names none
  std::string repository;  // docker: "library/busybox"
  std::string tag;         // docker/oci: tag ("latest" by default for docker)
  std::string digest;      // docker: "sha256:<hex>" when pinned
  std::string path;        // oci: layout directory; local: the path
  std::string original;    // the string given

  std::string manifest_ref() const { return digest.empty() ? tag : digest; }
};

Result<Reference> parse_reference(const std::string& s);

// "sha256:" + 64 lowercase hex digits.
bool valid_digest(const std::string& d);
// Repository path components: [a-z0-9]+ separated by . _ __ or -, joined by '/'.
bool valid_repository(const std::string& r);

}  // namespace crunner::image
