#!/usr/bin/env python3
"""linux.seccomp in real containers, observed from inside: each action (errno value, kill,
trap, log), argument conditions, flags, the notify agent protocol (an agent here answers a
syscall), the default profile of `crunner spec`, exec under the same filter, and invalid
profiles. Every check passes against runc 1.1.5 too; crunner-only: its wording, its default
profile, and filter flags (runc 1.1.5 refuses linux.seccomp.flags)."""

import json
import os
import shutil
import socket
import struct
import subprocess
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

MKDIR = ["mkdir", "mkdirat"]
SIGSYS_STATUS = 128 + 31


def profile(action, names=MKDIR, default="SCMP_ACT_ALLOW", **rule):
    r = {"names": names, "action": action}
    r.update(rule)
    return {"defaultAction": default, "syscalls": [r]}


def with_seccomp(p):
    def edit(c):
        c["linux"]["seccomp"] = p
    return edit


def run_script(t, name, script, p, extra_edit=None):
    def edit(c):
        c["linux"]["seccomp"] = p
        c["mounts"].append({"destination": "/scratch", "type": "tmpfs", "source": "tmpfs",
                            "options": ["nosuid", "nodev", "mode=1777"]})
        if extra_edit:
            extra_edit(c)
    return t.run_in(t.cid(name), script, edit=edit)


@h.case
def errno_action(t):
    rc, out, err = run_script(t, "errno", "mkdir /scratch/a; echo rc=$?; ls /scratch",
                              profile("SCMP_ACT_ERRNO"))
    t.eq("container ran", rc, 0)
    t.contains("mkdir fails with EPERM", out + err, "Operation not permitted")
    t.contains("mkdir returned an error", out, "rc=1")
    t.check("nothing was created", "a" not in out.split("rc=1")[-1].split(), out)

    rc, out, err = run_script(t, "errnoret", "mkdir /scratch/a; echo rc=$?",
                              profile("SCMP_ACT_ERRNO", errnoRet=30))
    t.contains("errnoRet picks the errno (EROFS)", out + err, "Read-only file system")

    # defaultErrnoRet with an allowlist: everything busybox needs, but not mkdir.
    p = json.loads(json.dumps(h_default_profile(t)))
    if p:
        for r in p["syscalls"]:
            r["names"] = [n for n in r["names"] if n not in MKDIR]
        p["defaultErrnoRet"] = 30
        rc, out, err = run_script(t, "deferrno", "mkdir /scratch/a; echo rc=$?", p)
        t.contains("defaultErrnoRet for unlisted syscalls", out + err, "Read-only file system")


def h_default_profile(t):
    """The default profile of `crunner spec --seccomp` (None with another runtime)."""
    if not t.crunner_only():
        return None
    d = t.path("spec")
    os.makedirs(d, exist_ok=True)
    rc, out, err = t.rt(["spec", "--seccomp", "--bundle", d])
    if rc != 0:
        return None
    return t.config(d)["linux"].get("seccomp")


@h.case
def kill_actions(t):
    for action in ("SCMP_ACT_KILL", "SCMP_ACT_KILL_THREAD", "SCMP_ACT_KILL_PROCESS",
                   "SCMP_ACT_TRAP"):
        rc, out, err = run_script(t, action[9:].lower().replace("_", "-"),
                                  "mkdir /scratch/a; echo rc=$?; [ -d /scratch/a ] || echo none",
                                  profile(action))
        t.contains(f"{action}: mkdir died of SIGSYS", out, f"rc={SIGSYS_STATUS}")
        t.contains(f"{action}: nothing created", out, "none")


@h.case
def log_and_trace(t):
    rc, out, err = run_script(t, "log", "mkdir /scratch/a && echo made",
                              profile("SCMP_ACT_LOG"))
    t.contains("LOG lets mkdir through", out, "made")
    rc, out, err = run_script(t, "trace", "mkdir /scratch/a; echo rc=$?",
                              profile("SCMP_ACT_TRACE"))
    t.contains("TRACE without a tracer: ENOSYS", out + err, "Function not implemented")


