#include "cgroups/v1.hpp"

#include <unistd.h>

#include <ctime>

#include "base/error.hpp"
#include "base/text.hpp"

namespace crunner::cgroups::v1 {

namespace {

std::string num(int64_t v) {
  return std::to_string(v);
}

void nap_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000 * 1000};
  nanosleep(&ts, nullptr);
}

Status write_limit(const CgDir& d, const std::string& file, int64_t v) {
  auto r = cg_write(d, file, num(v));
  if (!r && r.error().err == EBUSY && file == "memory.limit_in_bytes") {
    auto usage = cg_read_u64(d, "memory.usage_in_bytes");
    auto peak = cg_read_u64(d, "memory.max_usage_in_bytes");
    if (usage && peak)
      r.error().context("memory limit " + num(v) + " is below current usage " +
                        std::to_string(*usage) + " (peak " + std::to_string(*peak) + ")");
  }
  return r;
}

}  // namespace

Status set_memory(const CgDir& d, const MemoryResources& m) {
  int64_t limit = m.limit.value_or(0), swap = m.swap.value_or(0);
  if (m.check_before_update.value_or(false) && limit > 0) {
    CR_ASSIGN(uint64_t usage, cg_read_u64(d, "memory.usage_in_bytes"));
    if (static_cast<uint64_t>(limit) < usage)
      return make_error(ErrorKind::BadState, "memory limit " + num(limit) +
                                                 " is below current usage " +
                                                 std::to_string(usage) + " in `" + d.path + "`");
  }
  // Unlimited memory without an explicit swap means unlimited swap too (runc).
  if (limit == -1 && swap == 0) swap = -1;
  const bool have_memsw = cg_exists(d, "memory.memsw.limit_in_bytes");
  auto set_swap = [&]() -> Status {
    if (swap == 0) return {};
    if (!have_memsw) {
      if (swap == -1) return {};  // no swap accounting: unlimited is what we have
      return make_error(ErrorKind::Unsupported,
                        "set memory.swap " + num(swap) + ": `" + d.path +
                            "/memory.memsw.limit_in_bytes` is missing (no swap accounting)");
    }
    return write_limit(d, "memory.memsw.limit_in_bytes", swap);
  };
  auto set_limit = [&]() -> Status {
    if (limit == 0) return {};
    return write_limit(d, "memory.limit_in_bytes", limit);
  };
  if (limit != 0 && swap != 0) {
    // memsw must stay >= limit at every step: order the writes by the direction of change.
    CR_ASSIGN(uint64_t cur, cg_read_u64(d, "memory.limit_in_bytes"));
    if (swap == -1 || cur < static_cast<uint64_t>(swap)) {
      CR_TRY(set_swap());
      CR_TRY(set_limit());
    } else {
      CR_TRY(set_limit());
      CR_TRY(set_swap());
    }
  } else {
    CR_TRY(set_limit());
    CR_TRY(set_swap());
  }
  if (m.reservation && *m.reservation != 0)
    CR_TRY(cg_write(d, "memory.soft_limit_in_bytes", num(*m.reservation)));
  // Kernel memory limits are gone from recent kernels: accept and ignore when missing.
  if (m.kernel && *m.kernel != 0 && cg_exists(d, "memory.kmem.limit_in_bytes")) {
    auto r = cg_write(d, "memory.kmem.limit_in_bytes", num(*m.kernel));
    if (!r && r.error().err != EOPNOTSUPP && r.error().err != EINVAL) return r;
  }
  if (m.kernel_tcp && *m.kernel_tcp != 0 && cg_exists(d, "memory.kmem.tcp.limit_in_bytes"))
    CR_TRY(cg_write(d, "memory.kmem.tcp.limit_in_bytes", num(*m.kernel_tcp)));
  if (m.swappiness) CR_TRY(cg_write(d, "memory.swappiness", std::to_string(*m.swappiness)));
  if (m.disable_oom_killer && *m.disable_oom_killer) CR_TRY(cg_write(d, "memory.oom_control", "1"));
  return {};
}

