#include "cgroups/v2.hpp"

#include <ctime>

#include "base/error.hpp"
#include "base/text.hpp"

namespace crunner::cgroups::v2 {

namespace {

// runc's numToStr: 0 = not set, -1 = "max".
std::string limit_str(int64_t v) {
  if (v == 0) return "";
  if (v == -1) return "max";
  return std::to_string(v);
}

void nap_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000 * 1000};
  nanosleep(&ts, nullptr);
}

}  // namespace

Status set_memory(const CgDir& d, const MemoryResources& m) {
  int64_t limit = m.limit.value_or(0);
  int64_t swap_total = m.swap.value_or(0);
  if (m.check_before_update.value_or(false) && limit > 0) {
    CR_ASSIGN(uint64_t usage, cg_read_u64(d, "memory.current"));
    if (static_cast<uint64_t>(limit) < usage)
      return make_error(ErrorKind::BadState, "memory limit " + std::to_string(limit) +
                                                 " is below current usage " +
                                                 std::to_string(usage) + " in `" + d.path + "`");
  }
  auto swap = memory_swap_to_v2(swap_total, limit);
  if (!swap) return std::move(swap.error().context("set memory in `" + d.path + "`"));
  std::string swap_s = limit_str(*swap);
  // memory and swap set to the same value: no swap at all.
  if (swap_s.empty() && *swap == 0 && swap_total > 0) swap_s = "0";
  if (!swap_s.empty()) {
    if (!cg_exists(d, "memory.swap.max")) {
      // No swap accounting: unlimited and "no swap" need no file (as runc).
      if (swap_s != "max" && swap_s != "0")
        return make_error(ErrorKind::Unsupported, "set memory.swap: `" + d.path +
                                                      "/memory.swap.max` is missing (no swap "
                                                      "accounting in this kernel)");
    } else {
      CR_TRY(cg_write(d, "memory.swap.max", swap_s));
    }
  }
  if (auto v = limit_str(limit); !v.empty()) CR_TRY(cg_write(d, "memory.max", v));
  if (m.reservation) {
    if (auto v = limit_str(*m.reservation); !v.empty()) CR_TRY(cg_write(d, "memory.low", v));
  }
  // swappiness, disableOOMKiller, kernel and kernelTCP have no v2 file: accepted, ignored
  // (as runc does).
  return {};
}

Status set_cpu(const CgDir& d, const CpuResources& c) {
  if ((c.realtime_runtime && *c.realtime_runtime != 0) ||
      (c.realtime_period && *c.realtime_period != 0))
    return make_error(ErrorKind::Unsupported,
                      "set cpu.realtimeRuntime/realtimePeriod in `" + d.path +
                          "`: realtime cpu limits do not exist in cgroup v2");
  if (c.idle) CR_TRY(cg_write(d, "cpu.idle", std::to_string(*c.idle)));
  if (c.shares && *c.shares != 0)
    CR_TRY(cg_write(d, "cpu.weight", std::to_string(cpu_shares_to_weight(*c.shares))));
  int64_t quota = c.quota.value_or(0);
  uint64_t period = c.period.value_or(0);
  auto write_burst = [&]() -> Status {
    if (!c.burst) return {};
    if (!cg_exists(d, "cpu.max.burst")) {
      if (*c.burst == 0) return {};
      return make_error(ErrorKind::Unsupported,
                        "set cpu.burst: `" + d.path + "/cpu.max.burst` is missing");
    }
    return cg_write(d, "cpu.max.burst", std::to_string(*c.burst));
  };
  // A burst above the new quota would be rejected: lower it after the quota only when the
  // first attempt fails.
  auto burst_first = write_burst();
  if (quota != 0 || period != 0) {
    std::string v = quota > 0 ? std::to_string(quota) : "max";
    if (period != 0) v += " " + std::to_string(period);
    CR_TRY(cg_write(d, "cpu.max", v));
  }
  if (!burst_first) CR_TRY(write_burst());
  return {};
}

Status set_cpuset(const CgDir& d, const CpuResources& c) {
  if (c.cpus && !c.cpus->empty()) CR_TRY(cg_write(d, "cpuset.cpus", *c.cpus));
  if (c.mems && !c.mems->empty()) CR_TRY(cg_write(d, "cpuset.mems", *c.mems));
  return {};
}

Status set_pids(const CgDir& d, std::optional<int64_t> limit) {
  if (!limit) return {};
  return cg_write(d, "pids.max", *limit > 0 ? std::to_string(*limit) : std::string("max"));
}

