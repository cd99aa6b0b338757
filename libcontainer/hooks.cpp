#include "libcontainer/hooks.hpp"

#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cctype>
#include <cstdio>
#include <cstring>

#include "base/eintr.hpp"
#include "base/file.hpp"
#include "base/text.hpp"
#include "libcontainer/process_setup.hpp"

namespace crunner {

namespace {

// As runc reports a hook's end (Go's os.ProcessState: "exit status 1", "signal: bad system
// call" for one the container's seccomp filter killed, "signal: killed (core dumped)"):
// callers match these words. Go's signal names are glibc's descriptions, lowercased.
std::string describe_exit(int status) {
  if (WIFEXITED(status)) return "exit status " + std::to_string(WEXITSTATUS(status));
  if (!WIFSIGNALED(status)) return "ended abnormally";
  const char* d = strsignal(WTERMSIG(status));
  std::string name = d ? d : "signal " + std::to_string(WTERMSIG(status));
  if (!name.empty()) name[0] = static_cast<char>(tolower(static_cast<unsigned char>(name[0])));
  return "signal: " + name + (WCOREDUMP(status) ? " (core dumped)" : "");
}

}  // namespace

Status run_hook(const spec::Hook& h, const std::string& state, const std::string& what) {
  // runc's words ("error running hook"), which callers match, then which hook.
  return run_program(h, state, "error running hook " + what + " `" + h.path + "`");
}

Status run_program(const spec::Hook& h, const std::string& state, const std::string& ctx) {
  int in[2], out[2];
  if (pipe2(in, O_CLOEXEC) < 0) return sys_error(ctx + ": pipe");
  UniqueFd in_r(in[0]), in_w(in[1]);
  if (pipe2(out, O_CLOEXEC) < 0) return sys_error(ctx + ": pipe");
  UniqueFd out_r(out[0]), out_w(out[1]);
  std::vector<std::string> args = h.args.empty() ? std::vector<std::string>{h.path} : h.args;
  auto argv = cstr_array(args);
  auto envp = cstr_array(h.env);
  int errpipe[2];
  if (pipe2(errpipe, O_CLOEXEC) < 0) return sys_error(ctx + ": pipe");
  UniqueFd err_r(errpipe[0]), err_w(errpipe[1]);
  pid_t pid = fork();
  if (pid < 0) return sys_error(ctx + ": fork");
  if (pid == 0) {
    dup2(in_r.get(), 0);
    dup2(out_w.get(), 1);
    dup2(out_w.get(), 2);
    sigset_t all;
    sigemptyset(&all);
    sigprocmask(SIG_SETMASK, &all, nullptr);
    signal(SIGPIPE, SIG_DFL);
    execve(h.path.c_str(), argv.data(), envp.data());
    int e = errno;
    (void)!write(err_w.get(), &e, sizeof(e));
    _exit(127);
  }
  in_r.reset();
  out_w.reset();
  err_w.reset();
  int exec_errno = 0;
  bool exec_failed = CR_RETRY(read(err_r.get(), &exec_errno, sizeof(exec_errno))) ==
                     static_cast<ssize_t>(sizeof(exec_errno));
  if (exec_failed) {
    waitpid(pid, nullptr, 0);
    return sys_error(ctx, exec_errno);
  }
  (void)write_all(in_w.get(), state.data(), state.size());  // the hook may not read it
  in_w.reset();

  int pfd = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
  UniqueFd pidfd(pfd);
  std::string output;
  bool timed_out = false;
  long long deadline_ms = h.timeout ? *h.timeout * 1000LL : -1;
  struct timespec start;
  clock_gettime(CLOCK_MONOTONIC, &start);
  bool out_open = true;
  for (;;) {
    struct pollfd p[2] = {{out_open ? out_r.get() : -1, POLLIN, 0}, {pidfd.get(), POLLIN, 0}};
    int wait_ms = -1;
    if (deadline_ms >= 0) {
      struct timespec now;
      clock_gettime(CLOCK_MONOTONIC, &now);
      long long el = (now.tv_sec - start.tv_sec) * 1000LL + (now.tv_nsec - start.tv_nsec) / 1000000;
      wait_ms = static_cast<int>(std::max(0LL, deadline_ms - el));
    }
    int r = poll(p, 2, wait_ms);
    if (r < 0 && errno == EINTR) continue;
    if (r == 0) {
      timed_out = true;
      kill(pid, SIGKILL);
      break;
    }
    if (out_open && (p[0].revents & (POLLIN | POLLHUP))) {
      char buf[4096];
      ssize_t n = read(out_r.get(), buf, sizeof(buf));
      if (n > 0) {
        if (output.size() < 65536) output.append(buf, n);
      } else {
        out_open = false;
      }
    }
    if (p[1].revents & POLLIN) break;
    if (pfd < 0 && !out_open) break;
  }
  int status = 0;
  CR_RETRY(waitpid(pid, &status, 0));
  std::string o = trim(output);
  if (timed_out)
    return make_error(ErrorKind::Internal,
                      ctx + ": timed out after " + std::to_string(*h.timeout) + "s");
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    return make_error(ErrorKind::Internal,
                      ctx + ": " + describe_exit(status) + (o.empty() ? "" : ": " + o));
  return {};
}

Status run_hooks(const std::vector<spec::Hook>& hooks, const std::string& kind,
                 const std::string& state) {
  for (size_t i = 0; i < hooks.size(); i++)
    CR_TRY(run_hook(hooks[i], state, kind + "[" + std::to_string(i) + "]"));
  return {};
}

void run_hooks_warn(const std::vector<spec::Hook>& hooks, const std::string& kind,
                    const std::string& state) {
  for (size_t i = 0; i < hooks.size(); i++) {
    auto r = run_hook(hooks[i], state, kind + "[" + std::to_string(i) + "]");
    if (!r) fprintf(stderr, "warning: %s\n", r.error().what().c_str());
  }
}

}  // namespace crunner
