// AppArmor: detection, the check that a profile is loaded, and process.apparmorProfile
// applied on exec.
//
// The profile is not switched immediately: "exec <profile>" is written to the
// process's exec attribute right before execve, and the kernel applies it at the exec.
// The roots are parameters so tests run against a fake /proc and /sys.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "base/error.hpp"

namespace crunner::apparmor {

// <sys_root>/module/apparmor/parameters/enabled starts with "Y".
bool is_enabled(const std::string& sys_root = "/sys");

// The names of the profiles loaded in this policy namespace, from
// <sys_root>/kernel/security/apparmor/profiles ("NAME (MODE)" lines); nullopt when that
// list cannot be read (securityfs not mounted).
std::optional<std::vector<std::string>> loaded_profiles(const std::string& sys_root = "/sys");

// In the parent, before clone (nothing exists yet): a clear error when a profile is
// requested on a host without AppArmor, or is not loaded:
//   apparmor profile "x" requested but AppArmor is not enabled on this host
//   apparmor profile "x" is not loaded
// "unconfined" is always there; a name the list cannot show (another policy namespace
// ":ns:name", a stack "a//&b") and a host whose list cannot be read are left to the
// kernel, which refuses it at exec. An empty profile is always fine.
Status check_profile(const std::string& profile, const std::string& sys_root = "/sys");

// In the child, right before execve: writes "exec <profile>" to
// <proc_root>/thread-self/attr/apparmor/exec, falling back to
// <proc_root>/self/attr/exec on kernels without the per-LSM directory.
// Empty profile: nothing to do. AppArmor absent, or the profile not loaded (the kernel's
// ENOENT): the errors of check_profile. Never throws.
Status apply_exec_profile(const std::string& profile, const std::string& proc_root = "/proc",
                          const std::string& sys_root = "/sys");

}  // namespace crunner::apparmor
