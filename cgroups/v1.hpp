// cgroup v1 controller writers and stats readers. Each function works on the container's
// directory of one controller hierarchy (e.g. /sys/fs/cgroup/memory/<path>) and writes only
// the fields that are set.
#pragma once

#include <map>
#include <optional>
#include <vector>

#include "cgroups/cgdir.hpp"
#include "cgroups/resources.hpp"
#include "cgroups/stats.hpp"

namespace crunner::cgroups::v1 {

Status set_memory(const CgDir& d, const MemoryResources& m);
Status set_cpu(const CgDir& d, const CpuResources& c);
Status set_cpuset(const CgDir& d, const CpuResources& c);
Status set_pids(const CgDir& d, std::optional<int64_t> limit);
Status set_blkio(const CgDir& d, const BlockIoResources& b);
Status set_hugetlb(const CgDir& d, const std::vector<HugepageLimit>& h);
Status set_net_cls(const CgDir& d, const NetworkResources& n);
Status set_net_prio(const CgDir& d, const NetworkResources& n);
Status set_devices(const CgDir& d, const std::vector<DeviceRule>& rules);
// Shared by v1 and v2: rdma.max lines "mlx4_0 hca_handle=2 hca_object=2000".
Status set_rdma(const CgDir& d, const std::map<std::string, RdmaLimit>& r);

// Writes FROZEN/THAWED and waits until freezer.state reads it back.
Status set_freezer(const CgDir& d, bool frozen);
Result<bool> is_frozen(const CgDir& d);

// A new cpuset cgroup starts with empty cpus/mems; copy them from the nearest ancestor
// (stopping at `root`) so that tasks can join.
Status cpuset_inherit(const std::string& root, const std::string& path);

Status read_memory(const CgDir& d, Stats& s);
Status read_cpuacct(const CgDir& d, Stats& s);
Status read_cpu(const CgDir& d, Stats& s);  // throttling
Status read_pids(const CgDir& d, Stats& s);
Status read_blkio(const CgDir& d, Stats& s);
Status read_hugetlb(const CgDir& d, Stats& s);
// Shared by v1 and v2: "8:0 Read 4096" lines (v1) into entries.
std::vector<BlkioEntry> parse_blkio_lines(std::string_view text);

}  // namespace crunner::cgroups::v1
