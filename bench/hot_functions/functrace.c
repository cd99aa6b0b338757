/* functrace SYMS OUT BINARY ARGS...: runs BINARY under ptrace with an int3 at every function
 * entry listed in SYMS ("hexoffset name[,alias...]" lines, one per address, offsets from the
 * load base) and appends the names of the functions executed (by any process running
 * BINARY, children included, across its re-exec) to OUT. A process that execs another
 * program is detached. Used by hot_functions.py to find crunner's executed code. */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/personality.h>
#include <sys/ptrace.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <unistd.h>

typedef struct {
  unsigned long off;
  char* name;
  int hit;
} Sym;
static Sym* syms;
static int nsyms;
static unsigned char* orig; /* original first byte per sym */
static const char* binpath;

static int cmp(const void* a, const void* b) {
  unsigned long x = ((Sym*)a)->off, y = ((Sym*)b)->off;
  return x < y ? -1 : x > y;
}
static int find(unsigned long off) {
  int lo = 0, hi = nsyms - 1;
  while (lo <= hi) {
    int m = (lo + hi) / 2;
    if (syms[m].off == off) return m;
    if (syms[m].off < off)
      lo = m + 1;
    else
      hi = m - 1;
  }
  return -1;
}
/* load base of BINARY in pid: the lowest mapping whose path is the binary (or "/" for the
 * detached read-only bind) with offset 0 */
static unsigned long base_of(pid_t pid, int* ours) {
  char p[64], line[4096];
  snprintf(p, sizeof p, "/proc/%d/maps", pid);
  FILE* f = fopen(p, "r");
  if (!f) return 0;
  unsigned long b = 0;
  *ours = 0;
  char exe[4096] = "";
  snprintf(p, sizeof p, "/proc/%d/exe", pid);
  ssize_t n = readlink(p, exe, sizeof exe - 1);
  if (n > 0) exe[n] = 0;
  while (fgets(line, sizeof line, f)) {
    unsigned long s, e, off;
    char perm[8];
    char path[4096] = "";
    if (sscanf(line, "%lx-%lx %7s %lx %*s %*s %4095[^\n]", &s, &e, perm, &off, path) < 4) continue;
    char* q = path;
    while (*q == ' ') q++;
    if (off == 0 && (strcmp(q, exe) == 0)) {
      b = s;
      break;
    }
  }
  fclose(f);
  *ours = strstr(exe, "crunner") != NULL || strcmp(exe, "/") == 0 || strstr(exe, binpath) != NULL;
  return b;
}
static void arm(pid_t pid, unsigned long base) {
  for (int i = 0; i < nsyms; i++) {
    if (syms[i].hit) continue; /* executed already: leave it */
    unsigned long a = base + syms[i].off;
    errno = 0;
    long w = ptrace(PTRACE_PEEKTEXT, pid, (void*)a, 0);
    if (errno) continue;
    orig[i] = (unsigned char)(w & 0xff);
    w = (w & ~0xffL) | 0xcc;
    ptrace(PTRACE_POKETEXT, pid, (void*)a, (void*)w);
  }
}
#define MAXP 4096
static pid_t pids[MAXP];
static unsigned long bases[MAXP];
static int np;
static unsigned long gbase;
static unsigned long getbase(pid_t p) {
  for (int i = 0; i < np; i++)
    if (pids[i] == p) return bases[i];
  return gbase;
}
static void setbase(pid_t p, unsigned long b) {
  for (int i = 0; i < np; i++)
    if (pids[i] == p) {
      bases[i] = b;
      return;
    }
  if (np < MAXP) {
    pids[np] = p;
    bases[np++] = b;
  }
}

