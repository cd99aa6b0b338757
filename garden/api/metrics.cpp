// Metrics and bulk_metrics, from the runtime's `events --stats` (cgroup figures) and the
// container's writable layer (disk usage); for a running pea's process id, its cgroup figures.
#include <algorithm>
#include <cmath>
#include <limits>

#include "base/file.hpp"
#include "base/proc.hpp"
#include "base/text.hpp"
#include "garden/api/decode.hpp"
#include "garden/api/server.hpp"
#include "garden/cgroups/memory.hpp"
#include "garden/rootfs/rootfs_layer.hpp"

namespace garden {

using ojson = nlohmann::ordered_json;

namespace {

// Guardian's CPU entitlement: the nanoseconds of CPU a container is entitled to over its
// life, proportional to its memory (1 GiB = one CPU): memory limit in GiB * age in ns. A
// container without a limit is bounded by the host's memory.
unsigned long long cpu_entitlement(unsigned long long mem_limit, long long age_ns) {
  unsigned long long host = crunner::memory_total();
  if (mem_limit == 0 || (host && mem_limit > host)) mem_limit = host;
  if (age_ns <= 0) return 0;
  long double e = static_cast<long double>(mem_limit) / (1024.0L * 1024.0L * 1024.0L) *
                  static_cast<long double>(age_ns);
  if (e >= static_cast<long double>(std::numeric_limits<unsigned long long>::max()))
    return std::numeric_limits<unsigned long long>::max();
  return static_cast<unsigned long long>(e);
}

unsigned long long u64(const json& j, std::initializer_list<const char*> path) {
  const json* cur = &j;
  for (const char* k : path) {
    if (!cur->is_object() || !cur->contains(k)) return 0;
    cur = &(*cur)[k];
  }
  return cur->is_number() ? cur->get<unsigned long long>() : 0;
}

// garden's Metrics, every struct's fields in its declaration order.
ojson empty_metrics() {
  return {{"MemoryStat", cgroups::memory_stat(json::object())},
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

// The cgroup figures of the runtime's `events --stats` data.
void cgroup_stats(ojson& m, const json& data) {
  m["MemoryStat"] = cgroups::memory_stat(data);
  m["CPUStat"] = {{"Usage", u64(data, {"cpu", "usage", "total"})},
                  {"User", u64(data, {"cpu", "usage", "user"})},
                  {"System", u64(data, {"cpu", "usage", "kernel"})}};
  m["PidStat"] = {{"Current", u64(data, {"pids", "current"})},
                  {"Max", u64(data, {"pids", "limit"})}};
}

}  // namespace

std::optional<ojson> Server::pea_metrics(const std::string& id, std::string& err) {
  std::vector<std::shared_ptr<Container>> all;
  {
    std::lock_guard<std::mutex> lk(mu_);
    for (auto& [h, c] : containers_)
      if (!c->destroying) all.push_back(c);
  }
  for (auto& c : all) {
    std::string dir;
    {
      std::lock_guard<std::mutex> lk(c->mu);
      auto it = c->processes.find(id);
      if (it == c->processes.end()) continue;
      dir = it->second->dir;
    }
    // A pea is a runtime container of its own (its bundle in its process directory),
    // under the container's peas root; a plain process is not answered for.
    if (!crunner::path_exists(dir + "/config.json")) continue;
    Runtime rt(runtime_.bin(), c->dir + "/peas");
    json data = rt.stats(id, err);
    if (!err.empty()) {
      // Exited, its runtime container deleted, not yet out of the process table: gone.
      if (rt.status(id).empty()) err.clear();
      return std::nullopt;
    }
    ojson m = empty_metrics();
    cgroup_stats(m, data);
    return m;
  }
  return std::nullopt;
}

ojson Server::metrics_json(Container& c, std::string& err) {
  json data = runtime_.stats(c.handle, err);
  if (!err.empty()) return nullptr;
  ojson m = empty_metrics();
  cgroup_stats(m, data);
  long long created = 0;
  json layer, limits;
  std::string image, plugin;
  {
    std::lock_guard<std::mutex> lk(c.mu);
    created = c.meta.value("created_ns", 0LL);
    layer = c.meta.value("layer", json());
    limits = c.meta.value("limits", json::object());
    image = c.meta.value("image", "");
    plugin = c.meta.value("image_plugin", "");
  }
  if (!plugin.empty()) {  // the image plugin's `stats`, bytes only (as Guardian)
    image::DiskUsage du;
    const auto& ps = cfg_.image_plugins;
    const image::Plugin& p = plugin == "privileged" ? ps.privileged : ps.unprivileged;
    if (!p.configured()) {
      err = "requested image plugin not available";
      return nullptr;
    }
    if (!ps.stats(p, c.handle, du, err)) return nullptr;
    m["DiskStat"]["TotalBytesUsed"] = du.total_bytes;
    m["DiskStat"]["ExclusiveBytesUsed"] = du.exclusive_bytes;
  }
  long long age = created ? now_unix_ns() - created : 0;
  m["Age"] = age;
  unsigned long long mem_limit = 0;
  if (limits.is_object()) mem_limit = u64(limits, {"memory_limits", "limit_in_bytes"});
  m["CPUEntitlement"] = cpu_entitlement(mem_limit, age);
  if (layer.is_object()) {  // containers of an older shim have no layer of their own
    Usage base{layer.value("base_bytes", 0ULL), layer.value("base_inodes", 0ULL)};
    Usage own = layer_usage(c.dir, layer.value("limited", false), base);
    Usage img{layer.value("image_bytes", 0ULL), layer.value("image_inodes", 0ULL)};
    if (!layer.value("image_known", false) && !image.empty()) {
      img = tree_usage(image);  // once; the image is read-only to the container
      std::lock_guard<std::mutex> lk(c.mu);
      c.meta["layer"]["image_bytes"] = img.bytes;
      c.meta["layer"]["image_inodes"] = img.inodes;
      c.meta["layer"]["image_known"] = true;
      save_meta(c);
    }
    m["DiskStat"] = {{"TotalBytesUsed", img.bytes + own.bytes},
                     {"TotalInodesUsed", img.inodes + own.inodes},
                     {"ExclusiveBytesUsed", own.bytes},
                     {"ExclusiveInodesUsed", own.inodes}};
  }
  return m;
}

Response Server::metrics(const std::string& handle) {
  auto c = find(handle);
  if (!c) {
    std::string err;
    auto m = pea_metrics(handle, err);
    if (!err.empty()) return error_response("", err, handle);
    return m ? json_response(200, *m) : unknown_handle(handle);
  }
  ActiveGuard g(c);
  std::string err;
  ojson m = metrics_json(*c, err);
  if (!err.empty()) return error_response("", err, handle);
  return json_response(200, m);
}

Response Server::bulk_metrics(const Request& req) {
  ojson out = ojson::object();
  std::vector<std::string> handles;
  if (auto e = decode_handles(req.query, handles); !e.empty()) return bad_request(e);
  for (const std::string& h : handles) {
    auto c = find(h);
    if (!c) {
      std::string err;
      auto m = pea_metrics(h, err);
      if (!err.empty())
        out[h] = {{"Metrics", empty_metrics()},
                  {"Err", ojson::parse(error_response("", err, h).body)}};
      else if (m)
        out[h] = {{"Metrics", *m}, {"Err", nullptr}};
      else
        out[h] = {{"Metrics", empty_metrics()}, {"Err", ojson::parse(unknown_handle(h).body)}};
      continue;
    }
    ActiveGuard g(c);
    std::string err;
    ojson m = metrics_json(*c, err);
    if (!err.empty())
      out[h] = {{"Metrics", empty_metrics()},
                {"Err", ojson::parse(error_response("", err, h).body)}};
    else
      out[h] = {{"Metrics", m}, {"Err", nullptr}};
  }
  return json_response(200, out);
}

}  // namespace garden