Status set_io(const CgDir& d, const BlockIoResources& b) {
  const bool bfq = cg_exists(d, "io.bfq.weight");
  if (b.weight && *b.weight != 0) {
    if (bfq) {
      CR_TRY(cg_write(d, "io.bfq.weight", std::to_string(*b.weight)));
    } else {
      CR_TRY(cg_write(d, "io.weight", std::to_string(blkio_weight_to_io_weight(*b.weight))));
    }
  }
  for (auto& w : b.weight_device) {
    if (!w.weight) continue;
    std::string dev = std::to_string(w.major) + ":" + std::to_string(w.minor) + " ";
    if (bfq) {
      CR_TRY(cg_write(d, "io.bfq.weight", dev + std::to_string(*w.weight)));
    } else {
      CR_TRY(cg_write(d, "io.weight", dev + std::to_string(blkio_weight_to_io_weight(*w.weight))));
    }
  }
  // leafWeight has no v2 equivalent: ignored (as runc does).
  auto throttle = [&](const std::vector<ThrottleDevice>& v, const char* key) -> Status {
    for (auto& t : v) {
      std::string rate = t.rate == 0 ? "max" : std::to_string(t.rate);
      CR_TRY(cg_write(
          d, "io.max",
          std::to_string(t.major) + ":" + std::to_string(t.minor) + " " + key + "=" + rate));
    }
    return {};
  };
  CR_TRY(throttle(b.throttle_read_bps, "rbps"));
  CR_TRY(throttle(b.throttle_write_bps, "wbps"));
  CR_TRY(throttle(b.throttle_read_iops, "riops"));
  CR_TRY(throttle(b.throttle_write_iops, "wiops"));
  return {};
}

Status set_hugetlb(const CgDir& d, const std::vector<HugepageLimit>& h) {
  for (auto& l : h) {
    CR_TRY(cg_write(d, "hugetlb." + l.page_size + ".max", std::to_string(l.limit)));
    std::string rsvd = "hugetlb." + l.page_size + ".rsvd.max";
    if (cg_exists(d, rsvd)) CR_TRY(cg_write(d, rsvd, std::to_string(l.limit)));
  }
  return {};
}

Result<std::vector<std::string>> controllers(const CgDir& d) {
  CR_ASSIGN(std::string s, cg_read(d, "cgroup.controllers"));
  std::vector<std::string> out;
  for (auto& c : split(trim(s), ' '))
    if (!c.empty()) out.push_back(c);
  return out;
}

Status enable_subtree_controllers(const CgDir& d) {
  CR_ASSIGN(auto ctrls, controllers(d));
  if (ctrls.empty()) return {};
  std::string v;
  for (auto& c : ctrls) v += (v.empty() ? "+" : " +") + c;
  auto r = cg_write(d, "cgroup.subtree_control", v);
  if (r) return r;
  // Some controller may refuse (e.g. a threaded subtree): enable one by one, keep the rest.
  for (auto& c : ctrls) (void)cg_write(d, "cgroup.subtree_control", "+" + c);
  return {};
}

Status set_unified(const CgDir& d, const std::map<std::string, std::string>& u) {
  if (u.empty()) return {};
  CR_ASSIGN(auto ctrls, controllers(d));
  for (auto& [k, v] : u) {
    if (k.find('/') != std::string::npos || k == "." || k == ".." || k.empty())
      return invalid_spec("linux.resources.unified: invalid cgroup file name `" + k + "`");
    if (!cg_exists(d, k)) {
      std::string ctrl = k.substr(0, k.find('.'));
      bool enabled = ctrl == "cgroup";
      for (auto& c : ctrls) enabled = enabled || c == ctrl;
      if (!enabled)
        return invalid_spec("linux.resources.unified." + k + ": controller `" + ctrl +
                            "` is not available in `" + d.path + "`");
      return invalid_spec("linux.resources.unified." + k + ": no such cgroup file `" + d.path +
                          "/" + k + "`");
    }
    CR_TRY(cg_write(d, k, v));
  }
  return {};
}

Result<bool> is_frozen(const CgDir& d) {
  CR_ASSIGN(auto ev, cg_read_kv(d, "cgroup.events"));
  return ev["frozen"] == 1;
}

Status set_freeze(const CgDir& d, bool frozen) {
  CR_TRY(cg_write(d, "cgroup.freeze", frozen ? "1" : "0"));
  for (int i = 0; i < 3000; ++i) {
    CR_ASSIGN(bool f, is_frozen(d));
    if (f == frozen) return {};
    nap_ms(i < 10 ? 1 : 10);
  }
  if (frozen) (void)cg_write(d, "cgroup.freeze", "0");
  return make_error(ErrorKind::Syscall, std::string(frozen ? "freeze" : "thaw") + " `" + d.path +
                                            "`: cgroup.events never reported the new state");
}

