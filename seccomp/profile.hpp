// linux.seccomp parsed into typed form (internal to seccomp/). parse() does all the
// validation; compile() works only from a parsed Profile.
#pragma once

#include <linux/filter.h>
#include <seccomp.h>

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "base/error.hpp"

namespace crunner::seccomp {

struct Arg {
  unsigned index = 0;
  uint64_t value = 0, value_two = 0;
  scmp_compare op = SCMP_CMP_EQ;
};

struct Rule {
  std::vector<std::string> names;
  uint32_t action = 0;  // libseccomp action word (errno folded in)
  bool notify = false;
  std::vector<Arg> args;
};

struct Profile {
  uint32_t default_action = 0;
  bool default_permissive = false;  // ALLOW, LOG, TRACE: no ENOSYS stub
  std::optional<uint32_t> default_errno;
  std::vector<uint32_t> archs;  // SCMP_ARCH_* tokens, in profile order
  std::vector<std::string> arch_names;
  unsigned flags = 0;  // SECCOMP_FILTER_FLAG_* asked for
  std::vector<Rule> rules;
  std::string listener_path, listener_metadata;
  bool uses_notify = false;
};

Result<Profile> parse(const nlohmann::json& j, const std::string& where);

// The pieces of compile() (seccomp/compile.cpp), shared with the cache.
struct Program;
// Flags, notify and listener fields: cheap, recomputed even on a cache hit.
Result<Program> program_shell(const Profile& p, std::vector<std::string>* warnings);
// libseccomp + the ENOSYS stub: the expensive part the cache skips.
Result<std::vector<struct sock_filter>> compile_bpf(const Profile& p,
                                                    std::vector<std::string>* warnings);
// seccomp(SECCOMP_SET_MODE_FILTER, flags, NULL) == EFAULT: the kernel knows the flags.
bool kernel_supports_flags(unsigned flags);

}  // namespace crunner::seccomp
