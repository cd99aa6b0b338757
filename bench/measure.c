/* measure [--count] OUTFD CMD [ARGS...] [:: CMD [ARGS...]]...
 *
 * Runs the commands one after the other (stopping at the first that fails) and writes one
 * JSON object to OUTFD:
 *   status      exit status of the last command run (128+N for signal N)
 *   steps       how many commands ran
 *   wall_ns     per command, fork to its reaping
 *   rusage of every process the commands created (getrusage(RUSAGE_CHILDREN) once all are
 *               gone): utime_ns, stime_ns, maxrss_kib (the largest single process), minflt,
 *               majflt, nvcsw, nivcsw
 *   counts      with --count only: perf counters that follow every process the commands
 *               create (inherit), summed over the commands: syscalls, tasks (processes and
 *               threads created), threads, execs, minflt, majflt, cs, migrations, task_clock_ns
 *
 * Every process the commands leave behind (a `create`'s container init, a runtime's helper)
 * is re-parented to this program (PR_SET_CHILD_SUBREAPER, as containerd's shim is) and reaped
 * at the end, so its resource use is counted too. bench/run.py launches runtimes through it:
 * a process forked from Python would also carry the interpreter's pages into ru_maxrss.
 * The counters are opened on the forked child before it execs (enable_on_exec), so this
 * program's own work is never counted. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/perf_event.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_STEPS 8

enum { C_SYSCALLS, C_TASKS, C_THREADS, C_EXECS, C_MINFLT, C_MAJFLT, C_CS, C_MIGR, C_CLOCK, N_C };
static const char* const kNames[N_C] = {"syscalls", "tasks", "threads",    "execs",        "minflt",
                                        "majflt",   "cs",    "migrations", "task_clock_ns"};

static long long now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1000000000LL + t.tv_nsec;
}

static long long tracepoint_id(const char* name) {
  char path[256];
  snprintf(path, sizeof path, "/sys/kernel/tracing/events/%s/id", name);
  FILE* f = fopen(path, "re");
  if (!f) {
    snprintf(path, sizeof path, "/sys/kernel/debug/tracing/events/%s/id", name);
    f = fopen(path, "re");
  }
  long long id = -1;
  if (f) {
    if (fscanf(f, "%lld", &id) != 1) id = -1;
    fclose(f);
  }
  return id;
}

static int open_counter(pid_t pid, int kind, long long config, const char* filter) {
  struct perf_event_attr a;
  memset(&a, 0, sizeof a);
  a.size = sizeof a;
  a.type = kind;
  a.config = (uint64_t)config;
  a.disabled = 1;
  a.enable_on_exec = 1;
  a.inherit = 1;
  a.exclude_hv = 1;
  if (config < 0) { /* a tracepoint not found: no tracefs (run.py mounts it) */
    fprintf(stderr, "measure: tracepoint not found (is tracefs at /sys/kernel/tracing?)\n");
    exit(255);
  }
  int fd = (int)syscall(SYS_perf_event_open, &a, pid, -1, -1, PERF_FLAG_FD_CLOEXEC);
  if (fd < 0) {
    fprintf(stderr, "measure: perf_event_open(%d, %lld): %s\n", kind, config, strerror(errno));
    exit(255);
  }
  if (filter && ioctl(fd, PERF_EVENT_IOC_SET_FILTER, filter) < 0) {
    fprintf(stderr, "measure: tracepoint filter %s: %s\n", filter, strerror(errno));
    exit(255);
  }
  return fd;
}

static void open_counters(pid_t pid, int fds[N_C]) {
  fds[C_SYSCALLS] =
      open_counter(pid, PERF_TYPE_TRACEPOINT, tracepoint_id("raw_syscalls/sys_enter"), NULL);
  fds[C_TASKS] = open_counter(pid, PERF_TYPE_TRACEPOINT, tracepoint_id("task/task_newtask"), NULL);
  fds[C_THREADS] = open_counter(pid, PERF_TYPE_TRACEPOINT, tracepoint_id("task/task_newtask"),
                                "clone_flags & 0x10000" /* CLONE_THREAD */);
  fds[C_EXECS] =
      open_counter(pid, PERF_TYPE_TRACEPOINT, tracepoint_id("sched/sched_process_exec"), NULL);
  fds[C_MINFLT] = open_counter(pid, PERF_TYPE_SOFTWARE, PERF_COUNT_SW_PAGE_FAULTS_MIN, NULL);
  fds[C_MAJFLT] = open_counter(pid, PERF_TYPE_SOFTWARE, PERF_COUNT_SW_PAGE_FAULTS_MAJ, NULL);
  fds[C_CS] = open_counter(pid, PERF_TYPE_SOFTWARE, PERF_COUNT_SW_CONTEXT_SWITCHES, NULL);
  fds[C_MIGR] = open_counter(pid, PERF_TYPE_SOFTWARE, PERF_COUNT_SW_CPU_MIGRATIONS, NULL);
  fds[C_CLOCK] = open_counter(pid, PERF_TYPE_SOFTWARE, PERF_COUNT_SW_TASK_CLOCK, NULL);
}

