// linux.seccomp profile validator and compiler (libseccomp): the input is the JSON of
// the linux.seccomp object. Compiling needs no privilege; nothing is loaded.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "seccomp/seccomp.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto j = nlohmann::json::parse(reinterpret_cast<const char*>(data),
                                 reinterpret_cast<const char*>(data) + size, nullptr, false);
  if (j.is_discarded()) return 0;
  if (!crunner::seccomp::validate(j)) return 0;
  std::vector<std::string> warnings;
  (void)crunner::seccomp::compile(j, &warnings);
  (void)crunner::seccomp::cache_key(j);
  return 0;
}