Status set_cpu(const CgDir& d, const CpuResources& c) {
  if (c.shares && *c.shares != 0) {
    CR_TRY(cg_write(d, "cpu.shares", std::to_string(*c.shares)));
    CR_ASSIGN(uint64_t got, cg_read_u64(d, "cpu.shares"));
    if (got > *c.shares)
      return invalid_spec("cpu.shares " + std::to_string(*c.shares) +
                          " is below the minimum allowed " + std::to_string(got));
    if (got < *c.shares)
      return invalid_spec("cpu.shares " + std::to_string(*c.shares) +
                          " is above the maximum allowed " + std::to_string(got));
  }
  int64_t quota = c.quota.value_or(0);
  uint64_t period = c.period.value_or(0);
  if (period != 0) {
    auto r = cg_write(d, "cpu.cfs_period_us", std::to_string(period));
    if (!r) {
      // The new period may conflict with the old quota (or burst): write quota first.
      if (r.error().err != EINVAL || quota == 0) return r;
      CR_TRY(cg_write(d, "cpu.cfs_quota_us", num(quota)));
      CR_TRY(cg_write(d, "cpu.cfs_period_us", std::to_string(period)));
      quota = 0;
    }
  }
  if (quota != 0) CR_TRY(cg_write(d, "cpu.cfs_quota_us", num(quota)));
  if (c.burst) {
    if (!cg_exists(d, "cpu.cfs_burst_us")) {
      if (*c.burst != 0)
        return make_error(ErrorKind::Unsupported,
                          "set cpu.burst: `" + d.path + "/cpu.cfs_burst_us` is missing");
    } else {
      CR_TRY(cg_write(d, "cpu.cfs_burst_us", std::to_string(*c.burst)));
    }
  }
  if (c.realtime_period && *c.realtime_period != 0)
    CR_TRY(cg_write(d, "cpu.rt_period_us", std::to_string(*c.realtime_period)));
  if (c.realtime_runtime && *c.realtime_runtime != 0)
    CR_TRY(cg_write(d, "cpu.rt_runtime_us", num(*c.realtime_runtime)));
  if (c.idle) CR_TRY(cg_write(d, "cpu.idle", num(*c.idle)));
  return {};
}

Status set_cpuset(const CgDir& d, const CpuResources& c) {
  if (c.cpus && !c.cpus->empty()) CR_TRY(cg_write(d, "cpuset.cpus", *c.cpus));
  if (c.mems && !c.mems->empty()) CR_TRY(cg_write(d, "cpuset.mems", *c.mems));
  return {};
}

Status cpuset_inherit(const std::string& root, const std::string& path) {
  // Walk from the root down so that every level is non-empty before its child.
  if (path.size() <= root.size()) return {};
  std::string rel = path.substr(root.size());
  std::string cur = root;
  for (auto& comp : split(rel, '/')) {
    if (comp.empty()) continue;
    std::string parent = cur;
    cur += "/" + comp;
    CR_ASSIGN(CgDir pd, open_cgdir(parent));
    CR_ASSIGN(CgDir cd, open_cgdir(cur));
    for (const char* f : {"cpuset.cpus", "cpuset.mems"}) {
      CR_ASSIGN(std::string v, cg_read(cd, f));
      if (!trim(v).empty()) continue;
      CR_ASSIGN(std::string pv, cg_read(pd, f));
      CR_TRY(cg_write(cd, f, trim(pv)));
    }
  }
  return {};
}

Status set_pids(const CgDir& d, std::optional<int64_t> limit) {
  if (!limit) return {};
  return cg_write(d, "pids.max", *limit > 0 ? num(*limit) : std::string("max"));
}

Status set_blkio(const CgDir& d, const BlockIoResources& b) {
  // CFQ files (blkio.weight) are gone from recent kernels; BFQ has blkio.bfq.weight.
  std::string weight_file = cg_exists(d, "blkio.weight") ? "blkio.weight" : "blkio.bfq.weight";
  std::string wdev_file =
      cg_exists(d, "blkio.weight_device") ? "blkio.weight_device" : "blkio.bfq.weight_device";
  if (b.weight && *b.weight != 0) {
    if (!cg_exists(d, weight_file))
      return make_error(ErrorKind::Unsupported,
                        "set blockIO.weight: neither blkio.weight nor blkio.bfq.weight in `" +
                            d.path + "` (is the bfq scheduler in use?)");
    CR_TRY(cg_write(d, weight_file, std::to_string(*b.weight)));
  }
  if (b.leaf_weight && *b.leaf_weight != 0 && cg_exists(d, "blkio.leaf_weight"))
    CR_TRY(cg_write(d, "blkio.leaf_weight", std::to_string(*b.leaf_weight)));
  for (auto& w : b.weight_device) {
    std::string dev = num(w.major) + ":" + num(w.minor) + " ";
    if (w.weight) CR_TRY(cg_write(d, wdev_file, dev + std::to_string(*w.weight)));
    if (w.leaf_weight && cg_exists(d, "blkio.leaf_weight_device"))
      CR_TRY(cg_write(d, "blkio.leaf_weight_device", dev + std::to_string(*w.leaf_weight)));
  }
  auto throttle = [&](const std::vector<ThrottleDevice>& v, const char* file) -> Status {
    for (auto& t : v)
      CR_TRY(cg_write(d, file, num(t.major) + ":" + num(t.minor) + " " + std::to_string(t.rate)));
    return {};
  };
  CR_TRY(throttle(b.throttle_read_bps, "blkio.throttle.read_bps_device"));
  CR_TRY(throttle(b.throttle_write_bps, "blkio.throttle.write_bps_device"));
  CR_TRY(throttle(b.throttle_read_iops, "blkio.throttle.read_iops_device"));
  CR_TRY(throttle(b.throttle_write_iops, "blkio.throttle.write_iops_device"));
  return {};
}

