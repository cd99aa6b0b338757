// SHA-256 (FIPS 180-4), for the seccomp filter cache key. No external crypto library.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace crunner::seccomp {

class Sha256 {
 public:
  Sha256();
  void update(std::string_view data);
  std::array<uint8_t, 32> digest();  // finalizes; call once
  std::string hexdigest();           // digest() in lowercase hex
  static std::string hex(std::string_view data);

 private:
  void block(const uint8_t* p);
  std::array<uint32_t, 8> h_;
  uint8_t buf_[64];
  size_t used_ = 0;
  uint64_t total_ = 0;
};

}  // namespace crunner::seccomp
