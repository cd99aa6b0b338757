// cgroup v2 controller writers and stats readers over the container's unified directory.
// Conversions from the OCI (v1-shaped) values follow runc: shares -> cpu.weight,
// blkio weight -> io.weight, memory+swap total -> memory.swap.max.
#pragma once

#include <map>
#include <optional>
#include <vector>

#include "cgroups/cgdir.hpp"
#include "cgroups/resources.hpp"
#include "cgroups/stats.hpp"

namespace crunner::cgroups::v2 {

Status set_memory(const CgDir& d, const MemoryResources& m);
Status set_cpu(const CgDir& d, const CpuResources& c);
Status set_cpuset(const CgDir& d, const CpuResources& c);
Status set_pids(const CgDir& d, std::optional<int64_t> limit);
Status set_io(const CgDir& d, const BlockIoResources& b);
Status set_hugetlb(const CgDir& d, const std::vector<HugepageLimit>& h);
// Raw key/values, written last. Each file must exist, and its controller must be enabled.
Status set_unified(const CgDir& d, const std::map<std::string, std::string>& u);

// cgroup.freeze, then waits until cgroup.events says frozen 1 / 0.
Status set_freeze(const CgDir& d, bool frozen);
Result<bool> is_frozen(const CgDir& d);
// Controllers listed in cgroup.controllers.
Result<std::vector<std::string>> controllers(const CgDir& d);
// Enables every available controller in cgroup.subtree_control ("+cpu +memory ...").
Status enable_subtree_controllers(const CgDir& d);

Status read_memory(const CgDir& d, Stats& s);
Status read_cpu(const CgDir& d, Stats& s);
Status read_pids(const CgDir& d, Stats& s);
Status read_io(const CgDir& d, Stats& s);
Status read_hugetlb(const CgDir& d, Stats& s);

}  // namespace crunner::cgroups::v2