Status set_hugetlb(const CgDir& d, const std::vector<HugepageLimit>& h) {
  for (auto& l : h) {
    std::string f = "hugetlb." + l.page_size + ".limit_in_bytes";
    CR_TRY(cg_write(d, f, std::to_string(l.limit)));
    std::string rsvd = "hugetlb." + l.page_size + ".rsvd.limit_in_bytes";
    if (cg_exists(d, rsvd)) CR_TRY(cg_write(d, rsvd, std::to_string(l.limit)));
  }
  return {};
}

Status set_net_cls(const CgDir& d, const NetworkResources& n) {
  if (n.class_id) CR_TRY(cg_write(d, "net_cls.classid", std::to_string(*n.class_id)));
  return {};
}

Status set_net_prio(const CgDir& d, const NetworkResources& n) {
  for (auto& p : n.priorities)
    CR_TRY(cg_write(d, "net_prio.ifpriomap", p.name + " " + std::to_string(p.priority)));
  return {};
}

Status set_rdma(const CgDir& d, const std::map<std::string, RdmaLimit>& r) {
  for (auto& [dev, l] : r) {
    if (!l.hca_handles && !l.hca_objects) continue;
    std::string line = dev;
    if (l.hca_handles) line += " hca_handle=" + std::to_string(*l.hca_handles);
    if (l.hca_objects) line += " hca_object=" + std::to_string(*l.hca_objects);
    CR_TRY(cg_write(d, "rdma.max", line));
  }
  return {};
}

Status set_devices(const CgDir& d, const std::vector<DeviceRule>& rules) {
  if (rules.empty()) return {};
  // The rules are applied to the parent's policy (allow all). A list that starts with "deny
  // all" resets by itself, so nothing is ever briefly allowed; otherwise reset to allow all.
  const auto& first = rules.front();
  CgFile allow(d, "devices.allow"), deny(d, "devices.deny");
  if (!(first.type == 'a' && !first.allow)) CR_TRY(allow.write("a *:* rwm"));
  for (auto& r : rules) CR_TRY((r.allow ? allow : deny).write(r.v1_string()));
  return {};
}

Result<bool> is_frozen(const CgDir& d) {
  CR_ASSIGN(std::string s, cg_read(d, "freezer.state"));
  // FREEZING is paused too: a task that joins a frozen cgroup (exec --ignore-paused) turns it
  // FREEZING until that task is frozen; reporting "running" then made `resume` fail.
  return trim(s) != "THAWED";
}

Status set_freezer(const CgDir& d, bool frozen) {
  const std::string want = frozen ? "FROZEN" : "THAWED";
  // FREEZING can get stuck while tasks fork; re-kick the freeze now and then (as runc does).
  for (int i = 0; i < 1000; ++i) {
    if (i % 50 == 0) {
      if (frozen && i > 0 && i % 250 == 0) CR_TRY(cg_write(d, "freezer.state", "THAWED"));
      CR_TRY(cg_write(d, "freezer.state", want));
    }
    CR_ASSIGN(std::string s, cg_read(d, "freezer.state"));
    if (trim(s) == want) return {};
    nap_ms(i < 10 ? 1 : 10);
  }
  if (frozen) (void)cg_write(d, "freezer.state", "THAWED");
  return make_error(ErrorKind::Syscall, "freeze `" + d.path + "`: still not " + want);
}

Status read_memory(const CgDir& d, Stats& s) {
  auto entry = [&](const std::string& prefix, MemoryEntry& e) -> Status {
    if (!cg_exists(d, prefix + "usage_in_bytes")) return {};
    CR_ASSIGN(e.usage, cg_read_u64(d, prefix + "usage_in_bytes"));
    CR_ASSIGN(e.max_usage, cg_read_u64(d, prefix + "max_usage_in_bytes"));
    CR_ASSIGN(e.failcnt, cg_read_u64(d, prefix + "failcnt"));
    CR_ASSIGN(e.limit, cg_read_u64(d, prefix + "limit_in_bytes"));
    return {};
  };
  CR_TRY(entry("memory.", s.memory.usage));
  CR_TRY(entry("memory.memsw.", s.memory.swap));
  CR_TRY(entry("memory.kmem.", s.memory.kernel));
  CR_TRY(entry("memory.kmem.tcp.", s.memory.kernel_tcp));
  CR_ASSIGN(s.memory.raw, cg_read_kv(d, "memory.stat"));
  if (auto it = s.memory.raw.find("cache"); it != s.memory.raw.end()) s.memory.cache = it->second;
  if (cg_exists(d, "memory.oom_control")) {
    CR_ASSIGN(auto oc, cg_read_kv(d, "memory.oom_control"));
    s.memory.oom_kill = oc["oom_kill"];
    s.memory.under_oom = oc["under_oom"] != 0;
  }
  return {};
}

