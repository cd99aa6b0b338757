// Process attributes applied in the container's init (and later in exec'd
// processes): rlimits, user and groups, capabilities, no_new_privs, and the
// executable lookup. Everything here runs after clone in a single-threaded
// child: no exceptions, errors as Status.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/error.hpp"
#include "libcontainer/spec.hpp"
#include "seccomp/seccomp.hpp"

namespace crunner {

// The five capability sets as bitmasks (bit n = capability n).
struct CapSets {
  bool present = false;  // process.capabilities given; absent = leave as is
  uint64_t bounding = 0, effective = 0, inheritable = 0, permitted = 0, ambient = 0;
};

// Converts names to bitmasks; names libcap does not know and capabilities above the
// kernel's cap_last_cap are dropped with one warning in `warnings`, in runc's words
// ("ignoring unknown or unavailable capabilities: [A B]").
CapSets cap_sets(const std::optional<spec::Capabilities>& caps, std::vector<std::string>* warnings);
int cap_last_cap();

Status apply_rlimits(const std::vector<spec::Rlimit>& rl);
// Drops every capability not in the bounding set (needs CAP_SETPCAP).
Status drop_bounding(const CapSets& c);
// setgroups + setresgid + setresuid, keeping the permitted capabilities across
// the uid change (PR_SET_KEEPCAPS) so apply_caps can set the final sets.
Status set_user(const spec::User& u);
Status apply_caps(const CapSets& c);
// apply_caps's error text when capset fails with EPERM: names the capabilities asked for
// that the calling process does not hold.
std::string unheld_caps_message(const CapSets& c);
Status set_no_new_privs();

// The last steps before execve, shared by the init and exec: the process's
// user, capabilities, no_new_privs and seccomp, in runc's order (seccomp is
// loaded last when no_new_privs is set; otherwise before the uid change, while
// CAP_SYS_ADMIN is still there). Resolves the executable as the final user.
// Collapses duplicate names in env, the last one wins (dedup_env), then adds HOME from
// the container's /etc/passwd when env has none (as runc).
// A seccomp notify fd is sent to the parent over `sock` (SyncType::Seccomp).
// `dumpable`: whether the process ends dumpable: a rootless created init whose binary the
// container cannot write (see docs/DESIGN.md section 7). BeforeFilter sets the flag before the
// last seccomp load, so no filter can refuse or kill it (a change of uid after a filter loaded
// without no_new_privs clears it again); AfterFilterToo also sets it once more at the end,
// for a filter that cannot kill, trap or hold prctl (filter_spares_prctl).
enum class EndDumpable { No, BeforeFilter, AfterFilterToo };
// Removes all but the last NAME=... entry of each NAME, keeping the survivors' order.
void dedup_env(std::vector<std::string>& env);

Result<std::string> finish_process(const spec::Process& proc, const CapSets& caps,
                                   const seccomp::Program* filter, int sock,
                                   std::vector<std::string>& env,
                                   EndDumpable dumpable = EndDumpable::No);

// clone3() a child that continues here like fork() (returns 0 in it), with the
// namespace `flags`, into the cgroup2 directory `cgroup_fd` when >= 0 (retried
// without it where CLONE_INTO_CGROUP is refused) and a pidfd in *pidfd when
// pidfd is non-null; falls back to clone() without clone3.
pid_t clone_child(uint64_t flags, int* pidfd, int cgroup_fd);

// The first steps of every child crunner clones (the init and exec'd
// processes): close the parent-only fds, die with the parent while being set
// up, become non-dumpable so nobody in the container can open our
// /proc/<pid>/exe (the crunner binary: CVE-2019-5736), reset the signal mask
// and dispositions, and mark every fd above the preserved ones close-on-exec.
void child_preamble(const std::vector<int>& close_fds, int preserve_fds);
// Reports `e` to the parent over the sync socket and _exits(1).
[[noreturn]] void child_fail(int sock, const Error& e);
// NULL-terminated char* array over `v` (for execve); `v` must outlive it.
std::vector<char*> cstr_array(const std::vector<std::string>& v);

// Resolves argv[0] the way execvp does with the process's PATH (or the
// default one); the error reads `exec: "x": executable file not found in
// $PATH` or names the path and errno (permission denied, ...).
Result<std::string> find_executable(const std::string& arg0, const std::vector<std::string>& env);

}  // namespace crunner
