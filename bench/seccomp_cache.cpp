// Seccomp filter cache: time to get a loadable Program for a profile
//   compile        libseccomp every time (what runc does for every container)
//   cache miss     compile + write <cache>/<sha256>.bpf
//   cache hit      parse + hash + read the file
// Usage: seccomp-cache-bench [iterations] [profile.json]  (default: crunner's default
// profile). Prints numbers only; nothing is asserted.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "base/file.hpp"
#include "seccomp/seccomp.hpp"

using namespace crunner;
using Clock = std::chrono::steady_clock;

static double us_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::micro>(Clock::now() - t0).count();
}

int main(int argc, char** argv) {
  int n = argc > 1 ? std::atoi(argv[1]) : 200;
  if (n < 1) n = 1;
  nlohmann::json profile = seccomp::default_profile();
  if (argc > 2) {
    auto text = read_file(argv[2]);
    if (!text) {
      std::fprintf(stderr, "%s\n", text.error().what().c_str());
      return 1;
    }
    auto spec = nlohmann::json::parse(*text, nullptr, false);
    if (spec.is_discarded()) {
      std::fprintf(stderr, "%s: not JSON\n", argv[2]);
      return 1;
    }
    profile = spec.contains("linux") ? spec["linux"]["seccomp"] : spec;
  }
  char tmpl[] = "/tmp/crunner-bench-seccomp-XXXXXX";
  if (!mkdtemp(tmpl)) return 1;
  std::string dir = tmpl;

  size_t insns = 0;
  auto t0 = Clock::now();
  for (int i = 0; i < n; i++) {
    auto r = seccomp::compile(profile, nullptr);
    if (!r) {
      std::fprintf(stderr, "%s\n", r.error().what().c_str());
      return 1;
    }
    insns = r->insns.size();
  }
  double compile_us = us_since(t0) / n;

  double miss_us = 0;
  for (int i = 0; i < n; i++) {
    std::string d = dir + "/miss" + std::to_string(i);
    auto t = Clock::now();
    auto r = seccomp::compile_cached(profile, d, nullptr);
    miss_us += us_since(t);
    if (!r) return 1;
  }
  miss_us /= n;

  (void)seccomp::compile_cached(profile, dir + "/hit", nullptr);
  t0 = Clock::now();
  for (int i = 0; i < n; i++)
    if (!seccomp::compile_cached(profile, dir + "/hit", nullptr)) return 1;
  double hit_us = us_since(t0) / n;

  std::printf("seccomp profile: %zu BPF instructions, libseccomp %s, %d iterations\n", insns,
              seccomp::libseccomp_version().c_str(), n);
  std::printf("compile (libseccomp)   %9.1f us\n", compile_us);
  std::printf("cache miss (+write)    %9.1f us\n", miss_us);
  std::printf("cache hit              %9.1f us   (%.1fx faster than compile)\n", hit_us,
              compile_us / hit_us);
  (void)!std::system(("rm -rf '" + dir + "'").c_str());
  return 0;
}
