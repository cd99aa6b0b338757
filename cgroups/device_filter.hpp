// cgroup v2 device control: an eBPF BPF_PROG_TYPE_CGROUP_DEVICE program assembled from the
// device rules (no libbpf), loaded with bpf(2) and attached with BPF_F_ALLOW_MULTI. On update
// the new program is attached first and the ones attached before are detached after, so the
// container is never without a filter.
//
// Semantics (as v1's devices.allow/deny applied in order to an allow-all parent): the last
// matching rule wins; an allow rule matches when it grants every requested access, a deny rule
// when it denies any of them; no match allows (a list normally starts with "deny all").
#pragma once

#include <linux/bpf.h>

#include <cstdint>
#include <vector>

#include "cgroups/cgdir.hpp"
#include "cgroups/resources.hpp"

namespace crunner::cgroups {

std::vector<struct bpf_insn> build_device_program(const std::vector<DeviceRule>& rules);

// What the kernel passes the program: type 'c'/'b', access mask of 'r','w','m'.
struct DeviceAccess {
  char type = 'c';
  uint32_t major = 0, minor = 0;
  std::string access;  // "r", "rw", "m", ...
};
// Evaluates the rules the way the generated program does (the reference the program is
// tested against).
bool device_rules_allow(const std::vector<DeviceRule>& rules, const DeviceAccess& a);
// Runs the generated program in a small interpreter of the instructions it uses (tests).
Result<bool> run_device_program(const std::vector<struct bpf_insn>& prog, const DeviceAccess& a);

// Loads the program and attaches it to the cgroup directory, then detaches the programs that
// were attached there before.
Status apply_device_filter(const CgDir& d, const std::vector<DeviceRule>& rules);
// Ids of the device programs attached directly to the cgroup.
Result<std::vector<uint32_t>> attached_device_programs(const CgDir& d);

}  // namespace crunner::cgroups
