// The default seccomp profile `crunner spec` writes: an allowlist in the spirit of
// Docker's default and Garden's, for a container with the default capabilities
// (AUDIT_WRITE, KILL, NET_BIND_SERVICE). Everything not listed fails with EPERM.
#include <seccomp.h>

#include "base/text.hpp"
#include "seccomp/seccomp.hpp"

namespace crunner::seccomp {

using json = nlohmann::json;

namespace {

// Plain allow, grouped by what they touch. 32-bit and time64 variants sit next to
// their base call; names unknown on an architecture are skipped at compile time.
// One string per group, names separated by spaces.
const char* const kAllowed[] = {
    // processes, threads, signals
    "exit exit_group fork vfork execve execveat wait4 waitid waitpid kill tkill tgkill getpid "
    "getppid gettid getpgid getpgrp setpgid getsid setsid set_tid_address set_robust_list "
    "get_robust_list rseq futex futex_time64 futex_waitv restart_syscall pidfd_open "
    "pidfd_send_signal process_mrelease rt_sigaction rt_sigpending rt_sigprocmask "
    "rt_sigqueueinfo rt_sigreturn rt_sigsuspend rt_sigtimedwait rt_sigtimedwait_time64 "
    "rt_tgsigqueueinfo sigaltstack signalfd signalfd4 sigprocmask sigreturn sigaction "
    "sigsuspend sigpending signal pause alarm prctl arch_prctl capget capset seccomp "
    "landlock_add_rule landlock_create_ruleset landlock_restrict_self",
    // credentials
    "getuid getuid32 geteuid geteuid32 getgid getgid32 getegid getegid32 getresuid "
    "getresuid32 getresgid getresgid32 getgroups getgroups32 setuid setuid32 setgid setgid32 "
    "setreuid setreuid32 setregid setregid32 setresuid setresuid32 setresgid setresgid32 "
    "setgroups setgroups32 setfsuid setfsuid32 setfsgid setfsgid32",
    // scheduling, limits, resources
    "sched_yield sched_getaffinity sched_setaffinity sched_getattr sched_setattr "
    "sched_getparam sched_setparam sched_getscheduler sched_setscheduler "
    "sched_get_priority_max sched_get_priority_min sched_rr_get_interval "
    "sched_rr_get_interval_time64 getpriority setpriority ioprio_get ioprio_set getrlimit "
    "setrlimit ugetrlimit prlimit64 getrusage times getcpu sysinfo uname olduname getrandom",
    // time
    "time gettimeofday clock_gettime clock_gettime64 clock_getres clock_getres_time64 "
    "clock_nanosleep clock_nanosleep_time64 nanosleep adjtimex clock_adjtime clock_adjtime64 "
    "getitimer setitimer timer_create timer_delete timer_getoverrun timer_gettime "
    "timer_gettime64 timer_settime timer_settime64 timerfd_create timerfd_gettime "
    "timerfd_gettime64 timerfd_settime timerfd_settime64",
    // memory
    "brk mmap mmap2 munmap mremap mprotect madvise mincore msync mlock mlock2 mlockall "
    "munlock munlockall membarrier memfd_create memfd_secret remap_file_pages pkey_alloc "
    "pkey_free pkey_mprotect set_thread_area get_thread_area modify_ldt cacheflush set_tls "
    "breakpoint riscv_flush_icache",
    // files and directories
    "open openat openat2 creat close close_range read readv pread64 preadv preadv2 write "
    "writev pwrite64 pwritev pwritev2 lseek _llseek dup dup2 dup3 fcntl fcntl64 flock fsync "
    "fdatasync sync syncfs sync_file_range sync_file_range2 arm_sync_file_range fadvise64 "
    "fadvise64_64 arm_fadvise64_64 readahead fallocate truncate truncate64 ftruncate "
    "ftruncate64 stat stat64 lstat lstat64 fstat fstat64 fstatat64 newfstatat statx statfs "
    "statfs64 fstatfs fstatfs64 access faccessat faccessat2 getcwd chdir fchdir mkdir mkdirat "
    "rmdir rename renameat renameat2 link linkat unlink unlinkat symlink symlinkat readlink "
    "readlinkat chmod fchmod fchmodat fchmodat2 chown chown32 fchown fchown32 lchown lchown32 "
    "fchownat umask mknod mknodat utime utimes futimesat utimensat utimensat_time64 getdents "
    "getdents64 name_to_handle_at copy_file_range sendfile sendfile64 splice tee vmsplice "
    "getxattr lgetxattr fgetxattr setxattr lsetxattr fsetxattr listxattr llistxattr "
    "flistxattr removexattr lremovexattr fremovexattr inotify_init inotify_init1 "
    "inotify_add_watch inotify_rm_watch fanotify_mark",
    // polling and events
    "select _newselect pselect6 pselect6_time64 poll ppoll ppoll_time64 epoll_create "
    "epoll_create1 epoll_ctl epoll_ctl_old epoll_wait epoll_wait_old epoll_pwait epoll_pwait2 "
    "eventfd eventfd2 pipe pipe2 ioctl io_setup io_destroy io_submit io_cancel io_getevents "
    "io_pgetevents io_pgetevents_time64",
    // sockets (socket() itself is conditional, below)
    "socketpair socketcall bind connect listen accept accept4 getsockname getpeername "
    "getsockopt setsockopt send sendto sendmsg sendmmsg recv recvfrom recvmsg recvmmsg "
    "recvmmsg_time64 shutdown",
    // System V and POSIX IPC (namespaced)
    "ipc msgget msgsnd msgrcv msgctl semget semop semtimedop semtimedop_time64 semctl shmget "
    "shmat shmdt shmctl mq_open mq_unlink mq_timedsend mq_timedsend_time64 mq_timedreceive "
    "mq_timedreceive_time64 mq_notify mq_getsetattr",
};

// Flags that create namespaces (CLONE_NEWNS|NEWCGROUP|NEWUTS|NEWIPC|NEWUSER|NEWPID|
// NEWNET): clone() is allowed only without them.
constexpr uint64_t kCloneNsMask = 0x7E020000;
constexpr int AF_VSOCK_ = 40;

json rule(std::initializer_list<const char*> names, const char* action) {
  json r{{"names", json::array()}, {"action", action}};
  for (auto n : names) r["names"].push_back(n);
  return r;
}

json arg(unsigned index, uint64_t value, const char* op, uint64_t value_two = 0) {
  json a{{"index", index}, {"value", value}, {"op", op}};
  if (value_two) a["valueTwo"] = value_two;
  return a;
}

json native_archs() {
  switch (seccomp_arch_native()) {
    case SCMP_ARCH_X86_64:
      return {"SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"};
    case SCMP_ARCH_AARCH64:
      return {"SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"};
    case SCMP_ARCH_PPC64LE:
      return {"SCMP_ARCH_PPC64LE"};
    case SCMP_ARCH_S390X:
      return {"SCMP_ARCH_S390X", "SCMP_ARCH_S390"};
    case SCMP_ARCH_RISCV64:
      return {"SCMP_ARCH_RISCV64"};
    default:
      return json::array();  // the native architecture is always in the filter
  }
}

}  // namespace

json default_profile() {
  json syscalls = json::array();
  json allow{{"names", json::array()}, {"action", "SCMP_ACT_ALLOW"}};
  for (const char* group : kAllowed)
    for (const std::string& n : split(group, ' '))
      if (!n.empty()) allow["names"].push_back(n);
  syscalls.push_back(std::move(allow));

  // socket(): everything but AF_VSOCK (host communication channel).
  json sock = rule({"socket"}, "SCMP_ACT_ALLOW");
  sock["args"] = json::array({arg(0, AF_VSOCK_, "SCMP_CMP_NE")});
  syscalls.push_back(std::move(sock));

  // personality(): only the harmless personas (PER_LINUX, PER_LINUX32, UNAME26 on
  // both, and 0xffffffff which queries the current one).
  for (uint64_t persona : {0x0ull, 0x8ull, 0x20000ull, 0x20008ull, 0xffffffffull}) {
    json p = rule({"personality"}, "SCMP_ACT_ALLOW");
    p["args"] = json::array({arg(0, persona, "SCMP_CMP_EQ")});
    syscalls.push_back(std::move(p));
  }

  // clone(): threads and plain forks, no new namespaces. The flags are argument 0,
  // except on s390, where the kernel takes (stack, flags).
  uint32_t native = seccomp_arch_native();
  unsigned flags_arg = (native == SCMP_ARCH_S390X || native == SCMP_ARCH_S390) ? 1 : 0;
  json clone = rule({"clone"}, "SCMP_ACT_ALLOW");
  clone["args"] = json::array({arg(flags_arg, kCloneNsMask, "SCMP_CMP_MASKED_EQ", 0)});
  syscalls.push_back(std::move(clone));

  // clone3() takes its flags in memory, which seccomp cannot inspect: ENOSYS makes libc
  // fall back to clone(), which is checked above.
  json clone3 = rule({"clone3"}, "SCMP_ACT_ERRNO");
  clone3["errnoRet"] = 38;  // ENOSYS
  syscalls.push_back(std::move(clone3));

  return json{{"defaultAction", "SCMP_ACT_ERRNO"},
              {"defaultErrnoRet", 1},
              {"architectures", native_archs()},
              {"syscalls", std::move(syscalls)}};
}

}  // namespace crunner::seccomp
