#include "image/log.hpp"

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdio>

namespace crunner::image {

namespace {
LogLevel g_level = LogLevel::Info;
}

void set_log_level(LogLevel l) {
  g_level = l;
}

void log_event(LogLevel l, const std::string& message, const std::string& key,
               const std::string& value) {
  if (l < g_level) return;
  auto now = std::chrono::system_clock::now().time_since_epoch();
  double ts = std::chrono::duration<double>(now).count();
  nlohmann::json j{{"timestamp", std::to_string(ts)},
                   {"source", "crunner-image"},
                   {"message", "crunner-image." + message},
                   {"log_level", static_cast<int>(l)},
                   {"data", nlohmann::json::object()}};
  if (!key.empty()) j["data"][key] = value;
  std::string line = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  fputs(line.c_str(), stderr);
}

}  // namespace crunner::image
