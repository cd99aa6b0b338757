"""Machine-independent counts of one bench/run.py unit (a runtime's commands), in passes of
their own (never in a timed run):

- perf counters (bench/measure.c --count): syscalls, processes and threads created, execs,
  page faults (minor/major), context switches, task clock, following every process the
  commands create (inherited counters; what they leave behind is reaped by measure.c, a
  subreaper, so a `create`'s container init is counted too);
- one strace -f pass (it slows every syscall, so it is never timed): syscalls by name, bytes
  read from /proc and /sys, files opened there, writes to cgroup files, and messages between
  the runtime's processes (writes and sends on sockets and pipes: the sync round trips).
"""

import collections
import re
import shutil

# `PID  name(args...) = ret` / `PID  name(args <unfinished ...>` / `PID  <... name resumed>...`
LINE = re.compile(r"^(\d+)\s+(?:<\.\.\. (\w+) resumed>(.*)|(\w+)\((.*))$")
RESULT = re.compile(r"\)\s+=\s+(-?\d+|0x[0-9a-f]+|\?)(?:<([^>]*)>)?")
FIRST_FD = re.compile(r"^-?\d+<([^>]*)>")
READS = {"read", "pread64", "readv", "preadv", "preadv2"}
WRITES = {"write", "pwrite64", "writev", "pwritev", "pwritev2"}
SENDS = {"sendmsg", "sendto", "sendmmsg"}
OPENS = {"open", "openat", "openat2", "creat"}
EXECS = {"execve", "execveat"}


def have_strace():
    return shutil.which("strace") is not None


class StraceCounts:
    """Accumulates one strace -f log, leaving out measure.c's own work (the first pid, and its
    children until their exec)."""

    def __init__(self):
        self.by_name = collections.Counter()
        self.proc_sys_bytes = 0
        self.proc_sys_opens = 0
        self.cgroup_writes = 0
        self.ipc_messages = 0

    def parse(self, text):
        pending = {}  # pid -> (name, args) of an unfinished call
        driver = None  # measure.c
        children = set()  # measure.c's children that have not exec'd yet
        for line in text.splitlines():
            m = LINE.match(line)
            if not m:
                continue
            pid = int(m.group(1))
            if m.group(2):  # resumed
                name = m.group(2)
                start = pending.pop(pid, (name, ""))[1]
                args = start + m.group(3)
            else:
                name, args = m.group(4), m.group(5)
                if args.endswith("<unfinished ...>"):
                    pending[pid] = (name, args[: -len("<unfinished ...>")])
                    continue
            if driver is None:
                driver = pid
            r = RESULT.search(args)
            ret = r.group(1) if r else "?"
            ok = ret not in ("?",) and not ret.startswith("-")
            if pid == driver:
                if name in ("clone", "clone3", "fork", "vfork") and ok:
                    children.add(int(ret, 0))
                continue
            if pid in children:
                if name in EXECS and ok:
                    children.discard(pid)
                continue
            self.add(name, args, ret, ok, r.group(2) if r else None)

    def add(self, name, args, ret, ok, result_path):
        self.by_name[name] += 1
        fd = FIRST_FD.match(args)
        path = fd.group(1) if fd else ""
        if name in READS and ok and path.startswith(("/proc/", "/sys/")):
            self.proc_sys_bytes += int(ret, 0)
        elif name in OPENS and ok and (result_path or "").startswith(("/proc/", "/sys/")):
            self.proc_sys_opens += 1
        elif name in WRITES and path.startswith("/sys/fs/cgroup/"):
            self.cgroup_writes += 1
        if (name in WRITES or name in SENDS) and path.startswith(("socket:", "pipe:")):
            self.ipc_messages += 1

    def as_dict(self):
        return {"syscalls_traced": sum(self.by_name.values()), "by_name": dict(self.by_name),
                "proc_sys_bytes": self.proc_sys_bytes, "proc_sys_opens": self.proc_sys_opens,
                "cgroup_writes": self.cgroup_writes, "ipc_messages": self.ipc_messages}


def strace_argv(log_path):
    """The strace command line that prefixes measure.c's for a counting pass."""
    return ["strace", "-f", "-qq", "-y", "-s", "0", "-e", "signal=none", "-o", log_path]


def parse_strace_log(path):
    c = StraceCounts()
    with open(path, errors="replace") as f:
        c.parse(f.read())
    return c.as_dict()