Status read_cpuacct(const CgDir& d, Stats& s) {
  CR_ASSIGN(s.cpu.total, cg_read_u64(d, "cpuacct.usage"));
  if (cg_exists(d, "cpuacct.usage_percpu")) {
    CR_ASSIGN(std::string t, cg_read(d, "cpuacct.usage_percpu"));
    s.cpu.percpu = parse_u64_list(t);
  }
  if (cg_exists(d, "cpuacct.usage_percpu_sys")) {
    CR_ASSIGN(std::string t, cg_read(d, "cpuacct.usage_percpu_sys"));
    s.cpu.percpu_kernel = parse_u64_list(t);
  }
  if (cg_exists(d, "cpuacct.usage_percpu_user")) {
    CR_ASSIGN(std::string t, cg_read(d, "cpuacct.usage_percpu_user"));
    s.cpu.percpu_user = parse_u64_list(t);
  }
  if (cg_exists(d, "cpuacct.stat")) {
    CR_ASSIGN(auto st, cg_read_kv(d, "cpuacct.stat"));
    long tck = sysconf(_SC_CLK_TCK);
    if (tck <= 0) tck = 100;
    s.cpu.user = st["user"] * 1000000000ULL / static_cast<uint64_t>(tck);
    s.cpu.kernel = st["system"] * 1000000000ULL / static_cast<uint64_t>(tck);
  }
  return {};
}

Status read_cpu(const CgDir& d, Stats& s) {
  if (!cg_exists(d, "cpu.stat")) return {};
  CR_ASSIGN(auto st, cg_read_kv(d, "cpu.stat"));
  s.cpu.periods = st["nr_periods"];
  s.cpu.throttled_periods = st["nr_throttled"];
  s.cpu.throttled_time = st["throttled_time"];
  return {};
}

Status read_pids(const CgDir& d, Stats& s) {
  CR_ASSIGN(s.pids.current, cg_read_u64(d, "pids.current"));
  CR_ASSIGN(uint64_t max, cg_read_u64(d, "pids.max"));
  s.pids.limit = max == UINT64_MAX ? 0 : max;
  return {};
}

std::vector<BlkioEntry> parse_blkio_lines(std::string_view text) {
  std::vector<BlkioEntry> out;
  for (auto& line : split(text, '\n')) {
    auto f = split(trim(line), ' ');
    if (f.size() != 3) continue;
    auto mm = split(f[0], ':');
    unsigned long long maj = 0, min = 0, v = 0;
    if (mm.size() != 2 || !parse_u64(mm[0], maj) || !parse_u64(mm[1], min) || !parse_u64(f[2], v))
      continue;
    out.push_back({maj, min, f[1], v});
  }
  return out;
}

Status read_blkio(const CgDir& d, Stats& s) {
  // CFQ's files first, then BFQ's, then the throttle layer's (always there).
  for (const char* prefix : {"blkio.", "blkio.bfq.", "blkio.throttle."}) {
    std::string bytes = std::string(prefix) + "io_service_bytes_recursive";
    if (!cg_exists(d, bytes)) continue;
    CR_ASSIGN(std::string b, cg_read(d, bytes));
    CR_ASSIGN(std::string n, cg_read(d, std::string(prefix) + "io_serviced_recursive"));
    s.blkio.io_service_bytes_recursive = parse_blkio_lines(b);
    s.blkio.io_serviced_recursive = parse_blkio_lines(n);
    if (!s.blkio.io_service_bytes_recursive.empty()) break;
  }
  return {};
}

Status read_hugetlb(const CgDir& d, Stats& s) {
  for (auto& f : cg_list_files(d)) {
    const std::string suffix = ".limit_in_bytes";
    if (f.rfind("hugetlb.", 0) != 0 || f.size() <= suffix.size() ||
        f.compare(f.size() - suffix.size(), suffix.size(), suffix) != 0 ||
        f.find(".rsvd.") != std::string::npos)
      continue;
    std::string size = f.substr(8, f.size() - 8 - suffix.size());
    HugetlbEntry e;
    std::string p = "hugetlb." + size + ".";
    CR_ASSIGN(e.usage, cg_read_u64(d, p + "usage_in_bytes"));
    CR_ASSIGN(e.max_usage, cg_read_u64(d, p + "max_usage_in_bytes"));
    CR_ASSIGN(e.failcnt, cg_read_u64(d, p + "failcnt"));
    s.hugetlb[size] = e;
  }
  return {};
}

}  // namespace crunner::cgroups::v1
