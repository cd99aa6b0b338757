"""Docker (Debian's docker.io 20.10 + its own containerd 1.6) over runc and over crunner, side
by side: one private dockerd in a network and mount namespace of the suite's own, registered
with crunner by docs/callers/docker.md's snippets, and every case run with
`--runtime runc` and `--runtime crunner`. A case that passes with runc must pass with crunner.
Ends with a runc-vs-crunner table and `N passed, N failed`; leaves nothing behind (checked).

    python3 tests/callers/test_docker.py [CASE...]
"""

import fcntl
import json
import os
import pty
import re
import select
import signal
import struct
import subprocess
import sys
import termios
import time

import callers as C
from dockerd import IMAGE, Dockerd

suite = C.SideBySide("Docker 20.10 (docker.io) + containerd 1.6, runc-v2 shim")
case = suite.case


class Ctx:
    def __init__(self, d, tmp):
        self.d = d
        self.tmp = tmp

    def dk(self, *args, **kw):
        return self.d.docker(*args, **kw)

    def run(self, rt, *args, **kw):
        """docker run --rm --runtime RT ARGS... (IMAGE and the command are in ARGS)."""
        return self.dk("run", "--rm", "--runtime", rt, *args, **kw)

    def start(self, t, rt, name, *args, cmd=("sleep", "1000")):
        """docker run -d --name NAME-RT ARGS IMAGE CMD; removed at the case's cleanup."""
        cname = f"{name}-{rt}"
        t.on_cleanup(lambda: self.dk("rm", "-f", "-v", cname))
        res = self.dk("run", "-d", "--name", cname, "--runtime", rt, *args, IMAGE, *cmd)
        t.require(f"run -d {name}", res[0] == 0, res)
        return cname

    def inspect(self, name, fmt):
        rc, out, err = self.dk("inspect", "-f", fmt, name)
        return out.strip() if rc == 0 else f"<inspect failed: {err.strip()}>"

    def wait_inspect(self, name, fmt, want, timeout=30):
        return C.wait_for(lambda: self.inspect(name, fmt) == want, timeout, 0.1) is True

    def sh(self, rt, script, *opts, **kw):
        return self.run(rt, *opts, IMAGE, "sh", "-c", script, **kw)


def lines(out):
    return out.strip().splitlines()


def status_field(text, field):
    m = re.search(rf"^{field}:\s*(\S+)", text, re.M)
    return m.group(1) if m else None


# ---- run --------------------------------------------------------------------------------

@case
def run_exit_codes(c, rt, t):
    t.eq("exit 0", c.run(rt, IMAGE, "true")[0], 0)
    t.eq("exit 3", c.sh(rt, "exit 3")[0], 3)
    rc, out, err = c.sh(rt, "echo $HOSTNAME $FOO $(pwd)", "--hostname", "hn", "-e", "FOO=bar",
                        "-w", "/tmp")
    t.eq("hostname, env, workdir", (rc, out), (0, "hn bar /tmp\n"))
    rc, out, err = c.run(rt, "--memory", "1k", IMAGE, "true")
    t.check("a daemon-refused option: 125", rc == 125, (rc, err))


@case
def not_found_words(c, rt, t):
    rc, out, err = c.run(rt, IMAGE, "/no/such/binary")
    t.check("missing path: 127, 'no such file or directory'",
            rc == 127 and "no such file or directory" in err, (rc, err))
    rc, out, err = c.run(rt, IMAGE, "nosuchcommand")
    t.check("missing command: 127, 'executable file not found'",
            rc == 127 and "executable file not found" in err, (rc, err))
    rc, out, err = c.run(rt, IMAGE, "/etc/passwd")
    t.check("not executable: 126, 'permission denied'",
            rc == 126 and "permission denied" in err, (rc, err))
    rc, out, err = c.run(rt, IMAGE, "/tmp")
    t.check("a directory: 126, 'is a directory' or 'permission denied'",
            rc == 126 and ("is a directory" in err or "permission denied" in err), (rc, err))


# ---- terminals --------------------------------------------------------------------------