int main(int argc, char** argv) {
  if (argc < 4) return 2;
  FILE* f = fopen(argv[1], "r");
  char line[8192];
  int cap = 1 << 16;
  syms = calloc(cap, sizeof *syms);
  while (fgets(line, sizeof line, f)) {
    unsigned long off;
    char name[8000];
    if (sscanf(line, "%lx %7999s", &off, name) != 2) continue;
    if (nsyms == cap) {
      cap *= 2;
      syms = realloc(syms, cap * sizeof *syms);
    }
    syms[nsyms].off = off;
    syms[nsyms].name = strdup(name);
    syms[nsyms].hit = 0;
    nsyms++;
  }
  fclose(f);
  qsort(syms, nsyms, sizeof *syms, cmp);
  orig = calloc(nsyms, 1);
  binpath = argv[3];
  pid_t child = fork();
  if (child == 0) {
    ptrace(PTRACE_TRACEME, 0, 0, 0);
    personality(ADDR_NO_RANDOMIZE);
    raise(SIGSTOP);
    execv(argv[3], argv + 3);
    _exit(127);
  }
  int st;
  waitpid(child, &st, 0);
  ptrace(PTRACE_SETOPTIONS, child, 0,
         PTRACE_O_TRACEEXEC | PTRACE_O_TRACEFORK | PTRACE_O_TRACEVFORK | PTRACE_O_TRACECLONE |
             PTRACE_O_EXITKILL);
  ptrace(PTRACE_CONT, child, 0, 0);
  int live = 1;
  while (live > 0) {
    pid_t p = waitpid(-1, &st, __WALL);
    if (p < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (WIFEXITED(st) || WIFSIGNALED(st)) {
      live--;
      continue;
    }
    if (!WIFSTOPPED(st)) continue;
    int sig = WSTOPSIG(st), ev = st >> 16;
    if (ev == PTRACE_EVENT_EXEC) {
      int ours;
      unsigned long b = base_of(p, &ours);
      if (!ours || !b) {
        ptrace(PTRACE_DETACH, p, 0, 0);
        live--;
        continue;
      }
      setbase(p, b);
      gbase = b;
      arm(p, b);
      ptrace(PTRACE_CONT, p, 0, 0);
      continue;
    }
    if (ev == PTRACE_EVENT_FORK || ev == PTRACE_EVENT_VFORK || ev == PTRACE_EVENT_CLONE) {
      unsigned long np_;
      ptrace(PTRACE_GETEVENTMSG, p, 0, &np_);
      setbase((pid_t)np_, getbase(p));
      live++;
      ptrace(PTRACE_CONT, p, 0, 0);
      continue;
    }
    if (sig == SIGTRAP && ev == 0) {
      struct user_regs_struct r;
      ptrace(PTRACE_GETREGS, p, 0, &r);
      unsigned long b = getbase(p);
      int i = b ? find(r.rip - 1 - b) : -1;
      if (i >= 0) {
        unsigned long a = b + syms[i].off;
        long w = ptrace(PTRACE_PEEKTEXT, p, (void*)a, 0);
        w = (w & ~0xffL) | orig[i];
        ptrace(PTRACE_POKETEXT, p, (void*)a, (void*)w);
        r.rip -= 1;
        ptrace(PTRACE_SETREGS, p, 0, &r);
        syms[i].hit = 1;
        ptrace(PTRACE_CONT, p, 0, 0);
        continue;
      }
      ptrace(PTRACE_CONT, p, 0, 0);
      continue;
    }
    if (sig == SIGSTOP && ev == 0) { /* new child's initial stop */
      ptrace(PTRACE_CONT, p, 0, 0);
      continue;
    }
    if (ev == PTRACE_EVENT_STOP) {
      ptrace(PTRACE_CONT, p, 0, 0);
      continue;
    }
    ptrace(PTRACE_CONT, p, 0, (void*)(long)sig);
  }
  FILE* o = fopen(argv[2], "a");
  for (int i = 0; i < nsyms; i++)
    if (syms[i].hit) fprintf(o, "%s\n", syms[i].name);
  fclose(o);
  return 0;
}