int main(int argc, char** argv) {
  int count = 0, a = 1;
  if (a < argc && strcmp(argv[a], "--count") == 0) count = 1, a++;
  if (argc - a < 2) {
    fprintf(stderr, "usage: measure [--count] OUTFD CMD [ARGS...] [:: CMD [ARGS...]]...\n");
    return 255;
  }
  int out = atoi(argv[a++]);
  (void)fcntl(out, F_SETFD, FD_CLOEXEC);
  if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0) {
    perror("measure: PR_SET_CHILD_SUBREAPER");
    return 255;
  }
  char** cmds[MAX_STEPS];
  int n = 0;
  cmds[n++] = argv + a;
  for (int i = a; i < argc; i++)
    if (strcmp(argv[i], "::") == 0) {
      argv[i] = NULL;
      if (n == MAX_STEPS || i + 1 >= argc) {
        fprintf(stderr, "measure: at most %d non-empty commands\n", MAX_STEPS);
        return 255;
      }
      cmds[n++] = argv + i + 1;
    }
  long long wall[MAX_STEPS], sum[N_C] = {0};
  int fds[MAX_STEPS][N_C];
  int status = 0, ran = 0;
  for (int s = 0; s < n; s++) {
    int go[2];
    if (pipe2(go, O_CLOEXEC) < 0) return 255;
    long long t0 = now_ns();
    pid_t pid = fork();
    if (pid < 0) return 255;
    if (pid == 0) {
      char c;
      close(go[1]);
      if (read(go[0], &c, 1) != 1) _exit(127); /* the parent failed to set up */
      execvp(cmds[s][0], cmds[s]);
      fprintf(stderr, "measure: exec %s: %s\n", cmds[s][0], strerror(errno));
      _exit(127);
    }
    close(go[0]);
    if (count) open_counters(pid, fds[s]);
    (void)!write(go[1], "g", 1);
    close(go[1]);
    if (waitpid(pid, &status, 0) < 0) return 255;
    wall[s] = now_ns() - t0;
    ran++;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) break;
  }
  /* Reap what the commands left behind (re-parented here): their use counts too, and an
   * inherited counter folds a process's counts into its parent event only at its exit. */
  while (wait(NULL) > 0 || errno == EINTR) {
  }
  if (count)
    for (int s = 0; s < ran; s++)
      for (int i = 0; i < N_C; i++) {
        long long v = 0;
        if (read(fds[s][i], &v, sizeof v) != sizeof v) v = 0;
        sum[i] += v;
        close(fds[s][i]);
      }
  struct rusage ru;
  getrusage(RUSAGE_CHILDREN, &ru);
  int rc = WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
  dprintf(out, "{\"status\": %d, \"steps\": %d, \"wall_ns\": [", rc, ran);
  for (int s = 0; s < ran; s++) dprintf(out, "%s%lld", s ? ", " : "", wall[s]);
  dprintf(out,
          "], \"utime_ns\": %lld, \"stime_ns\": %lld, \"maxrss_kib\": %ld, \"minflt\": %ld, "
          "\"majflt\": %ld, \"nvcsw\": %ld, \"nivcsw\": %ld",
          ru.ru_utime.tv_sec * 1000000000LL + ru.ru_utime.tv_usec * 1000LL,
          ru.ru_stime.tv_sec * 1000000000LL + ru.ru_stime.tv_usec * 1000LL, ru.ru_maxrss,
          ru.ru_minflt, ru.ru_majflt, ru.ru_nvcsw, ru.ru_nivcsw);
  if (count) {
    dprintf(out, ", \"counts\": {");
    for (int i = 0; i < N_C; i++) dprintf(out, "%s\"%s\": %lld", i ? ", " : "", kNames[i], sum[i]);
    dprintf(out, "}");
  }
  dprintf(out, "}\n");
  close(out);
  return rc;
}