def pty_session(argv, rows, cols, timeout=60):
    """Runs argv on a new pty of size rows x cols; returns (pid, master fd)."""
    pid, fd = pty.fork()
    if pid == 0:
        try:
            set_winsize(0, rows, cols)  # before the client reads it
            os.execv(argv[0], argv)
        finally:
            os._exit(127)
    return pid, fd


def set_winsize(fd, rows, cols):
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


def read_until(fd, pattern, timeout=30):
    """Reads the pty until pattern (a regex) matches what was read; returns the text."""
    buf = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if re.search(pattern, buf.decode(errors="replace")):
            break
        r, _, _ = select.select([fd], [], [], 0.2)
        if r:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            buf += chunk
    return buf.decode(errors="replace")


def finish_pty(pid, fd, timeout=30):
    """Drains the pty until the child exits; returns its exit status (None if killed)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            os.close(fd)
            return os.waitstatus_to_exitcode(status)
        r, _, _ = select.select([fd], [], [], 0.1)
        if r:
            try:
                os.read(fd, 4096)
            except OSError:
                pass
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    os.close(fd)
    return None


@case
def interactive_tty_resize(c, rt, t):
    rc, out, err = c.run(rt, "-i", IMAGE, "sh", "-c", "cat; echo done", input="from stdin\n")
    t.eq("-i: stdin reaches the container", (rc, out), (0, "from stdin\ndone\n"))
    rc, out, err = c.run(rt, IMAGE, "sh", "-c", "test -t 0 || echo no-tty")
    t.eq("without -t: no terminal", out, "no-tty\n")
    pid, fd = pty_session(c.d.client_argv("run", "--rm", "-it", "--runtime", rt, IMAGE, "sh"),
                          31, 97)
    try:
        os.write(fd, b"tty\n")
        got = read_until(fd, r"/dev/pts/\d")
        t.check("-t: a pty", "/dev/pts/" in got, got)
        # the client sends its size once the container has started: poll, as a user would
        ok = C.wait_for(lambda: _size_now(fd) == "31 97", 20, 0.2)
        t.check("-t: the client's terminal size", ok, "stty size never said 31 97")
        set_winsize(fd, 42, 111)
        os.kill(pid, signal.SIGWINCH)  # the client forwards a resize on SIGWINCH
        ok = C.wait_for(lambda: _size_now(fd) == "42 111", 20, 0.2)
        t.check("resize reaches the container's terminal", ok, "stty size never said 42 111")
        os.write(fd, b"exit 5\n")
        t.eq("-it exit status", finish_pty(pid, fd), 5)
    finally:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _size_now(fd):
    os.write(fd, b"echo S=$(stty size)=E\n")
    m = re.findall(r"S=(\d+ \d+)=E", read_until(fd, r"S=\d+ \d+=E", 5))
    return m[-1] if m else None


# ---- exec -------------------------------------------------------------------------------

@case
def exec_options(c, rt, t):
    n = c.start(t, rt, "exec")
    rc, out, err = c.dk("exec", n, "sh", "-c", "id -u; echo $FOO; pwd")
    t.eq("exec: root, no env, workdir /", (rc, lines(out)), (0, ["0", "", "/"]))
    rc, out, err = c.dk("exec", "-u", "1000:2000", "-e", "FOO=bar", "-w", "/tmp", n,
                        "sh", "-c", "id -u; id -g; echo $FOO; pwd")
    t.eq("exec -u -e -w", (rc, lines(out)), (0, ["1000", "2000", "bar", "/tmp"]))
    rc, out, err = c.dk("exec", "-u", "user", n, "id", "-un")
    t.eq("exec -u by name", (rc, out), (0, "user\n"))
    t.eq("exec exit status", c.dk("exec", n, "sh", "-c", "exit 7")[0], 7)
    rc, out, err = c.dk("exec", n, "nosuchcommand")
    t.check("exec of a missing command: 126 or 127, 'executable file not found'",
            rc in (126, 127) and "executable file not found" in (out + err), (rc, out, err))
    rc, out, err = c.dk("exec", "-d", n, "sh", "-c", "sleep 0.2; echo bg > /tmp/d")
    t.eq("exec -d returns at once", rc, 0)
    ok = C.wait_for(lambda: c.dk("exec", n, "cat", "/tmp/d")[1] == "bg\n", 20, 0.2)
    t.check("exec -d ran in the background", ok)
    # the client resizes the exec's pty once it runs: the script waits for that (20 s at most)
    script = ("tty; i=0; while [ $i -lt 200 ] && [ \"$(stty size)\" != '23 71' ]; do "
              "sleep 0.1; i=$((i+1)); done; echo \"size=$(stty size)\"")
    pid, fd = pty_session(c.d.client_argv("exec", "-it", n, "sh", "-c", script), 23, 71)
    got = read_until(fd, r"size=.*\n")
    t.eq("exec -t exit status", finish_pty(pid, fd), 0)
    t.check("exec -t: a pty of the client's size", "/dev/pts/" in got and "size=23 71" in got,
            got)


# ---- lifecycle --------------------------------------------------------------------------

@case
def stop_kill(c, rt, t):
    n = c.start(t, rt, "stop")  # sleep as pid 1 ignores SIGTERM: stop must SIGKILL it
    t0 = time.monotonic()
    t.ok("docker stop -t 1", c.dk("stop", "-t", "1", n))
    t.check("stopped after the timeout", time.monotonic() - t0 < 20)
    t.eq("exit code 137", c.inspect(n, "{{.State.Status}} {{.State.ExitCode}}"), "exited 137")
    script = "trap 'echo got-usr1; exit 9' USR1; while :; do sleep 0.1; done"
    n2 = c.start(t, rt, "kill", cmd=("sh", "-c", script))
    t.ok("docker kill -s USR1", c.dk("kill", "-s", "USR1", n2))
    t.check("the signal reached the process",
            c.wait_inspect(n2, "{{.State.Status}} {{.State.ExitCode}}", "exited 9"),
            c.inspect(n2, "{{.State.Status}} {{.State.ExitCode}}"))
    t.eq("its output", c.dk("logs", n2)[1], "got-usr1\n")
    t.ok("docker start again", c.dk("start", n2))
    t.ok("docker kill (SIGKILL)", c.dk("kill", n2))
    t.check("killed: 137", c.wait_inspect(n2, "{{.State.ExitCode}}", "137"))
    t.ok("docker rm", c.dk("rm", n2))


@case
def restart_policies(c, rt, t):
    n = c.start(t, rt, "onfail", "--restart", "on-failure:2", cmd=("sh", "-c", "exit 3"))
    ok = c.wait_inspect(n, "{{.State.Status}} {{.RestartCount}} {{.State.ExitCode}}",
                        "exited 2 3", 60)
    t.check("on-failure:2 restarts twice, then stays exited", ok,
            c.inspect(n, "{{.State.Status}} {{.RestartCount}}"))
    n2 = c.start(t, rt, "always", "--restart", "always", cmd=("sh", "-c", "sleep 0.3"))
    ok = C.wait_for(lambda: c.inspect(n2, "{{.RestartCount}}").isdigit()
                    and int(c.inspect(n2, "{{.RestartCount}}")) >= 2, 60, 0.2)
    t.check("always: restarted after a clean exit", ok, c.inspect(n2, "{{.RestartCount}}"))
    t.ok("docker stop ends an always container", c.dk("stop", "-t", "1", n2))
    t.eq("and it stays stopped", c.inspect(n2, "{{.State.Status}}"), "exited")


@case
def live_restore(c, rt, t):
    n = c.start(t, rt, "live")
    pid = c.inspect(n, "{{.State.Pid}}")
    t.require("running with a pid", pid.isdigit() and int(pid) > 0, pid)
    c.d.stop()
    t.check("the container outlives dockerd", C.pid_alive(int(pid)))
    c.d.start()
    t.eq("after dockerd restarts: running, same pid",
         c.inspect(n, "{{.State.Running}} {{.State.Pid}}"), f"true {pid}")
    rc, out, err = c.dk("exec", n, "echo", "exec-after-restore")
    t.eq("exec after the restore", (rc, out), (0, "exec-after-restore\n"))
    t.ok("stop after the restore", c.dk("stop", "-t", "1", n))
    t.check("the process is gone", C.wait_for(lambda: not C.pid_alive(int(pid)), 20))


def freezer_state(pid):
    """freezer.state of pid's v1 freezer cgroup, read on the host."""
    for ln in C.harness.read_file(f"/proc/{pid}/cgroup").splitlines():
        _, ctrls, path = ln.split(":", 2)
        if "freezer" in ctrls.split(","):
            for mnt in C.harness.cgroup_mounts():
                if os.path.basename(mnt) == "freezer":
                    return C.harness.read_file(f"{mnt}{path}/freezer.state").strip()
    return None


