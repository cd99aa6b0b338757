// config.json parser and validator: any bytes in, a Spec or an error out; never a
// crash, an uncaught exception, a hang or undefined behaviour.
#include <cstddef>
#include <cstdint>
#include <string>

#include "libcontainer/spec.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  auto sp = crunner::spec::parse_spec(text);
  if (sp) (void)crunner::spec::validate(*sp);
  // The exec --process path parses a bare process object.
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (!j.is_discarded()) (void)crunner::spec::parse_process(j);
  return 0;
}
