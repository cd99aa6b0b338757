#include "base/sha256.hpp"

namespace crunner {

Sha256::Sha256() {
  sha256_init(&ctx_);
}

void Sha256::update(std::string_view data) {
  update(data.data(), data.size());
}

void Sha256::update(const void* data, size_t len) {
  sha256_update(&ctx_, len, static_cast<const uint8_t*>(data));
}

std::array<uint8_t, 32> Sha256::digest() {
  std::array<uint8_t, 32> out{};
  sha256_digest(&ctx_, out.size(), out.data());
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

}  // namespace crunner