@case
def pause_unpause(c, rt, t):
    n = c.start(t, rt, "pause")
    t.ok("docker pause", c.dk("pause", n))
    t.eq("paused", c.inspect(n, "{{.State.Status}}"), "paused")
    pid = c.inspect(n, "{{.State.Pid}}")
    t.eq("its freezer cgroup is FROZEN", freezer_state(pid), "FROZEN")
    rc, out, err = c.dk("exec", n, "true")
    t.check("exec into a paused container is refused", rc != 0 and "paused" in err, (rc, err))
    t.ok("docker unpause", c.dk("unpause", n))
    t.eq("running again", c.inspect(n, "{{.State.Status}}"), "running")
    t.eq("its freezer cgroup is THAWED", freezer_state(pid), "THAWED")
    t.ok("exec after unpause", c.dk("exec", n, "true"))


@case
def stats_top(c, rt, t):
    n = c.start(t, rt, "stats", "--memory", "64m")
    rc, out, err = c.dk("stats", "--no-stream", "--format", "{{.MemUsage}}|{{.PIDs}}", n)
    mem, _, pids = out.strip().partition("|")
    t.check("docker stats: memory usage of a 64MiB limit, one pid",
            rc == 0 and mem.endswith("/ 64MiB") and pids == "1", (rc, out, err))
    rc, out, err = c.dk("top", n)
    t.check("docker top (the runtime's ps) lists the process",
            rc == 0 and "sleep 1000" in out and "PID" in out.splitlines()[0], (rc, out, err))
    c.dk("exec", "-d", n, "sleep", "999")
    ok = C.wait_for(lambda: "sleep 999" in c.dk("top", n)[1], 10, 0.2)
    t.check("docker top sees an exec'd process", ok, c.dk("top", n))