Status read_memory(const CgDir& d, Stats& s) {
  CR_ASSIGN(s.memory.usage.usage, cg_read_u64(d, "memory.current"));
  if (cg_exists(d, "memory.peak")) {
    CR_ASSIGN(s.memory.usage.max_usage, cg_read_u64(d, "memory.peak"));
  }
  CR_ASSIGN(s.memory.usage.limit, cg_read_u64(d, "memory.max"));
  CR_ASSIGN(auto ev, cg_read_kv(d, "memory.events"));
  s.memory.usage.failcnt = ev["max"];
  s.memory.oom_kill = ev["oom_kill"];
  if (cg_exists(d, "memory.swap.current")) {
    // runc reports swap as memory+swap, like v1's memsw.
    CR_ASSIGN(uint64_t su, cg_read_u64(d, "memory.swap.current"));
    CR_ASSIGN(uint64_t sm, cg_read_u64(d, "memory.swap.max"));
    s.memory.swap.usage = su + s.memory.usage.usage;
    s.memory.swap.limit = (sm == UINT64_MAX || s.memory.usage.limit == UINT64_MAX)
                              ? UINT64_MAX
                              : sm + s.memory.usage.limit;
    if (cg_exists(d, "memory.swap.peak")) {
      CR_ASSIGN(uint64_t sp, cg_read_u64(d, "memory.swap.peak"));
      s.memory.swap.max_usage = sp + s.memory.usage.max_usage;
    }
  }
  CR_ASSIGN(s.memory.raw, cg_read_kv(d, "memory.stat"));
  if (auto it = s.memory.raw.find("file"); it != s.memory.raw.end()) s.memory.cache = it->second;
  return {};
}

Status read_cpu(const CgDir& d, Stats& s) {
  CR_ASSIGN(auto st, cg_read_kv(d, "cpu.stat"));
  s.cpu.total = st["usage_usec"] * 1000;
  s.cpu.user = st["user_usec"] * 1000;
  s.cpu.kernel = st["system_usec"] * 1000;
  s.cpu.periods = st["nr_periods"];
  s.cpu.throttled_periods = st["nr_throttled"];
  s.cpu.throttled_time = st["throttled_usec"] * 1000;
  return {};
}

Status read_pids(const CgDir& d, Stats& s) {
  CR_ASSIGN(s.pids.current, cg_read_u64(d, "pids.current"));
  CR_ASSIGN(uint64_t max, cg_read_u64(d, "pids.max"));
  s.pids.limit = max == UINT64_MAX ? 0 : max;
  return {};
}

Status read_io(const CgDir& d, Stats& s) {
  CR_ASSIGN(std::string text, cg_read(d, "io.stat"));
  for (auto& line : split(text, '\n')) {
    auto f = split(trim(line), ' ');
    if (f.size() < 2) continue;
    auto mm = split(f[0], ':');
    unsigned long long maj = 0, min = 0;
    if (mm.size() != 2 || !parse_u64(mm[0], maj) || !parse_u64(mm[1], min)) continue;
    for (size_t i = 1; i < f.size(); ++i) {
      auto kv = split(f[i], '=');
      unsigned long long v = 0;
      if (kv.size() != 2 || !parse_u64(kv[1], v)) continue;
      if (kv[0] == "rbytes") s.blkio.io_service_bytes_recursive.push_back({maj, min, "Read", v});
      if (kv[0] == "wbytes") s.blkio.io_service_bytes_recursive.push_back({maj, min, "Write", v});
      if (kv[0] == "rios") s.blkio.io_serviced_recursive.push_back({maj, min, "Read", v});
      if (kv[0] == "wios") s.blkio.io_serviced_recursive.push_back({maj, min, "Write", v});
    }
  }
  return {};
}

Status read_hugetlb(const CgDir& d, Stats& s) {
  for (auto& f : cg_list_files(d)) {
    const std::string suffix = ".current";
    if (f.rfind("hugetlb.", 0) != 0 || f.size() <= 8 + suffix.size() ||
        f.compare(f.size() - suffix.size(), suffix.size(), suffix) != 0 ||
        f.find(".rsvd.") != std::string::npos)
      continue;
    std::string size = f.substr(8, f.size() - 8 - suffix.size());
    HugetlbEntry e;
    CR_ASSIGN(e.usage, cg_read_u64(d, f));
    if (cg_exists(d, "hugetlb." + size + ".events")) {
      CR_ASSIGN(auto ev, cg_read_kv(d, "hugetlb." + size + ".events"));
      e.failcnt = ev["max"];
    }
    s.hugetlb[size] = e;
  }
  return {};
}

}  // namespace crunner::cgroups::v2
