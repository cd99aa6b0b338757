// A client of the Registry HTTP API v2 (libcurl): /v2/ ping, manifests, blobs; anonymous,
// bearer-token and basic authentication; TLS with --insecure-registry as the escape hatch.
#pragma once

#include <curl/curl.h>

#include <memory>
#include <string>
#include <vector>

#include "base/error.hpp"
#include "image/reference.hpp"

namespace crunner::image {

struct RegistryOptions {
  std::string username, password;
  std::vector<std::string> insecure_registries;  // host[:port]: TLS unverified, plain HTTP allowed
  std::string mirror;  // used instead of Docker Hub: [http[s]://]host[:port]
};

class Registry {
 public:
  Registry(Reference ref, RegistryOptions opts);
  ~Registry();
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // GET /v2/<name>/manifests/<ref>: the body (bounded) and its Content-Type. When `ref` is a
  // digest, the body is verified against it.
  Result<std::pair<std::string, std::string>> manifest(const std::string& ref);
  // GET /v2/<name>/blobs/<digest> into `fd`, verified against digest and size as it streams.
  Status blob(const std::string& digest, int64_t size, int fd);
  // The same, into memory (configs), bounded by `max`.
  Result<std::string> blob_bytes(const std::string& digest, int64_t size, size_t max);

 private:
  struct Transfer;  // one request's response: status, headers, body sink
  Status connect();
  Status perform(const std::string& path, const std::vector<std::string>& headers, Transfer& t);
  Status authenticate(const std::string& challenge);
  std::string base() const { return scheme_ + "://" + host_; }
  Error http_error(const std::string& what, const Transfer& t) const;

  Reference ref_;
  RegistryOptions opts_;
  std::string host_, scheme_;
  bool insecure_ = false, connected_ = false, via_mirror_ = false;
  std::string auth_header_;
  CURL* curl_ = nullptr;
};

}  // namespace crunner::image
