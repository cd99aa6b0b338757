/* garden-init: pid 1 of every garden container. Reaps orphans and waits for signals;
 * SIGTERM and SIGINT are ignored (a stop TERMs the container's processes, then KILLs what
 * is left, this one included). Built static so any rootfs can run it. */
#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include <sys/wait.h>

int main(void) {
  sigset_t all;
  sigfillset(&all);
  sigprocmask(SIG_BLOCK, &all, NULL);
  for (;;) {
    siginfo_t si;
    int sig = sigwaitinfo(&all, &si);
    if (sig < 0 && errno != EINTR) continue;
    if (sig == SIGCHLD) {
      while (waitpid(-1, NULL, WNOHANG) > 0) {
      }
    }
  }
}
