#include "libcontainer/phase.hpp"

#include <time.h>

#include <cstdio>
#include <cstring>

namespace crunner::phase {

namespace {
Sink g_sink = nullptr;
long long g_last = 0;
bool g_buffering = false;
char g_buf[1536];  // bounded: the Ready message's text holds it
size_t g_len = 0;
}  // namespace

long long now_ns() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<long long>(ts.tv_sec) * 1000000000LL + ts.tv_nsec;
}

void enable(Sink sink, long long t0_ns) {
  g_sink = sink;
  g_last = t0_ns ? t0_ns : now_ns();
}

bool enabled() {
  return g_sink != nullptr;
}

void restart() {
  if (g_sink) g_last = now_ns();
}

void mark(const char* name, long long at_ns) {
  if (!g_sink) return;
  long long t = at_ns ? at_ns : now_ns();
  long long d = t - g_last;
  g_last = t;
  if (!g_buffering) {
    g_sink(name, static_cast<double>(d) / 1e6);
    return;
  }
  int n = snprintf(g_buf + g_len, sizeof g_buf - g_len, "%s=%lld\n", name, d);
  if (n > 0 && static_cast<size_t>(n) < sizeof g_buf - g_len) g_len += static_cast<size_t>(n);
}

void buffer() {
  g_buffering = true;
  g_len = 0;
}

std::string drain() {
  std::string s(g_buf, g_len);
  g_len = 0;
  return s;
}

void replay(const std::string& lines, const char* prefix) {
  if (!g_sink) return;
  size_t pos = 0;
  while (pos < lines.size()) {
    size_t nl = lines.find('\n', pos);
    if (nl == std::string::npos) nl = lines.size();
    std::string line = lines.substr(pos, nl - pos);
    pos = nl + 1;
    size_t eq = line.rfind('=');
    if (eq == std::string::npos || eq == 0) continue;
    long long ns = 0;
    bool ok = eq + 1 < line.size();
    for (size_t i = eq + 1; i < line.size(); i++) {
      if (line[i] < '0' || line[i] > '9' || ns > 1000000000000000LL) {
        ok = false;
        break;
      }
      ns = ns * 10 + (line[i] - '0');
    }
    if (!ok) continue;
    std::string name = std::string(prefix) + line.substr(0, eq);
    g_sink(name.c_str(), static_cast<double>(ns) / 1e6);
  }
}

}  // namespace crunner::phase
