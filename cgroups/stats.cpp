#include "cgroups/stats.hpp"

namespace crunner::cgroups {

using nlohmann::json;

namespace {

void put_nonzero(json& j, const char* key, uint64_t v) {
  if (v) j[key] = v;
}

json memory_entry(const MemoryEntry& e) {
  json j = json::object();
  j["limit"] = e.limit;
  put_nonzero(j, "usage", e.usage);
  put_nonzero(j, "max", e.max_usage);
  j["failcnt"] = e.failcnt;
  return j;
}

json blkio_list(const std::vector<BlkioEntry>& v) {
  json a = json::array();
  for (auto& e : v) {
    json j = json::object();
    put_nonzero(j, "major", e.major);
    put_nonzero(j, "minor", e.minor);
    if (!e.op.empty()) j["op"] = e.op;
    put_nonzero(j, "value", e.value);
    a.push_back(j);
  }
  return a;
}

}  // namespace

json stats_to_json(const Stats& s) {
  json cpu_usage = json::object();
  put_nonzero(cpu_usage, "total", s.cpu.total);
  if (!s.cpu.percpu.empty()) cpu_usage["percpu"] = s.cpu.percpu;
  if (!s.cpu.percpu_kernel.empty()) cpu_usage["percpu_kernel"] = s.cpu.percpu_kernel;
  if (!s.cpu.percpu_user.empty()) cpu_usage["percpu_user"] = s.cpu.percpu_user;
  cpu_usage["kernel"] = s.cpu.kernel;
  cpu_usage["user"] = s.cpu.user;
  json thr = json::object();
  put_nonzero(thr, "periods", s.cpu.periods);
  put_nonzero(thr, "throttledPeriods", s.cpu.throttled_periods);
  put_nonzero(thr, "throttledTime", s.cpu.throttled_time);

  json mem = json::object();
  put_nonzero(mem, "cache", s.memory.cache);
  mem["usage"] = memory_entry(s.memory.usage);
  mem["swap"] = memory_entry(s.memory.swap);
  mem["kernel"] = memory_entry(s.memory.kernel);
  mem["kernelTCP"] = memory_entry(s.memory.kernel_tcp);
  if (!s.memory.raw.empty()) mem["raw"] = s.memory.raw;

  json pids = json::object();
  put_nonzero(pids, "current", s.pids.current);
  put_nonzero(pids, "limit", s.pids.limit);

  json blkio = json::object();
  if (!s.blkio.io_service_bytes_recursive.empty())
    blkio["ioServiceBytesRecursive"] = blkio_list(s.blkio.io_service_bytes_recursive);
  if (!s.blkio.io_serviced_recursive.empty())
    blkio["ioServicedRecursive"] = blkio_list(s.blkio.io_serviced_recursive);

  json huge = json::object();
  for (auto& [size, e] : s.hugetlb) {
    json h = json::object();
    put_nonzero(h, "usage", e.usage);
    put_nonzero(h, "max", e.max_usage);
    h["failcnt"] = e.failcnt;
    huge[size] = h;
  }

  json out = json::object();
  out["cpu"] = {{"usage", cpu_usage}, {"throttling", thr}};
  out["cpuset"] = json::object();
  out["memory"] = mem;
  out["pids"] = pids;
  out["blkio"] = blkio;
  out["hugetlb"] = huge;
  out["intel_rdt"] = json::object();
  out["network_interfaces"] = nullptr;
  return out;
}

}  // namespace crunner::cgroups
