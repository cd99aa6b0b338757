// linux.seccomp -> a BPF program, compiled in the parent, loaded in the child.
//
//   parent                                       child (after clone, single-threaded)
//   ------                                       -----
//   validate(spec.linux_->seccomp)               ... mounts, caps, no_new_privs ...
//   compile_cached(seccomp, cache_dir, &warn)    load(program, &notify_fd)   <- last step
//      (libseccomp runs only here)                  (one seccomp(2) call, no allocation)
//   if program.needs_notify:                     pass notify_fd to the parent (SCM_RIGHTS),
//      receive notify_fd from the child          close it, continue to execve
//      send_to_listener(program, fd, pid, state)
//
// Semantics follow runc: SCMP_ACT_KILL is KILL_THREAD; errnoRet defaults to EPERM for
// ERRNO and TRACE; a rule whose action equals the default action is skipped; unknown
// syscall names are skipped with a warning; several conditions on the SAME argument
// index are split into one rule per condition (OR), otherwise they are ANDed in one
// rule; with a non-permissive default action, syscalls newer than every syscall the
// profile names get ENOSYS (so that libc falls back, e.g. clone3 -> clone).
#pragma once

#include <linux/filter.h>
#include <sys/types.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "base/error.hpp"

namespace crunner::seccomp {

// SECCOMP_FILTER_FLAG_* values (not all are in older kernel headers).
inline constexpr unsigned kFlagTsync = 1u << 0;
inline constexpr unsigned kFlagLog = 1u << 1;
inline constexpr unsigned kFlagSpecAllow = 1u << 2;
inline constexpr unsigned kFlagNewListener = 1u << 3;
inline constexpr unsigned kFlagWaitKillableRecv = 1u << 5;

// Everything load() needs; no libseccomp call is needed in the child.
struct Program {
  std::vector<struct sock_filter> insns;
  unsigned int flags = 0;  // SECCOMP_FILTER_FLAG_*; NEW_LISTENER when NOTIFY is used
  bool needs_notify = false;
  std::string listener_path, listener_metadata;
};

// Checks linux.seccomp without compiling it. Errors name the field path:
// `linux.seccomp.syscalls[3].action: unknown action "SCMP_ACT_FOO"`.
// Beyond the types and names: NOTIFY is refused as the default action and for write
// and sendmsg (the init uses them after loading the filter), and needs listenerPath.
Status validate(const nlohmann::json& linux_seccomp, const std::string& where = "linux.seccomp");

// Validates and compiles with libseccomp. Unknown syscall names and flags the kernel
// lacks are skipped; a line for each is appended to *warnings (when non-null).
Result<Program> compile(const nlohmann::json& linux_seccomp, std::vector<std::string>* warnings);

// compile(), but the BPF is cached in <cache_dir>/<sha256>.bpf (written atomically),
// keyed by the canonical JSON of the profile, the libseccomp version, the kernel
// release and the machine; a hit skips libseccomp entirely. A corrupt or unreadable
// cache entry is recompiled and replaced; a cache that cannot be written is not an error.
// Only files and a directory owned by our euid and not group/world-writable are trusted
// (no symlinks): a planted filter could otherwise loosen a container's profile.
Result<Program> compile_cached(const nlohmann::json& linux_seccomp, const std::string& cache_dir,
                               std::vector<std::string>* warnings);
// The cache file name compile_cached() uses for this profile (for tests and tools).
std::string cache_key(const nlohmann::json& linux_seccomp);
// At most this many filters are kept; the least recently used go first.
inline constexpr size_t kMaxCacheEntries = 256;
// Where the cache lives under a state root: "<root>/@seccomp-cache" ('@' is not valid
// in a container ID, so it never collides with a container's directory).
std::string cache_dir_for_root(const std::string& state_root);

// In the child, as the last step before execve: seccomp(SECCOMP_SET_MODE_FILTER,
// p.flags, &prog). no_new_privs (or CAP_SYS_ADMIN) is the caller's business.
// Returns 0 or -errno; with NEW_LISTENER the listener fd (O_CLOEXEC) goes to *notify_fd.
// Async-signal-safe: no allocation, never throws.
int load(const Program& p, int* notify_fd) noexcept;

// runc's notify protocol, run by the parent: connect (SOCK_STREAM) to p.listener_path and
// send ONE message: payload the JSON of a runtime-spec ContainerProcessState
// {"ociVersion","fds":["seccompFd"],"pid","metadata","state"}, with notify_fd in SCM_RIGHTS.
// `container_state` is the runtime-spec state object (ociVersion, id, status, pid,
// bundle, annotations).
Status send_to_listener(const Program& p, int notify_fd, pid_t pid,
                        const nlohmann::json& container_state);
// The message send_to_listener() sends (for tests and logging).
nlohmann::json container_process_state(const Program& p, pid_t pid,
                                       const nlohmann::json& container_state);

// A default allowlist (Docker's/Garden's model) for `crunner spec`: ERRNO(EPERM) by
// default; busybox sh, ls, ps work; mount, reboot, kexec_load, namespaces, bpf,
// keyrings, ptrace are denied; clone3 gets ENOSYS so libc falls back to clone.
nlohmann::json default_profile();

// For `crunner features`: {"enabled":true,"actions":[...],"operators":[...],
// "archs":[...],"knownFlags":[...],"supportedFlags":[...]}.
nlohmann::json features();
// "2.5.4" (for the features annotation io.github.seccomp.libseccomp.version).
std::string libseccomp_version();

}  // namespace crunner::seccomp