@case
def update_resources(c, rt, t):
    n = c.start(t, rt, "update", "--memory", "64m", "--memory-swap", "64m", "--cpu-shares", "512")
    cg = "cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/cpu/cpu.shares " \
         "/sys/fs/cgroup/pids/pids.max"
    rc, out, err = c.dk("exec", n, "sh", "-c", cg)
    t.eq("limits at start", (rc, lines(out)), (0, [str(64 << 20), "512", "max"]))
    t.ok("docker update", c.dk("update", "--memory", "96m", "--memory-swap", "128m",
                               "--cpu-shares", "256", "--pids-limit", "50", n))
    rc, out, err = c.dk("exec", n, "sh", "-c", cg)
    t.eq("limits after update", (rc, lines(out)), (0, [str(96 << 20), "256", "50"]))
    t.eq("docker inspect agrees", c.inspect(n, "{{.HostConfig.Memory}} {{.HostConfig.PidsLimit}}"),
         f"{96 << 20} 50")


@case
def oom_killed(c, rt, t):
    rc, out, err = c.dk("run", "--name", f"oom-{rt}", "--runtime", rt, "--memory", "32m",
                        "--memory-swap", "32m", IMAGE, "sh", "-c", "tail /dev/zero")
    t.on_cleanup(lambda: c.dk("rm", "-f", f"oom-{rt}"))
    t.eq("exit 137", rc, 137)
    t.eq("State.OOMKilled", c.inspect(f"oom-{rt}", "{{.State.OOMKilled}}"), "true")


# ---- security ---------------------------------------------------------------------------

