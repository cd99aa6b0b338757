/* rusage_exec FD PROG ARGS...: runs PROG, waits for it with wait4() and writes its peak RSS
 * (ru_maxrss, KiB), its wall time from fork to reaping (ns) and its CPU time (user + system,
 * ns, including the descendants it reaped) as "RSS WALL CPU" to FD; exits with PROG's status
 * (128+N for signal N).
 * bench/run.py launches runtimes through it: a process forked from Python inherits the
 * interpreter's resident pages, and exec folds those into ru_maxrss, so measuring the
 * runtime directly from Python would report Python's size instead of the runtime's. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char** argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: rusage_exec FD PROG ARGS...\n");
    return 255;
  }
  int fd = atoi(argv[1]);
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  pid_t pid = fork();
  if (pid < 0) {
    perror("rusage_exec: fork");
    return 255;
  }
  if (pid == 0) {
    close(fd);
    execvp(argv[2], argv + 2);
    perror("rusage_exec: exec");
    _exit(127);
  }
  int status = 0;
  struct rusage ru;
  if (wait4(pid, &status, 0, &ru) < 0) {
    perror("rusage_exec: wait4");
    return 255;
  }
  clock_gettime(CLOCK_MONOTONIC, &t1);
  long long wall = (t1.tv_sec - t0.tv_sec) * 1000000000LL + (t1.tv_nsec - t0.tv_nsec);
  long long cpu = (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000000LL +
                  (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1000LL;
  dprintf(fd, "%ld %lld %lld\n", ru.ru_maxrss, wall, cpu);
  close(fd);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return WEXITSTATUS(status);
}
