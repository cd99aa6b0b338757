#include "libcontainer/foreground.hpp"

#include <poll.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>

#include "libcontainer/terminal.hpp"

namespace crunner {

// Every signal but the synchronous ones, which must keep killing crunner.
static sigset_t forwarded_set() {
  sigset_t s;
  sigfillset(&s);
  for (int sig : {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT, SIGTRAP, SIGSYS}) sigdelset(&s, sig);
  return s;
}

void block_forwarded_signals(sigset_t* old) {
  sigset_t s = forwarded_set();
  sigprocmask(SIG_BLOCK, &s, old);
}

static int exit_code(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return 255;
}

// Copies what is readable on `from` to `to`; false on EOF/error of `from`.
static bool pump(int from, int to) {
  char buf[16384];
  ssize_t n = read(from, buf, sizeof(buf));
  if (n <= 0) return n < 0 && (errno == EINTR || errno == EAGAIN);
  for (ssize_t off = 0; off < n;) {
    ssize_t w = write(to, buf + off, n - off);
    if (w < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      return true;  // the reader went away; keep draining
    }
    off += w;
  }
  return true;
}

int wait_foreground(pid_t pid, int tty_master) {
  sigset_t s = forwarded_set();
  int sfd = signalfd(-1, &s, SFD_CLOEXEC);
  bool stdin_open = tty_master >= 0;
  bool master_open = tty_master >= 0;
  RawMode raw(tty_master >= 0 ? 0 : -1);
  if (tty_master >= 0 && isatty(0)) copy_winsize(0, tty_master);
  int status = 0;
  bool exited = false;
  while (!exited || master_open) {
    struct pollfd p[3] = {{sfd, POLLIN, 0},
                          {stdin_open ? 0 : -1, POLLIN, 0},
                          {master_open ? tty_master : -1, POLLIN, 0}};
    // Once the process is gone, drain the pty without blocking forever.
    int r = poll(p, 3, exited ? 100 : -1);
    if (r < 0 && errno != EINTR) break;
    if (r == 0 && exited) break;
    if (p[0].revents & POLLIN) {
      struct signalfd_siginfo si;
      while (read(sfd, &si, sizeof(si)) == sizeof(si)) {
        int sig = static_cast<int>(si.ssi_signo);
        if (sig == SIGCHLD) {
          int st;
          pid_t w;
          while ((w = waitpid(-1, &st, WNOHANG)) > 0)
            if (w == pid) {
              status = st;
              exited = true;
            }
        } else if (sig == SIGWINCH) {
          if (tty_master >= 0) copy_winsize(0, tty_master);
        } else if (!exited) {
          kill(pid, sig);
        }
        break;
      }
    }
    if (stdin_open && (p[1].revents & (POLLIN | POLLHUP | POLLERR)))
      stdin_open = pump(0, tty_master);
    if (master_open && (p[2].revents & (POLLIN | POLLHUP | POLLERR)))
      master_open = pump(tty_master, 1);
    if (!exited) {
      // SIGCHLD may have been consumed before the signalfd existed.
      int st;
      if (waitpid(pid, &st, WNOHANG) == pid) {
        status = st;
        exited = true;
      }
    }
  }
  if (sfd >= 0) close(sfd);
  return exit_code(status);
}

}  // namespace crunner