@case
def read_only_user(c, rt, t):
    rc, out, err = c.sh(rt, "touch /x 2>&1; touch /tmp/y && echo tmp-ok", "--read-only",
                        "--tmpfs", "/tmp")
    t.check("--read-only: / refuses writes, a --tmpfs accepts them",
            "Read-only file system" in out and "tmp-ok" in out, (rc, out, err))
    rc, out, err = c.run(rt, "--user", "1000:1000", "--group-add", "2000", IMAGE, "id")
    t.eq("--user uid:gid --group-add", (rc, out),
         (0, "uid=1000(user) gid=1000(user) groups=1000(user),2000(extra)\n"))
    rc, out, err = c.run(rt, "--user", "nobody", IMAGE, "id", "-u")
    t.eq("--user by name", (rc, out), (0, "65534\n"))
    rc, out, err = c.run(rt, "--user", "nosuchuser", IMAGE, "true")
    t.check("--user unknown: fails", rc != 0 and "nosuchuser" in err, (rc, err))


DOCKER_DEFAULT_CAPS = 0xa80425fb  # docker 20.10's default capability set


@case
def capabilities(c, rt, t):
    rc, out, err = c.sh(rt, "grep -E 'Cap(Eff|Bnd)' /proc/self/status")
    eff, bnd = status_field(out, "CapEff"), status_field(out, "CapBnd")
    t.eq("default capabilities", (eff and int(eff, 16), bnd and int(bnd, 16)),
         (DOCKER_DEFAULT_CAPS, DOCKER_DEFAULT_CAPS))
    rc, out, err = c.sh(rt, "grep CapEff /proc/self/status", "--cap-drop", "ALL")
    t.eq("--cap-drop ALL", status_field(out, "CapEff"), "0000000000000000")
    rc, out, err = c.sh(rt, "grep CapEff /proc/self/status; ip addr add 10.1.2.3/32 dev lo && "
                        "echo added", "--cap-add", "NET_ADMIN")
    eff = status_field(out, "CapEff")
    t.check("--cap-add NET_ADMIN: the bit and the power",
            eff and int(eff, 16) == DOCKER_DEFAULT_CAPS | (1 << 12) and "added" in out,
            (rc, out, err))
    rc, out, err = c.sh(rt, "chown 1000 /tmp && echo chowned", "--cap-drop", "CHOWN")
    t.check("--cap-drop CHOWN: chown refused", "chowned" not in out and rc != 0, (rc, out, err))
    rc, out, err = c.sh(rt, "grep ' /sys ' /proc/self/mounts; test -c /dev/kmsg || echo no-kmsg; "
                        "cat /sys/fs/cgroup/devices/devices.list")
    t.check("unprivileged: /sys read-only, no /dev/kmsg, a device allow-list",
            " ro," in out and "no-kmsg" in out and "a *:* rwm" not in out, out)


