// Runs a function in a forked child under a seccomp filter, and how the child ended.
#pragma once

#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <functional>

#include "seccomp/seccomp.hpp"

namespace crunner::testing {

// How a child ended.
struct Exit {
  bool exited = false;
  int code = -1;   // exit status when exited
  int signal = 0;  // terminating signal otherwise
  bool load_failed() const { return exited && code >= 240; }
};

inline Exit wait_child(pid_t pid) {
  int st = 0;
  while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
  }
  Exit e;
  if (WIFEXITED(st)) {
    e.exited = true;
    e.code = WEXITSTATUS(st);
  } else if (WIFSIGNALED(st)) {
    e.signal = WTERMSIG(st);
  }
  return e;
}

// Forks; the child sets no_new_privs, loads `p` and _exits with fn()'s value (0..239).
// 240 + n: loading failed. fn must use only syscalls the filter allows.
inline Exit run_filtered(const seccomp::Program& p, const std::function<int()>& fn) {
  pid_t pid = fork();
  if (pid == 0) {
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) _exit(250);
    int fd = -1;
    int rc = seccomp::load(p, &fd);
    if (rc < 0) _exit(240 + (-rc % 10));
    // The raw exit_group: under ASan, _exit() is intercepted and runs the sanitizer's exit
    // work, whose own syscalls the filter may refuse (it then crashed and exited 0).
    syscall(SYS_exit_group, fn());
    _exit(255);
  }
  return wait_child(pid);
}

// errno of a failed call, 0 when it succeeded (as an exit code).
inline int err_of(long rc) {
  return rc < 0 ? errno : 0;
}

}  // namespace crunner::testing
