// The parsed form of the OCI LinuxResources object (config.json linux.resources, and the
// input of `update`). Every field is optional: apply() writes only what is set, so the same
// struct serves create and partial updates.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/error.hpp"

namespace crunner::cgroups {

constexpr int64_t kWildcard = -1;  // device major/minor "*"

struct DeviceRule {
  bool allow = false;
  char type = 'a';  // 'a', 'c', 'b'
  int64_t major = kWildcard;
  int64_t minor = kWildcard;
  std::string access = "rwm";
  // v1 devices.allow/deny syntax: "c 1:3 rwm", "a *:* rwm".
  std::string v1_string() const;
};

struct WeightDevice {
  int64_t major = 0, minor = 0;
  std::optional<uint16_t> weight, leaf_weight;
};
struct ThrottleDevice {
  int64_t major = 0, minor = 0;
  uint64_t rate = 0;
};
struct HugepageLimit {
  std::string page_size;  // "2MB", "1GB"
  uint64_t limit = 0;
};
struct NetPriority {
  std::string name;
  uint32_t priority = 0;
};
struct RdmaLimit {
  std::optional<uint32_t> hca_handles, hca_objects;
};

struct MemoryResources {
  std::optional<int64_t> limit, reservation, swap, kernel, kernel_tcp;
  std::optional<uint64_t> swappiness;
  std::optional<bool> disable_oom_killer, use_hierarchy, check_before_update;
};
struct CpuResources {
  std::optional<uint64_t> shares, period, burst, realtime_period;
  std::optional<int64_t> quota, realtime_runtime, idle;
  std::optional<std::string> cpus, mems;
};
struct BlockIoResources {
  std::optional<uint16_t> weight, leaf_weight;
  std::vector<WeightDevice> weight_device;
  std::vector<ThrottleDevice> throttle_read_bps, throttle_write_bps, throttle_read_iops,
      throttle_write_iops;
};
struct NetworkResources {
  std::optional<uint32_t> class_id;
  std::vector<NetPriority> priorities;
};

struct Resources {
  std::optional<std::vector<DeviceRule>> devices;  // absent: leave the device policy alone
  MemoryResources memory;
  CpuResources cpu;
  std::optional<int64_t> pids_limit;
  BlockIoResources block_io;
  std::vector<HugepageLimit> hugepage_limits;
  NetworkResources network;
  std::map<std::string, RdmaLimit> rdma;
  std::map<std::string, std::string> unified;
};

// Parses LinuxResources; errors name the field path ("linux.resources.memory.limit: ...").
Result<Resources> parse_resources(const nlohmann::json& j,
                                  const std::string& where = "linux.resources");

// runc's AllowedDevices: mknod of any c/b, /dev/null, zero, full, random, urandom, tty,
// console, ptmx and pts/*.
std::vector<DeviceRule> allowed_device_rules();
// "deny all" followed by allowed_device_rules() (what a container gets with no spec rules).
std::vector<DeviceRule> default_device_rules();
// The rule list to apply for a container, as runc builds it: the spec's
// linux.resources.devices, then the allowed devices. Without spec rules the list starts with
// "deny all". linux.devices nodes get no rule of their own (runc creates them but leaves
// access to linux.resources.devices: a listed node that the rules deny stays unopenable).
std::vector<DeviceRule> container_device_rules(
    const std::optional<std::vector<DeviceRule>>& spec_rules);

// runc update's single-value flags. Empty optional = flag not given.
struct UpdateFlags {
  std::optional<std::string> memory, memory_swap, memory_reservation, kernel_memory,
      kernel_memory_tcp;  // sizes: "512m", "1g", "-1"
  std::optional<uint64_t> cpu_shares, cpu_period, cpu_rt_period, cpu_burst;
  std::optional<int64_t> cpu_quota, cpu_rt_runtime, pids_limit, cpu_idle;
  std::optional<std::string> cpuset_cpus, cpuset_mems;
  std::optional<uint16_t> blkio_weight;
};
// The flags as a LinuxResources JSON object (only the given fields).
Result<nlohmann::json> resources_from_update_flags(const UpdateFlags& f);
// The resources to save after `update`: base with the update's fields replacing its own
// (objects merged key by key; arrays and scalars replaced).
nlohmann::json merge_resources(const nlohmann::json& base, const nlohmann::json& update);
// The resources `update` applies to the cgroup: the update, plus the saved cpu quota when
// only the period is given and the reverse, since cgroup v2 writes both to one file
// (cpu.max), as runc 1.1 does. Without this, `update --cpu-period P` on v2 wrote "max P" and
// dropped the quota. (Memory limit and swap are not paired: runc leaves memory.swap.max
// alone when only the limit changes.)
nlohmann::json update_with_partners(const nlohmann::json& saved, const nlohmann::json& update);
// "512m" / "1G" / "1024" / "-1" -> bytes (like docker's units.RAMInBytes).
Result<int64_t> parse_size(const std::string& s);

// cgroup v1 <-> v2 conversions, as runc does them.
uint64_t cpu_shares_to_weight(uint64_t shares);       // 1 + ((shares-2)*9999)/262142
uint64_t blkio_weight_to_io_weight(uint64_t weight);  // 1 + (weight-10)*9999/990
// v1 memory.swap (memory+swap total) -> v2 memory.swap.max (swap only). -1 = "max".
Result<int64_t> memory_swap_to_v2(int64_t swap, int64_t limit);

}  // namespace crunner::cgroups
