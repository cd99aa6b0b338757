// Wall-clock time as the OCI state and Garden print it.
#pragma once

#include <string>

namespace crunner {

// Time in RFC3339 with nanoseconds (UTC, "2006-01-02T15:04:05.999999999Z").
std::string rfc3339_nano(long long sec, long long nsec);
std::string now_rfc3339_nano();
std::string now_rfc3339();

}  // namespace crunner
