#include "seccomp/sha256.hpp"

#include <openssl/evp.h>

#include <cstdlib>

namespace crunner::seccomp {

// EVP_DigestInit_ex on SHA-256 fails only when allocation fails: treat it like a failed new.
Sha256::Sha256() : ctx_(EVP_MD_CTX_new()) {
  if (!ctx_ || EVP_DigestInit_ex(ctx_, EVP_sha256(), nullptr) != 1) std::abort();
}

Sha256::~Sha256() {
  EVP_MD_CTX_free(ctx_);
}

void Sha256::update(std::string_view data) {
  update(data.data(), data.size());
}

void Sha256::update(const void* data, size_t len) {
  EVP_DigestUpdate(ctx_, data, len);
}

std::array<uint8_t, 32> Sha256::digest() {
  std::array<uint8_t, 32> out{};
  unsigned int n = 0;
  EVP_DigestFinal_ex(ctx_, out.data(), &n);
  return out;
}

std::string Sha256::hexdigest() {
  static const char* kHex = "0123456789abcdef";
  auto d = digest();
  std::string s;
  s.reserve(64);
  for (uint8_t b : d) {
    s.push_back(kHex[b >> 4]);
    s.push_back(kHex[b & 15]);
  }
  return s;
}

std::string Sha256::hex(std::string_view data) {
  Sha256 h;
  h.update(data);
  return h.hexdigest();
}

}  // namespace crunner::seccomp