@h.case
def argument_conditions(t):
    # personality(PER_LINUX32 = 8) denied; linux32 uses it, plain uname does not.
    p = profile("SCMP_ACT_ERRNO", names=["personality"],
                args=[{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}])
    rc, out, err = run_script(t, "args", "uname -m; linux32 uname -m; echo rc=$?", p)
    t.check("uname still works", out.startswith(os.uname().machine), out)
    t.contains("linux32 refused", out + err, "Operation not permitted")
    # two conditions on one argument: either value matches (runc splits the rule)
    p = profile("SCMP_ACT_ERRNO", names=["personality"],
                args=[{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"},
                      {"index": 0, "value": 131080, "op": "SCMP_CMP_EQ"}])
    rc, out, err = run_script(t, "args2", "linux32 uname -m; echo rc=$?", p)
    t.contains("same-index conditions: linux32 refused", out + err, "Operation not permitted")
    # socket(AF_INET, type & 0xf == SOCK_STREAM) refused (both conditions must hold):
    # nc's TCP socket gets errnoRet 97; ping's raw/datagram ICMP socket does not.
    p = profile("SCMP_ACT_ERRNO", names=["socket"], errnoRet=97,
                args=[{"index": 0, "value": 2, "op": "SCMP_CMP_EQ"},
                      {"index": 1, "value": 15, "valueTwo": 1, "op": "SCMP_CMP_MASKED_EQ"}])
    rc, out, err = run_script(t, "masked", "nc -w1 127.0.0.1 9 </dev/null 2>&1; echo tcp=$?;"
                              "echo ---; ping -c1 -W1 127.0.0.1 2>&1; echo ping=$?", p)
    tcp, _, ping = out.partition("---")
    t.contains("TCP socket refused (EAFNOSUPPORT)", tcp, "Address family not supported")
    t.check("ICMP socket not refused", "Address family not supported" not in ping, ping)


@h.case
def flags_and_architectures(t):
    p = profile("SCMP_ACT_ERRNO")
    p["architectures"] = ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]
    rc, out, err = run_script(t, "archs", "mkdir /scratch/a; echo rc=$?", p)
    t.eq("runs with three architectures", rc, 0)
    t.contains("filter active", out + err, "Operation not permitted")
    if t.crunner_only():  # runc 1.1.5: "seccomp flags are not yet supported by runc"
        p["flags"] = ["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
                      "SECCOMP_FILTER_FLAG_TSYNC"]
        rc, out, err = run_script(t, "flags", "mkdir /scratch/a; echo rc=$?", p)
        t.eq("runs with LOG|SPEC_ALLOW|TSYNC", rc, 0)
        t.contains("filter active with flags", out + err, "Operation not permitted")
    rc, out, err = run_script(t, "status", "grep -E '^Seccomp(_filters)?:' /proc/self/status", p)
    t.contains("/proc/self/status shows filter mode", out, "Seccomp:\t2")
    t.contains("exactly one filter", out, "Seccomp_filters:\t1")


@h.case
def unknown_syscall_names_are_skipped(t):
    p = profile("SCMP_ACT_ERRNO", names=["no_such_syscall", "mkdir", "mkdirat"])
    rc, out, err = run_script(t, "unknown", "mkdir /scratch/a; echo rc=$?", p)
    t.eq("container runs", rc, 0)
    t.contains("known names still filtered", out + err, "Operation not permitted")
    if t.crunner_only():  # crunner's wording
        t.contains("warning names the syscall", err, 'unknown syscall "no_such_syscall"')


