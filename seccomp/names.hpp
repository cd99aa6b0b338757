// Name tables of linux.seccomp (actions, operators, architectures, flags), shared by
// validation, compilation and `features`. Internal to seccomp/.
#pragma once

#include <seccomp.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace crunner::seccomp::names {

struct Action {
  const char* name;
  uint32_t value;    // SCMP_ACT_*; for ERRNO/TRACE the base without the errno
  bool takes_errno;  // ERRNO and TRACE carry errnoRet (default EPERM)
};

const Action* find_action(const std::string& name);
// The libseccomp action word; errno_ret is used by ERRNO/TRACE only.
uint32_t action_value(const Action& a, std::optional<uint32_t> errno_ret);
// ALLOW, LOG and TRACE let unknown syscalls through (runc's isAllowAction).
bool is_permissive(const Action& a);

std::optional<scmp_compare> find_operator(const std::string& name);
// SCMP_ARCH_* token, or nullopt when neither known to us nor to this libseccomp.
std::optional<uint32_t> find_arch(const std::string& name);
bool is_spec_arch(const std::string& name);  // a runtime-spec name, supported or not
std::optional<unsigned> find_flag(const std::string& name);  // SECCOMP_FILTER_FLAG_*

std::vector<std::string> action_names();    // sorted
std::vector<std::string> operator_names();  // sorted
std::vector<std::string> arch_names();      // sorted
std::vector<std::string> flag_names();      // in runc's order

}  // namespace crunner::seccomp::names
