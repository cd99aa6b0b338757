// The cgroup directories of a process in every hierarchy the host mounts, through the real
// cgroup mounts (mountinfo): the v1 hierarchies (controllers or a name=), and the cgroup2 one
// (pure v2, or the hybrid's). A hierarchy the host does not mount (net_cls, say) has no
// directory and is simply absent.
#pragma once

#include <string>
#include <vector>

namespace garden::cgroups {

// Each hierarchy's directory of `pid`, in /proc/<pid>/cgroup order; empty when unknown.
std::vector<std::string> cgroup_dirs(int pid, const std::string& proc_root = "/proc",
                                     const std::string& mountinfo = "/proc/self/mountinfo");

}  // namespace garden::cgroups