@h.case
def invalid_profiles_fail_create(t):
    p = profile("SCMP_ACT_FOO")
    b = t.bundle("true", edit=with_seccomp(p))
    res = t.rt(["run", "--bundle", b, t.cid("badaction")])
    t.fails("unknown action refused", res)
    if t.crunner_only():
        t.contains("error names the field", res[2],
                   'linux.seccomp.syscalls[0].action: unknown action "SCMP_ACT_FOO"')
    p = profile("SCMP_ACT_NOTIFY")
    b = t.bundle("true", edit=with_seccomp(p))
    res = t.rt(["run", "--bundle", b, t.cid("nolistener")])
    if t.crunner_only():
        t.fails("NOTIFY without listenerPath refused", res, "listenerPath")


# ---- the notify agent ----------------------------------------------------------------------
NOTIF_RECV = 0xC0502100  # _IOWR('!', 0, struct seccomp_notif), 80 bytes
NOTIF_SEND = 0xC0182101  # _IOWR('!', 1, struct seccomp_notif_resp), 24 bytes


class Agent(threading.Thread):
    """Accepts one runtime connection, keeps the state it sent, and answers `count` notified
    syscalls with -errno (0: fake success)."""

    def __init__(self, path, answers):
        super().__init__(daemon=True)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(path)
        self.sock.listen(1)
        self.sock.settimeout(60)
        self.answers = answers
        self.state = None
        self.nrs = []
        self.error = None

    def run(self):
        import fcntl
        try:
            conn, _ = self.sock.accept()
            msg, fds, _, _ = socket.recv_fds(conn, 65536, 1)
            conn.close()
            self.state = json.loads(msg.decode())
            fd = fds[0]
            for err in self.answers:
                req = bytearray(80)
                fcntl.ioctl(fd, NOTIF_RECV, req, True)
                nid, = struct.unpack_from("Q", req, 0)
                nr, = struct.unpack_from("i", req, 16)
                self.nrs.append(nr)
                resp = bytearray(struct.pack("QqiI", nid, 0, err, 0))
                fcntl.ioctl(fd, NOTIF_SEND, resp, True)
            os.close(fd)
        except Exception as e:  # noqa: BLE001 - reported by the case
            self.error = e
        finally:
            self.sock.close()


@h.case
def notify_agent(t):
    path = t.path("agent.sock")
    agent = Agent(path, [0, -30])  # first mkdir faked as success, second refused EROFS
    agent.start()
    p = profile("SCMP_ACT_NOTIFY")
    p["listenerPath"] = path
    p["listenerMetadata"] = "bar"
    cid = t.cid("notify")
    rc, out, err = run_script(t, "notify", "mkdir /scratch/a; echo rc1=$?; mkdir /scratch/b;"
                              "echo rc2=$?; ls /scratch | wc -l", p)
    agent.join(60)
    t.check("agent ok", agent.error is None, agent.error)
    t.contains("faked success seen inside", out, "rc1=0")
    t.contains("agent's errno seen inside", out + err, "Read-only file system")
    t.check("nothing really created", out.strip().endswith("0"), out)
    s = agent.state or {}
    t.eq("fds names the seccomp fd", s.get("fds"), ["seccompFd"])
    t.eq("listenerMetadata passed", s.get("metadata"), "bar")
    t.check("pid of the container process", isinstance(s.get("pid"), int) and s["pid"] > 0, s)
    st = s.get("state", {})
    t.check("state has the container id", st.get("id", "").startswith(cid.rsplit("-", 1)[0]),
            st)
    t.check("state has the bundle", os.path.isdir(st.get("bundle", "/nonexistent")), st)
    t.check("two syscalls were notified", len(agent.nrs) == 2, agent.nrs)


@h.case
def default_profile_of_spec(t):
    if not t.crunner_only():
        return  # runc's spec has no seccomp profile
    p = h_default_profile(t)
    t.require("crunner spec --seccomp writes linux.seccomp", p is not None)
    rc, out, err = run_script(
        t, "default", "ls / >/dev/null && ps >/dev/null && echo ok1; unshare -m true;"
        "echo unshare=$?; mount -t tmpfs none /mnt; echo mount=$?;"
        "grep '^Seccomp:' /proc/self/status", p)
    t.contains("busybox works", out, "ok1")
    t.contains("unshare refused", out, "unshare=1")
    t.contains("mount refused", out, "mount=")
    t.check("mount failed", "mount=0" not in out, out)
    t.contains("filter on", out, "Seccomp:\t2")


