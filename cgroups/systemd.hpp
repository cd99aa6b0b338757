// The systemd cgroup driver's pure parts, as runc (libcontainer/cgroups/systemd) has them:
// cgroupsPath "slice:prefix:name", unit names, slice expansion, and the resources mapped to
// unit properties. The Manager itself is SystemdManager (managers_impl.hpp).
#pragma once

#include <string>
#include <vector>

#include "base/error.hpp"
#include "cgroups/dbus.hpp"
#include "cgroups/resources.hpp"

namespace crunner::cgroups::systemd {

struct UnitPath {
  std::string slice;   // parent slice ("system.slice")
  std::string prefix;  // scope prefix ("crunner")
  std::string name;    // the container's part of the unit name
};

// "slice:prefix:name"; empty -> system.slice (user.slice when rootless), "crunner", the id.
// An empty slice takes the same default; every part is checked (no '/', no NUL).
Result<UnitPath> parse_cgroups_path(const std::string& cgroups_path, const std::string& id,
                                    bool rootless = false);
// "<prefix>-<name>.scope" ("<name>.scope" without a prefix).
std::string unit_name(const UnitPath& p);
// systemd's slice nesting: "a-b-c.slice" -> "/a.slice/a-b.slice/a-b-c.slice"; "-.slice" -> "/".
Result<std::string> expand_slice(const std::string& slice);
// The cgroup path of the unit below systemd's root ("/system.slice/crunner-x.scope").
Result<std::string> unit_cgroup_path(const UnitPath& p);

// runc's RangeToBits: "0-3,8" -> a little-endian bitmask (byte 0 holds cpus 0-7).
Result<std::vector<uint8_t>> range_to_bits(const std::string& list);

// The device rules as systemd's DevicePolicy/DeviceAllow (runc's generateDeviceProperties):
// the rules are replayed (a type 'a' rule resets to allow-all or deny-all), then every
// allowed c/b rule becomes "/dev/char/M:m", "char-<group>" (major only, group from
// /proc/devices text) or "char-*". What systemd cannot express is skipped with a warning
// (the eBPF filter written through the cgroup files enforces the whole list anyway).
std::vector<dbus::Property> device_properties(const std::vector<DeviceRule>& rules,
                                              const std::string& proc_devices,
                                              std::vector<std::string>* warnings);

// Resources as unit properties (runc's genV1ResourcesProperties / genV2ResourcesProperties).
// v2: MemoryMax, MemoryLow, MemorySwapMax, CPUWeight; v1: MemoryLimit, CPUShares,
// BlockIOWeight; both: CPUQuotaPerSecUSec (+ CPUQuotaPeriodUSec from systemd 242),
// TasksMax, AllowedCPUs/AllowedMemoryNodes (from systemd 244), devices.
Result<std::vector<dbus::Property>> resource_properties(const Resources& r, bool v2,
                                                        int systemd_version,
                                                        const std::string& proc_devices,
                                                        std::vector<std::string>* warnings);

}  // namespace crunner::cgroups::systemd
