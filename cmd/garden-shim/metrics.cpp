// Metrics and bulk_metrics, from the runtime's `events --stats` (cgroup figures).
#include "cmd/garden-shim/server.hpp"
#include "libcontainer/utils.hpp"

namespace garden {

namespace {

const char* const kMemoryFields[] = {"active_anon",
                                     "active_file",
                                     "cache",
                                     "hierarchical_memory_limit",
                                     "inactive_anon",
                                     "inactive_file",
                                     "mapped_file",
                                     "pgfault",
                                     "pgmajfault",
                                     "pgpgin",
                                     "pgpgout",
                                     "rss",
                                     "rss_huge",
                                     "total_active_anon",
                                     "total_active_file",
                                     "total_cache",
                                     "total_inactive_anon",
                                     "total_inactive_file",
                                     "total_mapped_file",
                                     "total_pgfault",
                                     "total_pgmajfault",
                                     "total_pgpgin",
                                     "total_pgpgout",
                                     "total_rss",
                                     "total_rss_huge",
                                     "total_unevictable",
                                     "unevictable",
                                     "swap",
                                     "hierarchical_memsw_limit",
                                     "total_swap"};

unsigned long long u64(const json& j, std::initializer_list<const char*> path) {
  const json* cur = &j;
  for (const char* k : path) {
    if (!cur->is_object() || !cur->contains(k)) return 0;
    cur = &(*cur)[k];
  }
  return cur->is_number() ? cur->get<unsigned long long>() : 0;
}

json empty_metrics() {
  json mem = json::object();
  for (const char* f : kMemoryFields) mem[f] = 0;
  mem["TotalUsageTowardLimit"] = 0;
  return {{"MemoryStat", mem},
          {"CPUStat", {{"Usage", 0}, {"User", 0}, {"System", 0}}},
          {"DiskStat",
           {{"TotalBytesUsed", 0},
            {"TotalInodesUsed", 0},
            {"ExclusiveBytesUsed", 0},
            {"ExclusiveInodesUsed", 0}}},
          {"NetworkStat", nullptr},
          {"PidStat", {{"Current", 0}, {"Max", 0}}},
          {"Age", 0},
          {"CPUEntitlement", 0}};
}

}  // namespace

json Server::metrics_json(Container& c, std::string& err) {
  json data = runtime_.stats(c.handle, err);
  if (!err.empty()) return nullptr;
  json m = empty_metrics();
  const json raw =
      data.contains("memory") ? data["memory"].value("raw", json::object()) : json::object();
  for (const char* f : kMemoryFields)
    if (raw.contains(f) && raw[f].is_number()) m["MemoryStat"][f] = raw[f];
  unsigned long long usage = u64(data, {"memory", "usage", "usage"});
  unsigned long long inactive = u64(raw, {"total_inactive_file"});
  m["MemoryStat"]["TotalUsageTowardLimit"] = usage > inactive ? usage - inactive : 0;
  m["CPUStat"] = {{"Usage", u64(data, {"cpu", "usage", "total"})},
                  {"User", u64(data, {"cpu", "usage", "user"})},
                  {"System", u64(data, {"cpu", "usage", "kernel"})}};
  m["PidStat"] = {{"Current", u64(data, {"pids", "current"})},
                  {"Max", u64(data, {"pids", "limit"})}};
  long long created = 0;
  {
    std::lock_guard<std::mutex> lk(c.mu);
    created = c.meta.value("created_ns", 0LL);
  }
  m["Age"] = created ? now_unix_ns() - created : 0;
  return m;
}

Response Server::metrics(const std::string& handle) {
  auto c = find(handle);
  if (!c) return unknown_handle(handle);
  ActiveGuard g(c);
  std::string err;
  json m = metrics_json(*c, err);
  if (!err.empty()) return error_response("", err, handle);
  return json_response(200, m);
}

Response Server::bulk_metrics(const Request& req) {
  json out = json::object();
  auto it = req.query.find("handles");
  if (it == req.query.end()) return json_response(200, out);
  for (auto& h : crunner::split(it->second, ',')) {
    if (h.empty()) continue;
    auto c = find(h);
    if (!c) {
      out[h] = {{"Metrics", empty_metrics()}, {"Err", json::parse(unknown_handle(h).body)}};
      continue;
    }
    ActiveGuard g(c);
    std::string err;
    json m = metrics_json(*c, err);
    if (!err.empty())
      out[h] = {{"Metrics", empty_metrics()},
                {"Err", json::parse(error_response("", err, h).body)}};
    else
      out[h] = {{"Metrics", m}, {"Err", nullptr}};
  }
  return json_response(200, out);
}

}  // namespace garden
