// The cgroup directories of a process in every hierarchy the host mounts, through the real
// cgroup mounts (mountinfo): the v1 hierarchies (controllers or a name=), and the cgroup2 one
// (pure v2, or the hybrid's). A hierarchy the host does not mount (net_cls, say) has no
// directory and is simply absent.
#pragma once

#include <string>
#include <vector>

namespace garden::cgroups {

// A hierarchy `pid` is in, as the host mounts it.
struct Hierarchy {
  std::string controllers;  // as /proc/<pid>/cgroup names them ("cpu,cpuacct"); "" for cgroup2
  std::string mountpoint;   // the mount the directory was found through
  std::string dir;          // the cgroup directory of `pid` in it
};

// Each mounted hierarchy of `pid`, in /proc/<pid>/cgroup order; empty when unknown.
std::vector<Hierarchy> hierarchies(int pid, const std::string& proc_root = "/proc",
                                   const std::string& mountinfo = "/proc/self/mountinfo");

// Each hierarchy's directory of `pid` (the dirs of hierarchies()).
std::vector<std::string> cgroup_dirs(int pid, const std::string& proc_root = "/proc",
                                     const std::string& mountinfo = "/proc/self/mountinfo");

}  // namespace garden::cgroups
