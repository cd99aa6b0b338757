// Cgroup statistics (runc's cgroups.Stats) and their JSON in the shape of `runc events`.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace crunner::cgroups {

struct MemoryEntry {
  uint64_t usage = 0, max_usage = 0, failcnt = 0, limit = 0;
};
struct BlkioEntry {
  uint64_t major = 0, minor = 0;
  std::string op;
  uint64_t value = 0;
};
struct HugetlbEntry {
  uint64_t usage = 0, max_usage = 0, failcnt = 0;
};

struct Stats {
  struct {
    uint64_t total = 0, kernel = 0, user = 0;  // nanoseconds
    std::vector<uint64_t> percpu, percpu_kernel, percpu_user;
    uint64_t periods = 0, throttled_periods = 0, throttled_time = 0;
  } cpu;
  struct {
    uint64_t cache = 0;
    MemoryEntry usage, swap, kernel, kernel_tcp;
    std::map<std::string, uint64_t> raw;  // memory.stat
    uint64_t oom_kill = 0;                // OOM kills so far (v1 oom_control, v2 memory.events)
    bool under_oom = false;
  } memory;
  struct {
    uint64_t current = 0, limit = 0;  // limit 0: unlimited
  } pids;
  struct {
    std::vector<BlkioEntry> io_service_bytes_recursive, io_serviced_recursive;
  } blkio;
  std::map<std::string, HugetlbEntry> hugetlb;  // by page size ("2MB")
};

// {"cpu":{"usage":{...},"throttling":{...}},"memory":{...},"pids":{...},"blkio":{...},
//  "hugetlb":{...}} with runc's field names and its omitempty rules.
nlohmann::json stats_to_json(const Stats& s);

}  // namespace crunner::cgroups
