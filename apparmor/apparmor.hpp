// AppArmor: detection, and process.apparmorProfile applied on exec.
//
// The profile is not switched immediately: "exec <profile>" is written to the
// process's exec attribute right before execve, and the kernel applies it at the exec.
// The roots are parameters so tests run against a fake /proc and /sys.
#pragma once

#include <string>

#include "libcontainer/error.hpp"

namespace crunner::apparmor {

// <sys_root>/module/apparmor/parameters/enabled starts with "Y".
bool is_enabled(const std::string& sys_root = "/sys");

// In the parent, before clone: a clear error when a profile is requested on a host
// without AppArmor. An empty profile is always fine.
Status check_profile(const std::string& profile, const std::string& sys_root = "/sys");

// In the child, right before execve: writes "exec <profile>" to
// <proc_root>/thread-self/attr/apparmor/exec, falling back to
// <proc_root>/self/attr/exec on kernels without the per-LSM directory.
// Empty profile: nothing to do. AppArmor absent:
//   apparmor profile "x" requested but AppArmor is not enabled on this host
// Never throws.
Status apply_exec_profile(const std::string& profile, const std::string& proc_root = "/proc",
                          const std::string& sys_root = "/sys");

}  // namespace crunner::apparmor
