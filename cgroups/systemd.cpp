#include "cgroups/systemd.hpp"

#include <algorithm>
#include <climits>
#include <map>
#include <tuple>

#include "base/error.hpp"
#include "base/text.hpp"

namespace crunner::cgroups::systemd {

namespace {

constexpr uint64_t kInfinity = UINT64_MAX;  // systemd's USEC_INFINITY / CGROUP_LIMIT_MAX
constexpr uint64_t kDefaultQuotaPeriod = 100000;

bool valid_part(const std::string& s) {
  return s.find('/') == std::string::npos && s.find('\0') == std::string::npos &&
         s.find(':') == std::string::npos && s != "." && s != "..";
}

}  // namespace

Result<UnitPath> parse_cgroups_path(const std::string& cgroups_path, const std::string& id,
                                    bool rootless) {
  UnitPath p;
  const std::string def_slice = rootless ? "user.slice" : "system.slice";
  if (cgroups_path.empty()) {
    p = {def_slice, "crunner", id};
  } else {
    auto parts = split(cgroups_path, ':');
    if (parts.size() != 3)
      return invalid_spec("linux.cgroupsPath `" + cgroups_path +
                          "`: expected \"slice:prefix:name\" for systemd cgroups");
    p = {parts[0].empty() ? def_slice : parts[0], parts[1], parts[2]};
  }
  for (auto* s : {&p.slice, &p.prefix, &p.name}) {
    if (!valid_part(*s))
      return invalid_spec("linux.cgroupsPath `" + cgroups_path + "`: `" + *s +
                          "` is not a valid unit name part");
  }
  if (p.name.empty())
    return invalid_spec("linux.cgroupsPath `" + cgroups_path + "`: the name part is empty");
  if (p.name.size() > 6 && p.name.compare(p.name.size() - 6, 6, ".slice") == 0)
    return invalid_spec("linux.cgroupsPath `" + cgroups_path +
                        "`: a slice as the container's unit is not supported (want a scope "
                        "name)");
  if (unit_name(p).size() > 255)
    return invalid_spec("linux.cgroupsPath `" + cgroups_path + "`: unit name too long");
  CR_TRY_CTX(expand_slice(p.slice), "linux.cgroupsPath `" + cgroups_path + "`");
  return p;
}

std::string unit_name(const UnitPath& p) {
  if (p.prefix.empty()) return p.name + ".scope";
  return p.prefix + "-" + p.name + ".scope";
}

Result<std::string> expand_slice(const std::string& slice) {
  const std::string suffix = ".slice";
  if (slice.size() <= suffix.size() ||
      slice.compare(slice.size() - suffix.size(), suffix.size(), suffix) != 0)
    return invalid_spec("invalid slice name `" + slice + "` (want NAME.slice)");
  if (slice.find('/') != std::string::npos)
    return invalid_spec("invalid slice name `" + slice + "` (no '/' allowed)");
  std::string name = slice.substr(0, slice.size() - suffix.size());
  if (name == "-") return std::string("/");
  std::string path, prefix;
  for (auto& comp : split(name, '-')) {
    if (comp.empty())
      return invalid_spec("invalid slice name `" + slice + "` (empty component between '-')");
    path += "/" + prefix + comp + suffix;
    prefix += comp + "-";
  }
  return path;
}

Result<std::string> unit_cgroup_path(const UnitPath& p) {
  CR_ASSIGN(std::string s, expand_slice(p.slice));
  return (s == "/" ? "" : s) + "/" + unit_name(p);
}

Result<std::vector<uint8_t>> range_to_bits(const std::string& list) {
  std::vector<uint8_t> bits;
  auto set = [&](unsigned long long i) {
    if (bits.size() <= i / 8) bits.resize(i / 8 + 1, 0);
    bits[i / 8] |= static_cast<uint8_t>(1u << (i % 8));
  };
  for (auto& r : split(trim(list), ',')) {
    std::string t = trim(r);
    if (t.empty()) continue;
    auto dash = t.find('-');
    unsigned long long a, b;
    if (dash == std::string::npos) {
      if (!parse_u64(t, a)) return invalid_spec("invalid cpu/mem list `" + list + "`");
      b = a;
    } else if (!parse_u64(t.substr(0, dash), a) || !parse_u64(t.substr(dash + 1), b) || b < a) {
      return invalid_spec("invalid cpu/mem list `" + list + "`");
    }
    if (b >= 8192) return invalid_spec("cpu/mem list `" + list + "`: index above 8191");
    for (auto i = a; i <= b; i++) set(i);
  }
  if (bits.empty()) return invalid_spec("empty cpu/mem list `" + list + "`");
  return bits;
}

namespace {

// The group name of a major number in /proc/devices ("char-pts"), or "".
std::string device_group(const std::string& proc_devices, char type, int64_t major) {
  bool in_section = false;
  for (auto& line : split(proc_devices, '\n')) {
    if (line == "Character devices:") {
      in_section = type == 'c';
      continue;
    }
    if (line == "Block devices:") {
      in_section = type == 'b';
      continue;
    }
    if (!in_section) continue;
    auto f = split(trim(line), ' ');
    if (f.size() < 2) continue;
    long long m;
    if (parse_i64(f[0], m) && m == major)
      return std::string(type == 'c' ? "char-" : "block-") + f.back();
  }
  return "";
}

std::string merge_perms(const std::string& a, const std::string& b) {
  std::string out;
  for (char c : std::string("rwm"))
    if (a.find(c) != std::string::npos || b.find(c) != std::string::npos) out += c;
  return out;
}

std::string remove_perms(const std::string& a, const std::string& b) {
  std::string out;
  for (char c : a)
    if (b.find(c) == std::string::npos) out += c;
  return out;
}

}  // namespace

std::vector<dbus::Property> device_properties(const std::vector<DeviceRule>& rules,
                                              const std::string& proc_devices,
                                              std::vector<std::string>* warnings) {
  // Replay the rules as the kernel's v1 devices cgroup would (runc's devices.Emulator).
  bool default_allow = false;
  std::map<std::tuple<char, int64_t, int64_t>, std::string> exceptions;
  for (auto& r : rules) {
    if (r.type == 'a') {
      default_allow = r.allow;
      exceptions.clear();
      continue;
    }
    auto key = std::make_tuple(r.type, r.major, r.minor);
    if (r.allow != default_allow) {  // an exception to the default
      exceptions[key] = merge_perms(exceptions[key], r.access);
    } else if (auto it = exceptions.find(key); it != exceptions.end()) {
      it->second = remove_perms(it->second, r.access);
      if (it->second.empty()) exceptions.erase(it);
    }
  }
  std::vector<dbus::Property> props;
  if (default_allow) {
    if (exceptions.empty())
      return {{"DevicePolicy", std::string("auto")}, {"DeviceAllow", dbus::DeviceAllow{}}};
    if (warnings)
      warnings->push_back(
          "systemd does not support deny-list device rules: the unit gets deny-all; the "
          "rules are enforced by the cgroup's own device filter");
    return {{"DevicePolicy", std::string("strict")}, {"DeviceAllow", dbus::DeviceAllow{}}};
  }
  dbus::DeviceAllow allow;
  for (auto& [key, perms] : exceptions) {
    auto [type, major, minor] = key;
    std::string kind = type == 'c' ? "char" : "block";
    std::string path;
    if (major == kWildcard) {
      if (minor != kWildcard) {
        if (warnings)
          warnings->push_back("systemd does not support '*:" + std::to_string(minor) +
                              "' device rules: left to the cgroup's device filter");
        continue;
      }
      path = kind + "-*";
    } else if (minor == kWildcard) {
      path = device_group(proc_devices, type, major);
      if (path.empty()) {
        if (warnings)
          warnings->push_back("no device group for " + kind + " major " + std::to_string(major) +
                              " in /proc/devices: left to the cgroup's device filter");
        continue;
      }
    } else {
      path = "/dev/" + kind + "/" + std::to_string(major) + ":" + std::to_string(minor);
    }
    allow.emplace_back(path, perms);
  }
  // An empty DeviceAllow first: systemd appends to the list it has (on update).
  props.push_back({"DevicePolicy", std::string("strict")});
  props.push_back({"DeviceAllow", dbus::DeviceAllow{}});
  if (!allow.empty()) props.push_back({"DeviceAllow", std::move(allow)});
  return props;
}

Result<std::vector<dbus::Property>> resource_properties(const Resources& r, bool v2,
                                                        int systemd_version,
                                                        const std::string& proc_devices,
                                                        std::vector<std::string>* warnings) {
  std::vector<dbus::Property> props;
  if (r.devices) props = device_properties(*r.devices, proc_devices, warnings);
  auto limit = [](int64_t v) { return v < 0 ? kInfinity : static_cast<uint64_t>(v); };
  const auto& m = r.memory;
  if (v2) {
    if (m.limit && *m.limit != 0) props.push_back({"MemoryMax", limit(*m.limit)});
    if (m.reservation && *m.reservation != 0) props.push_back({"MemoryLow", limit(*m.reservation)});
    if (m.swap && *m.swap != 0) {
      CR_ASSIGN(int64_t swap, memory_swap_to_v2(*m.swap, m.limit.value_or(0)));
      if (swap != 0) props.push_back({"MemorySwapMax", limit(swap)});
    }
    if (r.cpu.shares && *r.cpu.shares != 0)
      props.push_back({"CPUWeight", cpu_shares_to_weight(*r.cpu.shares)});
  } else {
    if (m.limit && *m.limit != 0) props.push_back({"MemoryLimit", limit(*m.limit)});
    if (r.cpu.shares && *r.cpu.shares != 0) props.push_back({"CPUShares", *r.cpu.shares});
    if (r.block_io.weight && *r.block_io.weight != 0)
      props.push_back({"BlockIOWeight", static_cast<uint64_t>(*r.block_io.weight)});
  }
  // cpu quota: systemd takes microseconds per second, rounded up to whole percents (10 ms)
  // so that the cgroup's own cpu.max can be the exact value (runc's addCpuQuota).
  int64_t quota = r.cpu.quota.value_or(0);
  uint64_t period = r.cpu.period.value_or(0);
  if (period != 0) {
    if (systemd_version >= 242)
      props.push_back({"CPUQuotaPeriodUSec", period});
    else if (warnings)
      warnings->push_back("systemd " + std::to_string(systemd_version) +
                          " cannot set CPUQuotaPeriodUSec (needs 242)");
  }
  if (quota != 0 || period != 0) {
    uint64_t per_sec = kInfinity;
    if (quota > 0) {
      uint64_t p = period != 0 ? period : kDefaultQuotaPeriod;
      per_sec = static_cast<uint64_t>(quota) * 1000000 / p;
      if (per_sec % 10000 != 0) per_sec = (per_sec / 10000 + 1) * 10000;
    }
    props.push_back({"CPUQuotaPerSecUSec", per_sec});
  }
  if (r.pids_limit && *r.pids_limit != 0) props.push_back({"TasksMax", limit(*r.pids_limit)});
  if ((r.cpu.cpus && !r.cpu.cpus->empty()) || (r.cpu.mems && !r.cpu.mems->empty())) {
    if (systemd_version < 244) {
      if (warnings)
        warnings->push_back("systemd " + std::to_string(systemd_version) +
                            " cannot set AllowedCPUs/AllowedMemoryNodes (needs 244)");
    } else {
      if (r.cpu.cpus && !r.cpu.cpus->empty()) {
        CR_ASSIGN(auto bits, range_to_bits(*r.cpu.cpus));
        props.push_back({"AllowedCPUs", std::move(bits)});
      }
      if (r.cpu.mems && !r.cpu.mems->empty()) {
        CR_ASSIGN(auto bits, range_to_bits(*r.cpu.mems));
        props.push_back({"AllowedMemoryNodes", std::move(bits)});
      }
    }
  }
  return props;
}

}  // namespace crunner::cgroups::systemd