@h.case
def exec_gets_the_filter(t):
    b = t.bundle("sleep", "600", edit=with_seccomp(profile("SCMP_ACT_ERRNO")))
    cid = t.cid("exec")
    res = t.rt(["run", "-d", "--bundle", b, cid])
    t.require("run -d", res[0] == 0, res)
    rc, out, err = t.rt(["exec", cid, "sh", "-c", "mkdir /tmp/x; echo rc=$?"])
    t.contains("exec'd process is filtered too", out + err, "Operation not permitted")
    rc, out, err = t.rt(["exec", cid, "grep", "^Seccomp:", "/proc/self/status"])
    t.contains("exec: filter mode", out, "Seccomp:\t2")



# ---- argument operators, one syscall in several rules, ALLOW with defaultErrnoRet --------------
# setpriority(PRIO_PROCESS, pid, PRIO) from `renice PRIO $$` in a fresh shell: arg 2 is the
# value we choose. Nice values 11..15 only ever raise the nice value (no CAP_SYS_NICE needed).
RENICE = ("for v in 11 12 13 14 15; do out=$(sh -c 'renice '$v' $$' 2>&1);"
          "case \"$out\" in *Read-only*) echo $v:erofs;; *'not permitted'*) echo $v:eperm;;"
          "'') echo $v:ok;; *) echo $v:other:$out;; esac; done")


