// A container's memory cgroup as garden-shim reads it, on cgroup v1 (and hybrid) hosts and
// on pure cgroup v2 hosts: where it is, whether the kernel OOM-killed in it, and garden's
// MemoryStat from the runtime's `events --stats`. The runtime owns the cgroup (creates,
// limits, removes it); nothing here writes to it.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace garden::cgroups {

// The memory cgroup directory of `pid` among its hierarchies() (hierarchies.hpp): in the
// v1 memory hierarchy when the host mounts one, else in the cgroup2 hierarchy when it has
// the memory controller (pure v2); "" when unknown.
std::string memory_dir(int pid, const std::string& proc_root = "/proc",
                       const std::string& mountinfo = "/proc/self/mountinfo");

// Whether the kernel OOM-killed a process of that cgroup: a non-zero "oom_kill" in
// memory.oom_control (v1) or memory.events (v2).
bool oom_killed(const std::string& dir);

// Whether the host's cgroups are pure v2 (/sys/fs/cgroup is cgroup2).
bool unified(const std::string& root = "/sys/fs/cgroup");

// garden's ContainerMemoryStat (its fields in declaration order, v1 names) from the data
// object of `events --stats`. On v2, memory.stat has other names: rss = anon, cache = file,
// mapped_file = file_mapped, swap = swap.current, the limits from memory.max and
// memory.swap.max; v2 has no pgpgin/pgpgout (0) and no hierarchy split (total_* = the
// same). TotalUsageTowardLimit is what counts against the limit minus the page cache the
// kernel reclaims first: v1 (Guardian) total_rss + total_cache - total_inactive_file, v2
// memory.current - inactive_file (memory.current is what memory.max limits).
nlohmann::ordered_json memory_stat(const nlohmann::json& stats);

}  // namespace garden::cgroups
