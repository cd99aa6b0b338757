// SHA-256 (the seccomp filter cache key, the image store's digests): a thin streaming wrapper
// over nettle's sha256 (Debian's nettle-dev). Not OpenSSL's libcrypto: linked into the static
// crunner it added ~2.2 MB of text and ~340 KB of relocated data to every start (peak RSS) and
// three glibc static-link warnings (dlopen, getaddrinfo, gethostbyname).
#pragma once

#include <nettle/sha2.h>

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace crunner {

class Sha256 {
 public:
  Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  void update(std::string_view data);
  void update(const void* data, size_t len);
  std::array<uint8_t, 32> digest();  // finalizes; call once
  std::string hexdigest();           // digest() in lowercase hex
  static std::string hex(std::string_view data);

 private:
  sha256_ctx ctx_;
};

}  // namespace crunner