def renice_results(t, name, rules):
    p = {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": rules}
    rc, out, err = run_script(t, name, RENICE, p)
    res = {}
    for ln in out.split():
        v, _, what = ln.partition(":")
        res[int(v)] = what
    return res


def setprio_rule(*conds, errno=30):
    return {"names": ["setpriority"], "action": "SCMP_ACT_ERRNO", "errnoRet": errno,
            "args": [{"index": i, "value": v, "op": op, **({"valueTwo": v2} if v2 else {})}
                     for i, op, v, v2 in conds]}


@h.case
def argument_operators(t):
    if os.getpriority(os.PRIO_PROCESS, 0) > 10:
        t.check("renice to 11..15 needs this suite to run at nice <= 10", False)
        return
    ok, no = "ok", "erofs"
    want = {
        "SCMP_CMP_EQ": {11: ok, 12: ok, 13: no, 14: ok, 15: ok},
        "SCMP_CMP_NE": {11: no, 12: no, 13: ok, 14: no, 15: no},
        "SCMP_CMP_LT": {11: no, 12: no, 13: ok, 14: ok, 15: ok},
        "SCMP_CMP_LE": {11: no, 12: no, 13: no, 14: ok, 15: ok},
        "SCMP_CMP_GT": {11: ok, 12: ok, 13: ok, 14: no, 15: no},
        "SCMP_CMP_GE": {11: ok, 12: ok, 13: no, 14: no, 15: no},
    }
    for op, expect in want.items():
        got = renice_results(t, op[9:].lower(), [setprio_rule((2, op, 13, 0))])
        t.eq(f"{op} 13 on setpriority's prio", got, expect)
    # MASKED_EQ: prio & 0b1100 == 0b1100 -> 12..15 refused, 11 (0b1011) allowed
    got = renice_results(t, "masked", [setprio_rule((2, "SCMP_CMP_MASKED_EQ", 12, 12))])
    t.eq("SCMP_CMP_MASKED_EQ (mask 12, value 12)", got,
         {11: ok, 12: no, 13: no, 14: no, 15: no})


@h.case
def several_rules_and_conditions(t):
    if os.getpriority(os.PRIO_PROCESS, 0) > 10:
        t.check("renice to 11..15 needs this suite to run at nice <= 10", False)
        return
    # the same syscall in two rules, each with its own errno
    got = renice_results(t, "tworules", [setprio_rule((2, "SCMP_CMP_EQ", 12, 0), errno=30),
                                         setprio_rule((2, "SCMP_CMP_EQ", 14, 0), errno=1)])
    t.eq("two rules for setpriority: each value gets its rule's errno", got,
         {11: "ok", 12: "erofs", 13: "ok", 14: "eperm", 15: "ok"})
    # conditions on different arguments all have to hold (AND)
    got = renice_results(t, "and", [setprio_rule((0, "SCMP_CMP_EQ", 0, 0),
                                                 (2, "SCMP_CMP_EQ", 13, 0))])
    t.eq("which == PRIO_PROCESS and prio == 13", got,
         {11: "ok", 12: "ok", 13: "erofs", 14: "ok", 15: "ok"})
    got = renice_results(t, "andno", [setprio_rule((0, "SCMP_CMP_EQ", 1, 0),
                                                   (2, "SCMP_CMP_EQ", 13, 0))])
    t.eq("which == PRIO_PGRP never holds: nothing refused", got,
         {11: "ok", 12: "ok", 13: "ok", 14: "ok", 15: "ok"})


def host_syscall_names():
    """Every syscall name of this architecture (from the kernel headers), or []."""
    names = []
    hdr = "/usr/include/x86_64-linux-gnu/asm/unistd_64.h"
    if os.uname().machine != "x86_64" or not os.path.exists(hdr):
        return names
    with open(hdr) as f:
        for ln in f:
            parts = ln.split()
            if len(parts) == 3 and parts[0] == "#define" and parts[1].startswith("__NR_"):
                names.append(parts[1][5:])
    return names


@h.case
def allowlist_with_default_errno_ret(t):
    names = [n for n in host_syscall_names() if n not in MKDIR]
    t.require("kernel headers list the syscalls", len(names) > 300, len(names))
    p = {"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 30,
         "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
         "syscalls": [{"names": names, "action": "SCMP_ACT_ALLOW"}]}
    rc, out, err = run_script(t, "allowlist", "ls / >/dev/null && echo listed; "
                              "mkdir /scratch/a; echo rc=$?; grep ^Seccomp: /proc/self/status",
                              p)
    t.eq("container runs", rc, 0)
    t.contains("ALLOW: listed syscalls work", out, "listed")
    t.contains("defaultErrnoRet for the rest (EROFS)", out + err, "Read-only file system")
    t.contains("mkdir failed", out, "rc=1")
    t.contains("filter on", out, "Seccomp:\t2")
    p["defaultErrnoRet"] = 1
    p["defaultAction"] = "SCMP_ACT_ERRNO"
    rc, out, err = run_script(t, "allowlist1", "mkdir /scratch/a; echo rc=$?", p)
    t.contains("defaultErrnoRet 1: EPERM", out + err, "Operation not permitted")



# ---- KILL_THREAD vs KILL_PROCESS, TRAP caught: a small static helper --------------------------
HELPER_C = r"""
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
static volatile int trapped_nr = -1;
static void on_sys(int sig, siginfo_t *si, void *uc) { (void)sig; (void)uc; trapped_nr = si->si_syscall; }
static void *thread(void *a) {
  (void)a;
  int r = mkdir("/dev/shm/t", 0755);
  printf("thread: mkdir=%d\n", r);
  fflush(stdout);
  return 0;
}
int main(int argc, char **argv) {
  setvbuf(stdout, 0, _IONBF, 0);
  if (argc > 1 && !strcmp(argv[1], "trap")) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_sys;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGSYS, &sa, 0);
    mkdir("/dev/shm/t", 0755);
    printf("trap: caught SIGSYS for syscall %d\n", trapped_nr);
    return 0;
  }
  pthread_t t;
  pthread_create(&t, 0, thread, 0);
  pthread_join(t, 0);
  printf("main: alive\n");
  return 0;
}
"""


def build_helper(t):
    """Compiles the helper statically (None without a C compiler / static libc)."""
    cc = shutil.which("cc") or shutil.which("gcc")
    if not cc:
        return None
    src, out = t.path("helper.c"), t.path("helper")
    with open(src, "w") as f:
        f.write(HELPER_C)
    p = subprocess.run([cc, "-static", "-O2", "-pthread", "-o", out, src],
                       capture_output=True, text=True)
    return out if p.returncode == 0 else None


def run_helper(t, name, helper, action, *args):
    b = t.bundle("/bin/helper", *args, edit=with_seccomp(profile(action)))
    dst = os.path.join(b, "rootfs", "bin", "helper")
    shutil.copy(helper, dst)
    os.chmod(dst, 0o755)
    return t.rt(["run", "--bundle", b, t.cid(name)])


@h.case
def kill_thread_trap_with_threads(t):
    helper = build_helper(t)
    if not helper:
        t.check("the helper needs a C compiler with a static libc (gcc, libc6-dev)", False)
        return
    rc, out, err = run_helper(t, "kthread", helper, "SCMP_ACT_KILL_THREAD")
    t.eq("KILL_THREAD: only the thread dies, main goes on (rc 0)", rc, 0)
    t.contains("KILL_THREAD: main alive", out, "main: alive")
    t.check("KILL_THREAD: the thread never returned from mkdir", "thread:" not in out, out)
    rc, out, err = run_helper(t, "kproc", helper, "SCMP_ACT_KILL_PROCESS")
    t.eq("KILL_PROCESS: the whole process dies of SIGSYS", rc, SIGSYS_STATUS)
    t.check("KILL_PROCESS: main never printed", "main: alive" not in out, out)
    rc, out, err = run_helper(t, "ok", helper, "SCMP_ACT_LOG")
    t.contains("LOG: thread's mkdir runs", out, "thread: mkdir=0")
    rc, out, err = run_helper(t, "trap", helper, "SCMP_ACT_TRAP", "trap")
    t.eq("TRAP: a SIGSYS handler catches it (rc 0)", rc, 0)
    if os.uname().machine == "x86_64":
        t.check("TRAP: si_syscall is mkdir (83) or mkdirat (258)",
                "syscall 83\n" in out or "syscall 258\n" in out, out)


def setprio_rules(n):
    """n rules, each refusing setpriority for one priority value (arg 2, SCMP_CMP_EQ)."""
    return [{"names": ["setpriority"], "action": "SCMP_ACT_ERRNO",
             "args": [{"index": 2, "value": 100 + i, "op": "SCMP_CMP_EQ"}]} for i in range(n)]


@h.case
def huge_filter_fails_fast(t):
    # 20,000 argument rules on one syscall cannot fit the kernel's 4096 instructions: refused
    # before libseccomp builds it (that took ~20 s; runc fails at load after as long); a
    # profile below the bound still loads.
    p = {"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64",
         "SCMP_ARCH_X86", "SCMP_ARCH_X32"], "syscalls": setprio_rules(20000)}
    cid = t.cid("huge")
    b = t.bundle("true", edit=lambda c: c["linux"].update(seccomp=p))
    res = t.rt(["run", "--bundle", b, cid], timeout=900)
    t.fails("20,000 rules: refused", res)
    if t.crunner_only():
        t.contains("says why, before building it", res[2],
                   "seccomp filter too large: at least 20000 instructions (the kernel allows "
                   "4096)")
    t.eq("nothing left", t.state(cid), None)
    small = {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": setprio_rules(2000)}
    rc, out, err = run_script(t, "below", "renice -n 1 $$ >/dev/null && echo renice-ok;"
                              "grep '^Seccomp:' /proc/self/status", small)
    t.eq("2,000 rules load, other values pass", (rc, out), (0, "renice-ok\nSeccomp:\t2\n"))


h.main()
