#include "seccomp/enosys.hpp"

#include <linux/audit.h>
#include <linux/seccomp.h>
#include <seccomp.h>

#include <algorithm>
#include <cerrno>
#include <map>
#include <optional>

namespace crunner::seccomp {

namespace {

constexpr uint32_t kX32Bit = 0x40000000u;

struct Group {
  std::optional<uint32_t> max_main, max_x32;
};

sock_filter stmt(uint16_t code, uint32_t k) {
  return BPF_STMT(code, k);
}
sock_filter jump(uint16_t code, uint32_t k, uint8_t jt, uint8_t jf) {
  return BPF_JUMP(code, k, jt, jf);
}

// Largest syscall number any rule names on this architecture.
std::optional<uint32_t> largest_syscall(const Profile& p, uint32_t arch) {
  std::optional<uint32_t> best;
  for (auto& r : p.rules)
    for (auto& name : r.names) {
      int nr = seccomp_syscall_resolve_name_arch(arch, name.c_str());
      if (nr < 0) continue;  // unknown here, or a multiplexed pseudo-syscall
      if (!best || static_cast<uint32_t>(nr) > *best) best = static_cast<uint32_t>(nr);
    }
  return best;
}

}  // namespace

std::vector<sock_filter> enosys_stub(const Profile& p, const std::vector<uint32_t>& archs) {
  if (p.default_permissive) return {};
  if (p.default_action == SCMP_ACT_ERRNO(ENOSYS)) return {};

  // Group by the AUDIT_ARCH value the kernel reports: x32 shares x86_64's.
  std::map<uint32_t, Group> groups;
  for (uint32_t a : archs) {
    auto max = largest_syscall(p, a);
    if (!max) continue;
    if (a == SCMP_ARCH_X32)
      groups[AUDIT_ARCH_X86_64].max_x32 = max;
    else
      groups[a].max_main = max;
  }
  if (groups.empty()) return {};

  const uint32_t ret_enosys = SECCOMP_RET_ERRNO | ENOSYS;
  std::vector<sock_filter> out;
  std::vector<size_t> to_filter;  // indexes of "ja FILTER", patched at the end
  out.push_back(stmt(BPF_LD | BPF_W | BPF_ABS, 4));
  for (auto& [audit, g] : groups) {
    std::vector<sock_filter> sec;
    sec.push_back(stmt(BPF_LD | BPF_W | BPF_ABS, 0));
    if (audit == AUDIT_ARCH_X86_64) {
      // s1: x32 calls (bit 30 set) go to s3; s2 checks x86_64, s3 x32; s4 ret; s5 ja.
      sec.push_back(jump(BPF_JMP | BPF_JSET | BPF_K, kX32Bit, 1, 0));
      if (g.max_main)
        sec.push_back(jump(BPF_JMP | BPF_JGT | BPF_K, *g.max_main, 1, 2));
      else
        sec.push_back(stmt(BPF_JMP | BPF_JA, 2));
      if (g.max_x32)
        sec.push_back(jump(BPF_JMP | BPF_JGT | BPF_K, *g.max_x32, 0, 1));
      else
        sec.push_back(stmt(BPF_JMP | BPF_JA, 1));
    } else {
      sec.push_back(jump(BPF_JMP | BPF_JGT | BPF_K, *g.max_main, 0, 1));
    }
    sec.push_back(stmt(BPF_RET | BPF_K, ret_enosys));
    sec.push_back(stmt(BPF_JMP | BPF_JA, 0));  // ja FILTER
    out.push_back(jump(BPF_JMP | BPF_JEQ | BPF_K, audit, 0, static_cast<uint8_t>(sec.size())));
    out.insert(out.end(), sec.begin(), sec.end());
    to_filter.push_back(out.size() - 1);
  }
  // Architectures without a section fall through into the filter.
  for (size_t i : to_filter) out[i].k = static_cast<uint32_t>(out.size() - (i + 1));
  return out;
}

}  // namespace crunner::seccomp
