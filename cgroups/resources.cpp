#include "cgroups/resources.hpp"

#include <cctype>
#include <climits>

#include "base/error.hpp"
#include "base/text.hpp"

namespace crunner::cgroups {

using nlohmann::json;

namespace {

Error field_error(const std::string& path, const std::string& msg) {
  return invalid_spec(path + ": " + msg);
}

Result<const json*> object_at(const json& j, const std::string& key, const std::string& path) {
  if (!j.contains(key) || j[key].is_null()) return static_cast<const json*>(nullptr);
  if (!j[key].is_object()) return field_error(path + "." + key, "must be an object");
  return &j[key];
}

template <class T>
Status get_int(const json& j, const std::string& key, const std::string& path,
               std::optional<T>& out) {
  if (!j.contains(key) || j[key].is_null()) return {};
  const json& v = j[key];
  std::string p = path + "." + key;
  if (!v.is_number_integer()) return field_error(p, "must be an integer");
  if constexpr (std::is_unsigned_v<T>) {
    if (v.is_number_unsigned()) {
      uint64_t u = v.get<uint64_t>();
      if (u > std::numeric_limits<T>::max()) return field_error(p, "out of range");
      out = static_cast<T>(u);
    } else {
      int64_t s = v.get<int64_t>();
      if (s < 0) return field_error(p, "must not be negative");
      if (static_cast<uint64_t>(s) > std::numeric_limits<T>::max())
        return field_error(p, "out of range");
      out = static_cast<T>(s);
    }
  } else {
    if (v.is_number_unsigned() && v.get<uint64_t>() > static_cast<uint64_t>(INT64_MAX))
      return field_error(p, "out of range");
    out = static_cast<T>(v.get<int64_t>());
  }
  return {};
}

Status get_bool(const json& j, const std::string& key, const std::string& path,
                std::optional<bool>& out) {
  if (!j.contains(key) || j[key].is_null()) return {};
  if (!j[key].is_boolean()) return field_error(path + "." + key, "must be a boolean");
  out = j[key].get<bool>();
  return {};
}

Status get_string(const json& j, const std::string& key, const std::string& path,
                  std::optional<std::string>& out) {
  if (!j.contains(key) || j[key].is_null()) return {};
  if (!j[key].is_string()) return field_error(path + "." + key, "must be a string");
  out = j[key].get<std::string>();
  return {};
}

Result<const json*> array_at(const json& j, const std::string& key, const std::string& path) {
  if (!j.contains(key) || j[key].is_null()) return static_cast<const json*>(nullptr);
  if (!j[key].is_array()) return field_error(path + "." + key, "must be an array");
  return &j[key];
}

Status parse_devices(const json& arr, const std::string& path, std::vector<DeviceRule>& out) {
  for (size_t i = 0; i < arr.size(); ++i) {
    std::string p = path + "[" + std::to_string(i) + "]";
    const json& d = arr[i];
    if (!d.is_object()) return field_error(p, "must be an object");
    DeviceRule r;
    if (!d.contains("allow") || !d["allow"].is_boolean())
      return field_error(p + ".allow", "is required and must be a boolean");
    r.allow = d["allow"].get<bool>();
    std::optional<std::string> type, access;
    CR_TRY(get_string(d, "type", p, type));
    if (type) {
      if (*type != "a" && *type != "c" && *type != "b" && *type != "u")
        return field_error(p + ".type", "must be one of a, c, b, u, got `" + *type + "`");
      r.type = (*type == "u") ? 'c' : (*type)[0];
    }
    std::optional<int64_t> major, minor;
    CR_TRY(get_int(d, "major", p, major));
    CR_TRY(get_int(d, "minor", p, minor));
    if (major) r.major = *major;
    if (minor) r.minor = *minor;
    CR_TRY(get_string(d, "access", p, access));
    if (access) {
      for (char c : *access)
        if (c != 'r' && c != 'w' && c != 'm')
          return field_error(p + ".access", "must contain only r, w, m, got `" + *access + "`");
      r.access = *access;
    }
    if (r.access.empty()) r.access = "rwm";
    out.push_back(r);
  }
  return {};
}

Status parse_throttle(const json& j, const std::string& key, const std::string& path,
                      std::vector<ThrottleDevice>& out) {
  CR_ASSIGN(const json* arr, array_at(j, key, path));
  if (!arr) return {};
  for (size_t i = 0; i < arr->size(); ++i) {
    std::string p = path + "." + key + "[" + std::to_string(i) + "]";
    const json& d = (*arr)[i];
    if (!d.is_object()) return field_error(p, "must be an object");
    std::optional<int64_t> major, minor;
    std::optional<uint64_t> rate;
    CR_TRY(get_int(d, "major", p, major));
    CR_TRY(get_int(d, "minor", p, minor));
    CR_TRY(get_int(d, "rate", p, rate));
    if (!major || !minor) return field_error(p, "major and minor are required");
    if (!rate) return field_error(p + ".rate", "is required");
    out.push_back({*major, *minor, *rate});
  }
  return {};
}

}  // namespace

Result<Resources> parse_resources(const json& j, const std::string& where) {
  Resources r;
  if (j.is_null()) return r;
  if (!j.is_object()) return field_error(where, "must be an object");

  CR_ASSIGN(const json* devs, array_at(j, "devices", where));
  if (devs) {
    r.devices.emplace();
    CR_TRY(parse_devices(*devs, where + ".devices", *r.devices));
  }

  CR_ASSIGN(const json* mem, object_at(j, "memory", where));
  if (mem) {
    std::string p = where + ".memory";
    auto& m = r.memory;
    CR_TRY(get_int(*mem, "limit", p, m.limit));
    CR_TRY(get_int(*mem, "reservation", p, m.reservation));
    CR_TRY(get_int(*mem, "swap", p, m.swap));
    CR_TRY(get_int(*mem, "kernel", p, m.kernel));
    CR_TRY(get_int(*mem, "kernelTCP", p, m.kernel_tcp));
    CR_TRY(get_int(*mem, "swappiness", p, m.swappiness));
    if (m.swappiness && *m.swappiness > 100)
      return field_error(p + ".swappiness",
                         "must be between 0 and 100, got " + std::to_string(*m.swappiness));
    CR_TRY(get_bool(*mem, "disableOOMKiller", p, m.disable_oom_killer));
    CR_TRY(get_bool(*mem, "useHierarchy", p, m.use_hierarchy));
    CR_TRY(get_bool(*mem, "checkBeforeUpdate", p, m.check_before_update));
    for (auto [name, v] :
         {std::pair{"limit", m.limit}, {"reservation", m.reservation}, {"swap", m.swap}}) {
      if (v && *v < -1)
        return field_error(p + "." + name,
                           "must be -1 (unlimited) or a byte count, got " + std::to_string(*v));
    }
  }

  CR_ASSIGN(const json* cpu, object_at(j, "cpu", where));
  if (cpu) {
    std::string p = where + ".cpu";
    auto& c = r.cpu;
    CR_TRY(get_int(*cpu, "shares", p, c.shares));
    CR_TRY(get_int(*cpu, "quota", p, c.quota));
    CR_TRY(get_int(*cpu, "period", p, c.period));
    CR_TRY(get_int(*cpu, "burst", p, c.burst));
    CR_TRY(get_int(*cpu, "realtimeRuntime", p, c.realtime_runtime));
    CR_TRY(get_int(*cpu, "realtimePeriod", p, c.realtime_period));
    CR_TRY(get_int(*cpu, "idle", p, c.idle));
    CR_TRY(get_string(*cpu, "cpus", p, c.cpus));
    CR_TRY(get_string(*cpu, "mems", p, c.mems));
  }

  CR_ASSIGN(const json* pids, object_at(j, "pids", where));
  if (pids) {
    if (!pids->contains("limit")) return field_error(where + ".pids.limit", "is required");
    CR_TRY(get_int(*pids, "limit", where + ".pids", r.pids_limit));
  }

  CR_ASSIGN(const json* bio, object_at(j, "blockIO", where));
  if (bio) {
    std::string p = where + ".blockIO";
    auto& b = r.block_io;
    CR_TRY(get_int(*bio, "weight", p, b.weight));
    CR_TRY(get_int(*bio, "leafWeight", p, b.leaf_weight));
    CR_ASSIGN(const json* wd, array_at(*bio, "weightDevice", p));
    if (wd) {
      for (size_t i = 0; i < wd->size(); ++i) {
        std::string q = p + ".weightDevice[" + std::to_string(i) + "]";
        const json& d = (*wd)[i];
        if (!d.is_object()) return field_error(q, "must be an object");
        WeightDevice w;
        std::optional<int64_t> major, minor;
        CR_TRY(get_int(d, "major", q, major));
        CR_TRY(get_int(d, "minor", q, minor));
        if (!major || !minor) return field_error(q, "major and minor are required");
        w.major = *major;
        w.minor = *minor;
        CR_TRY(get_int(d, "weight", q, w.weight));
        CR_TRY(get_int(d, "leafWeight", q, w.leaf_weight));
        b.weight_device.push_back(w);
      }
    }
    CR_TRY(parse_throttle(*bio, "throttleReadBpsDevice", p, b.throttle_read_bps));
    CR_TRY(parse_throttle(*bio, "throttleWriteBpsDevice", p, b.throttle_write_bps));
    CR_TRY(parse_throttle(*bio, "throttleReadIOPSDevice", p, b.throttle_read_iops));
    CR_TRY(parse_throttle(*bio, "throttleWriteIOPSDevice", p, b.throttle_write_iops));
  }

  CR_ASSIGN(const json* huge, array_at(j, "hugepageLimits", where));
  if (huge) {
    for (size_t i = 0; i < huge->size(); ++i) {
      std::string q = where + ".hugepageLimits[" + std::to_string(i) + "]";
      const json& h = (*huge)[i];
      if (!h.is_object()) return field_error(q, "must be an object");
      std::optional<std::string> size;
      std::optional<uint64_t> limit;
      CR_TRY(get_string(h, "pageSize", q, size));
      CR_TRY(get_int(h, "limit", q, limit));
      if (!size || size->empty()) return field_error(q + ".pageSize", "is required");
      for (char c : *size)
        if (!std::isalnum(static_cast<unsigned char>(c)))
          return field_error(q + ".pageSize", "invalid page size `" + *size + "`");
      if (!limit) return field_error(q + ".limit", "is required");
      r.hugepage_limits.push_back({*size, *limit});
    }
  }

  CR_ASSIGN(const json* net, object_at(j, "network", where));
  if (net) {
    std::string p = where + ".network";
    CR_TRY(get_int(*net, "classID", p, r.network.class_id));
    CR_ASSIGN(const json* prios, array_at(*net, "priorities", p));
    if (prios) {
      for (size_t i = 0; i < prios->size(); ++i) {
        std::string q = p + ".priorities[" + std::to_string(i) + "]";
        const json& e = (*prios)[i];
        if (!e.is_object()) return field_error(q, "must be an object");
        std::optional<std::string> name;
        std::optional<uint32_t> prio;
        CR_TRY(get_string(e, "name", q, name));
        CR_TRY(get_int(e, "priority", q, prio));
        if (!name || name->empty() || name->find_first_of(" \n/") != std::string::npos)
          return field_error(q + ".name", "must be an interface name");
        if (!prio) return field_error(q + ".priority", "is required");
        r.network.priorities.push_back({*name, *prio});
      }
    }
  }

  CR_ASSIGN(const json* rdma, object_at(j, "rdma", where));
  if (rdma) {
    for (auto& [dev, v] : rdma->items()) {
      std::string q = where + ".rdma." + dev;
      if (!v.is_object()) return field_error(q, "must be an object");
      if (dev.empty() || dev.find_first_of(" \n=") != std::string::npos)
        return field_error(q, "invalid device name");
      RdmaLimit l;
      CR_TRY(get_int(v, "hcaHandles", q, l.hca_handles));
      CR_TRY(get_int(v, "hcaObjects", q, l.hca_objects));
      r.rdma[dev] = l;
    }
  }

  CR_ASSIGN(const json* uni, object_at(j, "unified", where));
  if (uni) {
    for (auto& [k, v] : uni->items()) {
      std::string q = where + ".unified." + k;
      if (!v.is_string()) return field_error(q, "must be a string");
      if (k.empty() || k.find('/') != std::string::npos || k == "." || k == ".." ||
          k.find('.') == std::string::npos)
        return field_error(q, "invalid cgroup file name `" + k + "`");
      r.unified[k] = v.get<std::string>();
    }
  }
  return r;
}

std::string DeviceRule::v1_string() const {
  auto num = [](int64_t n) { return n == kWildcard ? std::string("*") : std::to_string(n); };
  return std::string(1, type) + " " + num(major) + ":" + num(minor) + " " + access;
}

std::vector<DeviceRule> allowed_device_rules() {
  std::vector<DeviceRule> v;
  v.push_back({true, 'c', kWildcard, kWildcard, "m"});
  v.push_back({true, 'b', kWildcard, kWildcard, "m"});
  for (auto [maj, min] : {std::pair{1, 3}, {1, 5}, {1, 7}, {1, 8}, {1, 9}, {5, 0}, {5, 1}, {5, 2}})
    v.push_back({true, 'c', maj, min, "rwm"});
  v.push_back({true, 'c', 136, kWildcard, "rwm"});
  return v;
}

std::vector<DeviceRule> default_device_rules() {
  std::vector<DeviceRule> v = {{false, 'a', kWildcard, kWildcard, "rwm"}};
  auto a = allowed_device_rules();
  v.insert(v.end(), a.begin(), a.end());
  return v;
}

std::vector<DeviceRule> container_device_rules(
    const std::optional<std::vector<DeviceRule>>& spec_rules) {
  std::vector<DeviceRule> v;
  if (spec_rules)
    v = *spec_rules;
  else
    v.push_back({false, 'a', kWildcard, kWildcard, "rwm"});
  auto a = allowed_device_rules();
  v.insert(v.end(), a.begin(), a.end());
  return v;
}

uint64_t cpu_shares_to_weight(uint64_t shares) {
  if (shares == 0) return 0;
  if (shares < 2) shares = 2;
  if (shares > 262144) shares = 262144;
  return 1 + ((shares - 2) * 9999) / 262142;
}

uint64_t blkio_weight_to_io_weight(uint64_t weight) {
  if (weight == 0) return 0;
  if (weight < 10) weight = 10;
  return 1 + (weight - 10) * 9999 / 990;
}

Result<int64_t> memory_swap_to_v2(int64_t swap, int64_t limit) {
  if (limit == -1 && swap == 0) return -1;
  if (swap == -1 || swap == 0) return swap;
  if (limit == 0 || limit == -1)
    return invalid_spec("memory.swap " + std::to_string(swap) +
                        " needs a memory.limit on cgroup v2 (swap is limit+swap on v1)");
  if (swap < limit)
    return invalid_spec("memory.swap " + std::to_string(swap) + " must be >= memory.limit " +
                        std::to_string(limit) + " (memory+swap total)");
  return swap - limit;
}

json merge_resources(const json& base, const json& update) {
  json out = base.is_object() ? base : json::object();
  if (!update.is_object()) return out;
  for (auto& [k, v] : update.items()) {
    if (v.is_object() && out.contains(k) && out[k].is_object())
      out[k] = merge_resources(out[k], v);
    else
      out[k] = v;
  }
  return out;
}

json update_with_partners(const json& saved, const json& update) {
  json out = update.is_object() ? update : json::object();
  if (!saved.is_object()) return out;
  static const char* pairs[][3] = {{"cpu", "quota", "period"}};
  for (auto& [group, a, b] : pairs) {
    if (!out.contains(group) || !out[group].is_object()) continue;
    if (!saved.contains(group) || !saved[group].is_object()) continue;
    json& u = out[group];
    const json& sv = saved[group];
    if (u.contains(a) && !u.contains(b) && sv.contains(b) && !sv[b].is_null()) u[b] = sv[b];
    if (u.contains(b) && !u.contains(a) && sv.contains(a) && !sv[a].is_null()) u[a] = sv[a];
  }
  return out;
}

Result<int64_t> parse_size(const std::string& s0) {
  std::string s = trim(s0);
  if (s == "-1") return -1;
  if (s.empty()) return invalid_spec("invalid size ``");
  size_t i = 0;
  while (i < s.size() && (std::isdigit(static_cast<unsigned char>(s[i])) || s[i] == '.')) ++i;
  std::string num = s.substr(0, i), unit = s.substr(i);
  if (num.empty()) return invalid_spec("invalid size `" + s + "`");
  double v = 0;
  try {
    size_t used = 0;
    v = std::stod(num, &used);
    if (used != num.size()) return invalid_spec("invalid size `" + s + "`");
  } catch (...) {
    return invalid_spec("invalid size `" + s + "`");
  }
  for (auto& c : unit) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (!unit.empty() && unit.back() == 'b' && unit.size() > 1) unit.pop_back();
  if (unit == "i" || (unit.size() == 2 && unit[1] == 'i')) unit = unit.substr(0, 1);
  double mul = 1;
  if (unit.empty() || unit == "b")
    mul = 1;
  else if (unit == "k")
    mul = 1024.0;
  else if (unit == "m")
    mul = 1024.0 * 1024;
  else if (unit == "g")
    mul = 1024.0 * 1024 * 1024;
  else if (unit == "t")
    mul = 1024.0 * 1024 * 1024 * 1024;
  else if (unit == "p")
    mul = 1024.0 * 1024 * 1024 * 1024 * 1024;
  else
    return invalid_spec("invalid size `" + s + "`: unknown unit");
  return static_cast<int64_t>(v * mul);
}

Result<json> resources_from_update_flags(const UpdateFlags& f) {
  json r = json::object();
  auto size_field = [&](const std::optional<std::string>& v, const char* flag, const char* key,
                        json& obj) -> Status {
    if (!v) return {};
    auto n = parse_size(*v);
    if (!n) return invalid_spec(std::string("--") + flag + ": " + n.error().message);
    obj[key] = *n;
    return {};
  };
  json mem = json::object();
  CR_TRY(size_field(f.memory, "memory", "limit", mem));
  CR_TRY(size_field(f.memory_swap, "memory-swap", "swap", mem));
  CR_TRY(size_field(f.memory_reservation, "memory-reservation", "reservation", mem));
  CR_TRY(size_field(f.kernel_memory, "kernel-memory", "kernel", mem));
  CR_TRY(size_field(f.kernel_memory_tcp, "kernel-memory-tcp", "kernelTCP", mem));
  if (!mem.empty()) r["memory"] = mem;
  json cpu = json::object();
  if (f.cpu_shares) cpu["shares"] = *f.cpu_shares;
  if (f.cpu_quota) cpu["quota"] = *f.cpu_quota;
  if (f.cpu_period) cpu["period"] = *f.cpu_period;
  if (f.cpu_burst) cpu["burst"] = *f.cpu_burst;
  if (f.cpu_rt_runtime) cpu["realtimeRuntime"] = *f.cpu_rt_runtime;
  if (f.cpu_rt_period) cpu["realtimePeriod"] = *f.cpu_rt_period;
  if (f.cpu_idle) cpu["idle"] = *f.cpu_idle;
  if (f.cpuset_cpus) cpu["cpus"] = *f.cpuset_cpus;
  if (f.cpuset_mems) cpu["mems"] = *f.cpuset_mems;
  if (!cpu.empty()) r["cpu"] = cpu;
  if (f.pids_limit) r["pids"] = {{"limit", *f.pids_limit}};
  if (f.blkio_weight) r["blockIO"] = {{"weight", *f.blkio_weight}};
  return r;
}

}  // namespace crunner::cgroups
