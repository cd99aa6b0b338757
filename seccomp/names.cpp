#include "seccomp/names.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "seccomp/seccomp.hpp"

namespace crunner::seccomp::names {

namespace {

constexpr Action kActions[] = {
    {"SCMP_ACT_KILL", SCMP_ACT_KILL_THREAD, false},  // runc: KILL means KILL_THREAD
    {"SCMP_ACT_KILL_PROCESS", SCMP_ACT_KILL_PROCESS, false},
    {"SCMP_ACT_KILL_THREAD", SCMP_ACT_KILL_THREAD, false},
    {"SCMP_ACT_TRAP", SCMP_ACT_TRAP, false},
    {"SCMP_ACT_ERRNO", SCMP_ACT_ERRNO(0), true},
    {"SCMP_ACT_TRACE", SCMP_ACT_TRACE(0), true},
    {"SCMP_ACT_ALLOW", SCMP_ACT_ALLOW, false},
    {"SCMP_ACT_LOG", SCMP_ACT_LOG, false},
    {"SCMP_ACT_NOTIFY", SCMP_ACT_NOTIFY, false},
};

struct Op {
  const char* name;
  scmp_compare op;
};
constexpr Op kOps[] = {
    {"SCMP_CMP_NE", SCMP_CMP_NE},
    {"SCMP_CMP_LT", SCMP_CMP_LT},
    {"SCMP_CMP_LE", SCMP_CMP_LE},
    {"SCMP_CMP_EQ", SCMP_CMP_EQ},
    {"SCMP_CMP_GE", SCMP_CMP_GE},
    {"SCMP_CMP_GT", SCMP_CMP_GT},
    {"SCMP_CMP_MASKED_EQ", SCMP_CMP_MASKED_EQ},
};

// The runtime-spec names; libseccomp's own names are the lowercase suffixes, except
// where noted. Architectures this libseccomp does not know are resolved at run time.
struct Arch {
  const char* name;
  const char* scmp;  // name for seccomp_arch_resolve_name()
};
constexpr Arch kArchs[] = {
    {"SCMP_ARCH_X86", "x86"},
    {"SCMP_ARCH_X86_64", "x86_64"},
    {"SCMP_ARCH_X32", "x32"},
    {"SCMP_ARCH_ARM", "arm"},
    {"SCMP_ARCH_AARCH64", "aarch64"},
    {"SCMP_ARCH_MIPS", "mips"},
    {"SCMP_ARCH_MIPS64", "mips64"},
    {"SCMP_ARCH_MIPS64N32", "mips64n32"},
    {"SCMP_ARCH_MIPSEL", "mipsel"},
    {"SCMP_ARCH_MIPSEL64", "mipsel64"},
    {"SCMP_ARCH_MIPSEL64N32", "mipsel64n32"},
    {"SCMP_ARCH_PPC", "ppc"},
    {"SCMP_ARCH_PPC64", "ppc64"},
    {"SCMP_ARCH_PPC64LE", "ppc64le"},
    {"SCMP_ARCH_S390", "s390"},
    {"SCMP_ARCH_S390X", "s390x"},
    {"SCMP_ARCH_PARISC", "parisc"},
    {"SCMP_ARCH_PARISC64", "parisc64"},
    {"SCMP_ARCH_RISCV64", "riscv64"},
    {"SCMP_ARCH_LOONGARCH64", "loongarch64"},
    {"SCMP_ARCH_M68K", "m68k"},
    {"SCMP_ARCH_SH", "sh"},
    {"SCMP_ARCH_SHEB", "sheb"},
};

struct Flag {
  const char* name;
  unsigned value;
};
constexpr Flag kFlags[] = {
    {"SECCOMP_FILTER_FLAG_TSYNC", kFlagTsync},  // accepted and ignored, as runc does
    {"SECCOMP_FILTER_FLAG_SPEC_ALLOW", kFlagSpecAllow},
    {"SECCOMP_FILTER_FLAG_LOG", kFlagLog},
    {"SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV", kFlagWaitKillableRecv},
};

}  // namespace

const Action* find_action(const std::string& name) {
  for (auto& a : kActions)
    if (name == a.name) return &a;
  return nullptr;
}

uint32_t action_value(const Action& a, std::optional<uint32_t> errno_ret) {
  if (!a.takes_errno) return a.value;
  return a.value | (errno_ret.value_or(EPERM) & 0xffffu);
}

bool is_permissive(const Action& a) {
  return a.value == SCMP_ACT_ALLOW || a.value == SCMP_ACT_LOG || a.value == SCMP_ACT_TRACE(0);
}

std::optional<scmp_compare> find_operator(const std::string& name) {
  for (auto& o : kOps)
    if (name == o.name) return o.op;
  return std::nullopt;
}

std::optional<uint32_t> find_arch(const std::string& name) {
  for (auto& a : kArchs) {
    if (name != a.name) continue;
    uint32_t token = seccomp_arch_resolve_name(a.scmp);
    if (token == 0) return std::nullopt;  // known to the spec, not to this libseccomp
    return token;
  }
  return std::nullopt;
}

bool is_spec_arch(const std::string& name) {
  for (auto& a : kArchs)
    if (name == a.name) return true;
  return false;
}

std::optional<unsigned> find_flag(const std::string& name) {
  for (auto& f : kFlags)
    if (name == f.name) return f.value;
  return std::nullopt;
}

std::vector<std::string> action_names() {
  std::vector<std::string> v;
  for (auto& a : kActions) v.emplace_back(a.name);
  std::sort(v.begin(), v.end());
  return v;
}

std::vector<std::string> operator_names() {
  std::vector<std::string> v;
  for (auto& o : kOps) v.emplace_back(o.name);
  std::sort(v.begin(), v.end());
  return v;
}

std::vector<std::string> arch_names() {
  std::vector<std::string> v;
  for (auto& a : kArchs)
    if (find_arch(a.name)) v.emplace_back(a.name);
  std::sort(v.begin(), v.end());
  return v;
}

std::vector<std::string> flag_names() {
  std::vector<std::string> v;
  for (auto& f : kFlags) v.emplace_back(f.name);
  return v;
}

}  // namespace crunner::seccomp::names
