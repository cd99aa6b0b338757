// crunner-image's log: one JSON line per event on stderr, lager-shaped as GrootFS writes
// them ({"timestamp","source","message","log_level","data"}), filtered by --log-level.
#pragma once

#include <string>

namespace crunner::image {

enum class LogLevel { Debug = 0, Info = 1, Error = 2, Fatal = 3 };

void set_log_level(LogLevel l);
void log_event(LogLevel l, const std::string& message, const std::string& key = "",
               const std::string& value = "");

}  // namespace crunner::image
