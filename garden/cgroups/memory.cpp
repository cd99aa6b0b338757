#include "garden/cgroups/memory.hpp"

#include <sys/statfs.h>

#include <linux/magic.h>

#include "base/file.hpp"
#include "base/text.hpp"
#include "garden/cgroups/hierarchies.hpp"

namespace garden::cgroups {

using json = nlohmann::json;
using ojson = nlohmann::ordered_json;

namespace {

// garden's ContainerMemoryStat fields, in its declaration order (JSON names).
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
  return cur->is_number_unsigned() || cur->is_number_integer() ? cur->get<unsigned long long>() : 0;
}

unsigned long long minus(unsigned long long a, unsigned long long b) {
  return a > b ? a - b : 0;
}

// The v1 names garden reports, from a v2 memory.stat and the runtime's usage figures.
void fill_from_v2(ojson& m, const json& stats, const json& raw) {
  auto set = [&](const char* name, unsigned long long v) {
    m[name] = v;
    m[std::string("total_") + name] = v;
  };
  for (const char* same : {"active_anon", "active_file", "inactive_anon", "inactive_file",
                           "unevictable", "pgfault", "pgmajfault"})
    set(same, u64(raw, {same}));
  set("rss", u64(raw, {"anon"}));
  set("cache", u64(raw, {"file"}));
  set("mapped_file", u64(raw, {"file_mapped"}));
  unsigned long long usage = u64(stats, {"memory", "usage", "usage"});
  // The runtime reports swap as memory + swap, as v1's memsw (runc's convention).
  unsigned long long memsw = u64(stats, {"memory", "swap", "usage"});
  m["swap"] = memsw ? minus(memsw, usage) : 0;
  m["total_swap"] = m["swap"];
  m["hierarchical_memory_limit"] = u64(stats, {"memory", "usage", "limit"});
  m["hierarchical_memsw_limit"] = u64(stats, {"memory", "swap", "limit"});
  m["TotalUsageTowardLimit"] = minus(usage, u64(raw, {"inactive_file"}));
}

}  // namespace

std::string memory_dir(int pid, const std::string& proc_root, const std::string& mountinfo) {
  const Hierarchy* v2 = nullptr;
  auto found = hierarchies(pid, proc_root, mountinfo);
  for (const Hierarchy& h : found) {
    if (h.controllers.empty()) v2 = &h;
    for (const std::string& c : crunner::split(h.controllers, ','))
      if (c == "memory") return h.dir;
  }
  if (!v2) return "";
  auto controllers = crunner::read_file(v2->mountpoint + "/cgroup.controllers");
  if (!controllers) return "";
  for (const std::string& c : crunner::split(crunner::trim(*controllers), ' '))
    if (c == "memory") return v2->dir;
  return "";
}

bool oom_killed(const std::string& dir) {
  if (dir.empty()) return false;
  for (const char* file : {"memory.oom_control", "memory.events"}) {
    auto text = crunner::read_file(dir + "/" + file);
    if (!text) continue;
    for (auto& line : crunner::split(*text, '\n')) {
      unsigned long long n = 0;
      if (line.rfind("oom_kill ", 0) == 0 && crunner::parse_u64(line.substr(9), n) && n > 0)
        return true;
    }
  }
  return false;
}

bool unified(const std::string& root) {
  struct statfs st;
  return statfs(root.c_str(), &st) == 0 && st.f_type == CGROUP2_SUPER_MAGIC;
}

ojson memory_stat(const json& stats) {
  ojson m = ojson::object();
  for (const char* f : kMemoryFields) m[f] = 0;
  m["TotalUsageTowardLimit"] = 0;
  const json raw = stats.contains("memory") && stats["memory"].is_object()
                       ? stats["memory"].value("raw", json::object())
                       : json::object();
  if (!raw.is_object()) return m;
  if (raw.contains("anon") && !raw.contains("total_rss")) {
    fill_from_v2(m, stats, raw);
    return m;
  }
  for (const char* f : kMemoryFields) m[f] = u64(raw, {f});
  // Guardian: rss + the page cache that is not reclaimable at once.
  m["TotalUsageTowardLimit"] =
      u64(raw, {"total_rss"}) + minus(u64(raw, {"total_cache"}), u64(raw, {"total_inactive_file"}));
  return m;
}

}  // namespace garden::cgroups
