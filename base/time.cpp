#include "base/time.hpp"

#include <time.h>

#include <chrono>
#include <cstdio>

namespace crunner {

std::string rfc3339_nano(long long sec, long long nsec) {
  // The UTC calendar date by std::chrono's arithmetic: strftime, and gmtime_r too, read
  // /etc/localtime (glibc's tzset) on their first call, 7 syscalls per create and run.
  using namespace std::chrono;
  const sys_seconds t{seconds{sec}};
  const sys_days day = floor<days>(t);
  const year_month_day ymd{day};
  const hh_mm_ss<seconds> hms{t - day};
  char buf[64];
  snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02d:%02d:%02d", static_cast<int>(ymd.year()),
           static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
           static_cast<int>(hms.hours().count()), static_cast<int>(hms.minutes().count()),
           static_cast<int>(hms.seconds().count()));
  std::string s = buf;
  if (nsec > 0) {
    char frac[32];
    snprintf(frac, sizeof frac, ".%09lld", nsec);
    std::string f = frac;
    while (f.back() == '0') f.pop_back();  // Go's RFC3339Nano trims trailing zeros
    s += f;
  }
  return s + "Z";
}

std::string now_rfc3339_nano() {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return rfc3339_nano(ts.tv_sec, ts.tv_nsec);
}

std::string now_rfc3339() {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return rfc3339_nano(ts.tv_sec, 0);
}

}  // namespace crunner
