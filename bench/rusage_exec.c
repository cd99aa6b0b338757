/* rusage_exec FD PROG ARGS...: runs PROG, waits for it with wait4() and writes its peak RSS
 * (ru_maxrss, KiB) as decimal to FD; exits with PROG's status (128+N for signal N).
 * bench/run.py launches runtimes through it: a process forked from Python inherits the
 * interpreter's resident pages, and exec folds those into ru_maxrss, so measuring the
 * runtime directly from Python would report Python's size instead of the runtime's. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char** argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: rusage_exec FD PROG ARGS...\n");
    return 255;
  }
  int fd = atoi(argv[1]);
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
  dprintf(fd, "%ld\n", ru.ru_maxrss);
  close(fd);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return WEXITSTATUS(status);
}