CUSTOM_SECCOMP = {"defaultAction": "SCMP_ACT_ALLOW",
                  "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}]}


@case
def seccomp_profiles(c, rt, t):
    probe = "grep -E '^(Seccomp|NoNewPrivs):' /proc/self/status; mkdir /tmp/d && echo mkdir-ok"
    rc, out, err = c.sh(rt, probe)
    t.check("default profile: filter mode, mkdir allowed",
            status_field(out, "Seccomp") == "2" and "mkdir-ok" in out, (rc, out, err))
    rc, out, err = c.sh(rt, "unshare -U true && echo unshared")
    t.check("default profile: unshare refused", "unshared" not in out, (rc, out, err))
    rc, out, err = c.sh(rt, probe, "--security-opt", "seccomp=unconfined")
    t.check("seccomp=unconfined: no filter",
            status_field(out, "Seccomp") == "0" and "mkdir-ok" in out, (rc, out, err))
    prof = os.path.join(c.tmp, "seccomp-custom.json")
    with open(prof, "w") as f:
        json.dump(CUSTOM_SECCOMP, f)
    rc, out, err = c.sh(rt, probe, "--security-opt", f"seccomp={prof}")
    t.check("custom JSON profile: mkdir refused, the rest allowed",
            status_field(out, "Seccomp") == "2" and "mkdir-ok" not in out
            and "Operation not permitted" in out + err, (rc, out, err))
    rc, out, err = c.sh(rt, probe, "--security-opt", "no-new-privileges")
    t.eq("no-new-privileges", status_field(out, "NoNewPrivs"), "1")
    rc, out, err = c.sh(rt, probe)
    t.eq("without it: NoNewPrivs 0", status_field(out, "NoNewPrivs"), "0")


def unheld_capabilities():
    """Names of the kernel's capabilities this process does not hold (root here lacks
    CAP_SYS_RESOURCE): Docker's --privileged asks for all of them."""
    prm = int(status_field(C.harness.read_file("/proc/self/status"), "CapPrm"), 16)
    last = int(C.harness.read_file("/proc/sys/kernel/cap_last_cap").strip() or 40)
    return [C.harness.CAPS[i] for i in range(last + 1)
            if not prm >> i & 1 and i < len(C.harness.CAPS)]


DOCKER_KNOWN_CAPS = (1 << 38) - 1  # docker 20.10's list ends at CAP_AUDIT_READ (37)
PRIVILEGED_RUNC = ("root here lacks CAP_SYS_RESOURCE and --privileged asks for every "
                   "capability: runc says only 'unable to apply caps: operation not permitted'")


@case(runc_fails=PRIVILEGED_RUNC)
def privileged_unheld_capability(c, rt, t):
    rc, out, err = c.sh(rt, "true", "--privileged")
    unheld = unheld_capabilities()
    if unheld:
        t.check(f"refused with 125, naming what the runtime lacks ({', '.join(unheld)})",
                rc == 125 and all(n in err for n in unheld), (rc, err))
    else:
        t.eq("every capability held: it runs", rc, 0)


@case
def privileged(c, rt, t):
    # Through drop_unheld_caps.py (registered as RT-privtest): the capabilities no runtime can
    # grant here are taken out of Docker's config; the rest of --privileged is Docker's.
    script = ("grep -E '^(CapEff|CapBnd|Seccomp):' /proc/self/status; "
              "cat /sys/fs/cgroup/devices/devices.list; "
              "grep ' /sys ' /proc/self/mounts; test -c /dev/kmsg && echo has-kmsg; "
              "echo kcore-masks=$(grep -c ' /proc/kcore ' /proc/self/mounts); ls /dev | wc -l")
    rc, out, err = c.sh(f"{rt}-privtest", script, "--privileged")
    t.require("docker run --privileged", rc == 0, (rc, out, err))
    host_prm = int(status_field(C.harness.read_file("/proc/self/status"), "CapPrm"), 16)
    want = host_prm & DOCKER_KNOWN_CAPS
    eff, bnd = status_field(out, "CapEff"), status_field(out, "CapBnd")
    t.eq("every capability Docker 20.10 knows that the host's root holds",
         (eff and int(eff, 16), bnd and int(bnd, 16)), (want, want))
    t.eq("no seccomp", status_field(out, "Seccomp"), "0")
    t.check("every device allowed (devices cgroup)", "a *:* rwm" in out, out)
    sysline = [ln for ln in out.splitlines() if " /sys " in ln]
    t.check("/sys writable", sysline and " rw," in sysline[0], out)
    count = lines(out)[-1] if out.strip() else "0"
    t.check("the host's devices (/dev/kmsg, all of /dev)", "has-kmsg" in out and count.isdigit()
            and int(count) >= min(len(os.listdir("/dev")), 40), (out, len(os.listdir("/dev"))))
    t.check("no masked paths (nothing over /proc/kcore)", "kcore-masks=0" in out, out)


# ---- limits -----------------------------------------------------------------------------

@case
def pids_ulimit_oom_score(c, rt, t):
    script = ("cat /sys/fs/cgroup/pids/pids.max; "
              "for i in 1 2 3 4 5 6 7 8 9 10 11 12; do sleep 5 & done; echo all-forked")
    rc, out, err = c.sh(rt, script, "--pids-limit", "8")
    t.check("--pids-limit 8: pids.max, forks past it refused",
            out == "8\n" and "can't fork" in err, (rc, out, err))
    rc, out, err = c.sh(rt, "ulimit -n; ulimit -Hn; ulimit -u", "--ulimit", "nofile=100:200",
                        "--ulimit", "nproc=300")
    t.eq("--ulimit nofile and nproc", (rc, lines(out)), (0, ["100", "200", "300"]))
    n = c.start(t, rt, "oomadj", "--oom-score-adj", "500")
    pid = c.inspect(n, "{{.State.Pid}}")
    t.eq("--oom-score-adj: the init", C.harness.read_file(f"/proc/{pid}/oom_score_adj").strip(),
         "500")
    rc, out, err = c.dk("exec", n, "cat", "/proc/self/oom_score_adj")
    t.eq("--oom-score-adj: an exec'd process has the container's", (rc, out), (0, "500\n"))


@case
def mounts_volumes_tmpfs(c, rt, t):
    host = os.path.join(c.tmp, f"bind-{rt}")
    os.makedirs(host, exist_ok=True)
    with open(os.path.join(host, "in"), "w") as f:
        f.write("from-host\n")
    rc, out, err = c.sh(rt, "cat /data/in; echo from-container > /data/out", "-v", f"{host}:/data")
    t.eq("-v bind: reads the host's file", (rc, out), (0, "from-host\n"))
    t.eq("-v bind: the host sees the write", C.harness.read_file(os.path.join(host, "out")),
         "from-container\n")
    rc, out, err = c.sh(rt, "echo x > /data/ro", "-v", f"{host}:/data:ro")
    t.check("-v bind :ro refuses writes", rc != 0 and "Read-only" in err + out, (rc, out, err))
    vol = f"vol-{rt}"
    t.on_cleanup(lambda: c.dk("volume", "rm", "-f", vol))
    t.ok("named volume: write", c.sh(rt, "echo kept > /v/f", "-v", f"{vol}:/v"))
    rc, out, err = c.sh(rt, "cat /v/f", "-v", f"{vol}:/v")
    t.eq("named volume: another container reads it", (rc, out), (0, "kept\n"))
    rc, out, err = c.sh(rt, "grep ' /run ' /proc/self/mounts; touch /run/f && echo w",
                        "--tmpfs", "/run:rw,size=1m,mode=1770", "--read-only")
    t.check("--tmpfs: a tmpfs with the options",
            "tmpfs /run tmpfs rw" in out and "size=1024k" in out and "mode=1770" in out
            and out.strip().endswith("w"), (rc, out, err))
    rc, out, err = c.sh(rt, "grep ' /dev/shm ' /proc/self/mounts; cat /proc/sys/kernel/msgmax; "
                        "cat /proc/sys/net/ipv4/ip_forward", "--shm-size", "8m",
                        "--sysctl", "kernel.msgmax=4096", "--sysctl", "net.ipv4.ip_forward=1")
    t.check("--shm-size 8m", "size=8192k" in out, out)
    t.eq("--sysctl (ipc and net namespaces)", lines(out)[1:], ["4096", "1"])


# ---- observation ------------------------------------------------------------------------

@case
def healthcheck(c, rt, t):
    hc = ["--health-interval", "1s", "--health-retries", "1", "--health-timeout", "5s"]
    good = c.start(t, rt, "healthy", "--health-cmd", "test -f /tmp/ok", *hc,
                   cmd=("sh", "-c", "touch /tmp/ok; exec sleep 1000"))
    bad = c.start(t, rt, "unhealthy", "--health-cmd", "test -f /tmp/ok", *hc)
    t.check("healthy", c.wait_inspect(good, "{{.State.Health.Status}}", "healthy", 60),
            c.inspect(good, "{{json .State.Health}}"))
    t.check("unhealthy", c.wait_inspect(bad, "{{.State.Health.Status}}", "unhealthy", 60),
            c.inspect(bad, "{{json .State.Health}}"))


@case
def logs_diff_cp(c, rt, t):
    n = c.start(t, rt, "logs", cmd=("sh", "-c", "echo to-out; echo to-err >&2; "
                                    "echo new > /etc/added; rm /etc/hostname.x 2>/dev/null; "
                                    "exec sleep 1000"))
    ok = C.wait_for(lambda: "to-err" in c.dk("logs", n)[2], 20, 0.1)
    rc, out, err = c.dk("logs", n)
    t.check("docker logs: stdout and stderr apart", ok and out == "to-out\n" and err == "to-err\n",
            (rc, out, err))
    rc, out, err = c.dk("diff", n)
    t.check("docker diff: the added file", "A /etc/added" in out, (rc, out, err))
    dst = os.path.join(c.tmp, f"cp-{rt}")
    t.ok("docker cp out", c.dk("cp", f"{n}:/etc/added", dst))
    t.eq("copied out", C.harness.read_file(dst), "new\n")
    t.ok("docker cp in", c.dk("cp", dst, f"{n}:/tmp/back"))
    t.eq("copied in", c.dk("exec", n, "cat", "/tmp/back")[1], "new\n")


@case
def init_and_shared_namespaces(c, rt, t):
    rc, out, err = c.run(rt, "--init", IMAGE, "sh", "-c", "cat /proc/1/cmdline | tr '\\0' ' '")
    t.check("--init: docker-init is pid 1", rc == 0 and "docker-init" in out, (rc, out, err))
    a = c.start(t, rt, "nsowner", "--ipc", "shareable")
    ns = "for n in /proc/1/ns/pid /proc/self/ns/ipc /proc/self/ns/net; do readlink $n; done"
    rc, mine, err = c.dk("exec", a, "sh", "-c", ns)
    rc, out, err = c.run(rt, "--pid", f"container:{a}", "--ipc", f"container:{a}", "--network",
                         f"container:{a}", IMAGE, "sh", "-c", ns + "; ps -o args | grep -c '^sleep 1000'")
    t.eq("--pid/--ipc/--network container: the other's namespaces",
         lines(out)[:3], lines(mine))
    t.eq("and its processes", lines(out)[3:], ["1"])


def main():
    if os.geteuid() != 0:
        print("FAIL setup: the Docker suite must run as root\n0 passed, 1 failed")
        sys.exit(1)
    only = set(sys.argv[1:])
    C.teardown_on_signals()
    tmp = C.make_tmpdir("docker")
    name = os.path.basename(tmp)
    leftovers = C.HostLeftovers(tmp, name)
    sandbox = d = None
    setup = C.Check("setup", "-")
    try:
        sandbox = C.Sandbox()
        add_flag = C.tree_crunner(C.doc_snippet("callers/docker.md", "add-runtime")).split()
        d = Dockerd(sandbox, tmp, "/" + name, daemon_json="{}", flags=add_flag[1:])
        d.start()
        d.load_busybox(tmp)
        run_doc = C.doc_snippet("callers/docker.md", "run").split()
        rc, out, err = d.docker(*run_doc[1:])
        setup.eq("the doc's --add-runtime and docker run --runtime crunner", (rc, out),
                 (0, "hello\n"))
        d.stop()
        wrapper = os.path.join(C.HERE, "drop_unheld_caps.py")
        d = Dockerd(sandbox, tmp, "/" + name, more_runtimes={
            f"{rt}-privtest": {"path": wrapper, "runtimeArgs": [path]}
            for rt, path in (("runc", C.RUNC), ("crunner", C.CRUNNER))})
        d.start()
        rc, out, err = d.docker("info", "--format", "{{json .Runtimes}}")
        setup.check("the doc's daemon.json registers crunner",
                    rc == 0 and json.loads(out).get("crunner", {}).get("path") == C.CRUNNER,
                    (rc, out, err))
        suite.run(Ctx(d, tmp), only)
    except Exception as e:  # noqa: BLE001
        setup.check("setup", False, f"{type(e).__name__}: {e}")
    finally:
        teardown(d, sandbox, tmp, name, leftovers, setup)
    sys.exit(suite.finish(setup))


def teardown(d, sandbox, tmp, name, leftovers, setup):
    if d and d.proc:
        d.remove_all()
        d.stop()
    if sandbox:
        left = sandbox.processes()
        setup.check("no process left in the suite's namespaces", not left,
                    [C.harness.read_file(f"/proc/{p}/cmdline").replace("\0", " ") for p in left])
        for p in left:
            os.kill(p, signal.SIGKILL)
        sandbox.close()
    inside = [d for d in C.harness.cgroup_dirs_named(name)
              if any(os.path.isdir(os.path.join(d, e)) for e in os.listdir(d))]
    setup.check("every container's cgroup was removed", not inside, inside)
    C.remove_cgroups(name)
    subprocess.run(["rm", "-rf", tmp])
    left = leftovers.after()
    setup.check("nothing left on the host", not left, left)


if __name__ == "__main__":
    main()
