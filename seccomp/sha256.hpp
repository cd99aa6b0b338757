// SHA-256 for the seccomp filter cache key (and the image store's digests): a thin streaming
// wrapper over OpenSSL's libcrypto EVP interface.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

typedef struct evp_md_ctx_st EVP_MD_CTX;

namespace crunner::seccomp {

class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  void update(std::string_view data);
  void update(const void* data, size_t len);
  std::array<uint8_t, 32> digest();  // finalizes; call once
  std::string hexdigest();           // digest() in lowercase hex
  static std::string hex(std::string_view data);

 private:
  EVP_MD_CTX* ctx_;
};

}  // namespace crunner::seccomp
