// The -ENOSYS stub runc prepends to the libseccomp program (internal to seccomp/).
//
// With a non-permissive default action, a syscall the profile writer could not have
// known about (newer than the newest syscall the profile names, per architecture)
// returns ENOSYS instead of the default action, so libc falls back to an older call
// (clone3 -> clone, faccessat2 -> faccessat) instead of failing with EPERM.
//
//   ld [4]                       ; arch
//   jeq AUDIT_ARCH_A, 0, len(A)  ; one section per architecture in the filter
//     ld [0]                     ; syscall nr
//     jgt MAX_A, 0, 1
//     ret ERRNO(ENOSYS)
//     ja FILTER
//   ...                          ; x86_64 sections split on the x32 bit (1 << 30)
// FILTER:                        ; the libseccomp program, untouched
#pragma once

#include <linux/filter.h>

#include <cstdint>
#include <vector>

#include "seccomp/profile.hpp"

namespace crunner::seccomp {

// Empty when no stub is needed (permissive default, default already ENOSYS, or no
// syscall known on any architecture). `archs`: the SCMP_ARCH_* tokens in the filter
// (the native one included).
std::vector<struct sock_filter> enosys_stub(const Profile& p, const std::vector<uint32_t>& archs);

}  // namespace crunner::seccomp
