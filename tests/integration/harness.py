"""Shared harness for crunner's integration tests (Python 3 standard library only).

Every tests/integration/test_*.py is one ctest test. Each file:

    import harness as h
    @h.case
    def something(t):               # t is a harness.Case
        b = t.bundle("echo", "hi")  # busybox bundle (tests/fixtures/make-bundle.sh)
        rc, out, err = t.rt(["run", "--bundle", b, t.cid("x")])
        t.eq("prints from inside", out, "hi\n")
    h.main()

The runtime is $CRUNNER (default <source>/build/cmd/crunner/crunner). Set CRUNNER to
runc's path to check a test against runc. Every test file gets a fresh temporary `--root`
and temporary directory; containers are force-deleted and directories removed at the end of
every case and of the file, also on failure. Output: `PASS name` / `FAIL name: reason` per
check, then `N passed, N failed`; the exit status is 1 when anything failed.

Runtime-specific wording (crunner's own error texts) is checked only when the runtime's
basename is `crunner` (see IS_CRUNNER / Case.crunner_only).
"""

import array
import glob
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.environ.get("CRUNNER_SOURCE_DIR") or os.path.dirname(os.path.dirname(HERE))
RUNTIME = os.environ.get("CRUNNER") or os.path.join(SOURCE_DIR, "build", "cmd", "crunner",
                                                    "crunner")
if "/" not in RUNTIME:  # a bare name: look it up in PATH
    RUNTIME = shutil.which(RUNTIME) or RUNTIME
RUNTIME = os.path.abspath(RUNTIME)  # tests run the runtime from other directories too
RUNTIME_NAME = os.path.basename(RUNTIME)
IS_CRUNNER = RUNTIME_NAME == "crunner"
MAKE_BUNDLE = os.path.join(SOURCE_DIR, "tests", "fixtures", "make-bundle.sh")
FILE_TAG = re.sub(r"^test_", "", os.path.splitext(os.path.basename(sys.argv[0]))[0])[:10]

RFC3339NANO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?(Z|[+-]\d\d:\d\d)$")

# Capability numbers (linux/capability.h).
CAPS = [
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID",
    "CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW",
    "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE",
    "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ",
    "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
]


def caps_mask(names):
    m = 0
    for n in names:
        m |= 1 << CAPS.index(n)
    return m


def wait_for(pred, timeout=30.0, interval=0.05):
    """Polls pred() until it returns a true value or timeout seconds pass; returns the value."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v or time.monotonic() > deadline:
            return v
        time.sleep(interval)


def read_file(path, default=""):
    """The file's text, or default when it cannot be read (so a check fails, not the case)."""
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return default


def pid_alive(pid):
    """True while pid exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def mountinfo():
    with open("/proc/self/mountinfo") as f:
        return f.read().splitlines()


def processes_rooted_in(path):
    """Live pids (not ours) whose root directory is path (same device and inode: seen from
    the host, a pivot_root'ed container's root reads as "/"), or whose root or cwd lies
    inside path."""
    path = os.path.realpath(path)
    try:
        st = os.stat(path)
        want = (st.st_dev, st.st_ino)
    except OSError:
        want = None
    found = []
    for p in os.listdir("/proc"):
        if not p.isdigit() or int(p) == os.getpid():
            continue
        hit = False
        try:
            rs = os.stat(f"/proc/{p}/root")
            hit = want is not None and (rs.st_dev, rs.st_ino) == want
        except OSError:
            pass
        for link in ("root", "cwd"):
            if hit:
                break
            try:
                target = os.readlink(f"/proc/{p}/{link}")
            except OSError:
                continue
            hit = target == path or target.startswith(path + "/")
        if hit and pid_alive(int(p)):
            found.append(int(p))
    return found


def cgroup_mounts():
    """Mount points of every cgroup (v1) and cgroup2 hierarchy."""
    res = []
    for ln in mountinfo():
        f = ln.split()
        sep = f.index("-")
        if f[sep + 1] in ("cgroup", "cgroup2"):
            res.append(f[4])
    return res


def own_cgroup_paths():
    try:
        with open("/proc/self/cgroup") as f:
            return {ln.split(":", 2)[2] for ln in f.read().splitlines()}
    except OSError:
        return {"/"}


def cgroup_dirs_named(name):
    """cgroup directories called name (or path, relative to a hierarchy root): at the top of
    any hierarchy, one level down, or under our own cgroup (where runtimes put a container
    without cgroupsPath)."""
    name = name.strip("/")
    found = set()
    for mnt in cgroup_mounts():
        pats = [f"{mnt}/{name}", f"{mnt}/*/{name}"]
        pats += [f"{mnt}{p.rstrip('/')}/{name}" for p in own_cgroup_paths()]
        for pat in pats:
            found.update(d for d in glob.glob(pat) if os.path.isdir(d))
    return sorted(found)


class Failed(Exception):
    """Raised by Case.require to stop a case after a failed precondition."""


class Result:
    def __init__(self):
        self.passed = 0
        self.failed = 0

    def report(self, name, ok, reason=""):
        if ok:
            self.passed += 1
            print(f"PASS {name}", flush=True)
        else:
            self.failed += 1
            reason = " ".join(str(reason).split()) if reason else "check failed"
            if len(reason) > 600:
                reason = reason[:600] + "..."
            print(f"FAIL {name}: {reason}", flush=True)


class Case:
    """One test case: owns a temp dir, and the containers it creates in the file's root."""

    def __init__(self, suite, name):
        self.suite = suite
        self.name = name
        self.root = suite.root
        self.dir = tempfile.mkdtemp(prefix=f"case-{name[:20]}-", dir=suite.tmp)
        os.chmod(self.dir, 0o755)
        self.ids = []
        self.bundles = []
        self.procs = []
        self.cleanups = []
        self.counter = 0

    # ---- checks -------------------------------------------------------------------------
    def check(self, name, cond, reason=""):
        self.suite.result.report(f"{self.name}: {name}", bool(cond), reason)
        return bool(cond)

    def eq(self, name, got, want):
        return self.check(name, got == want, f"got {got!r}, want {want!r}")

    def contains(self, name, text, needle):
        return self.check(name, needle in (text or ""), f"{needle!r} not in {text!r}")

    def ok(self, name, res):
        """res is (rc, out, err) from rt(); checks rc == 0."""
        rc, out, err = res
        return self.check(name, rc == 0, f"rc={rc} out={out!r} err={err!r}")

    def fails(self, name, res, needle=None):
        """Checks rc != 0 (and needle in stderr+stdout when given)."""
        rc, out, err = res
        good = rc not in (0, None) and (needle is None or needle in (err + out))
        want = "nonzero rc" + (f" and {needle!r}" if needle else "")
        return self.check(name, good, f"want {want}: rc={rc} out={out!r} err={err!r}")

    def require(self, name, cond, reason=""):
        if not self.check(name, cond, reason):
            raise Failed(name)

    def crunner_only(self):
        """True when crunner-specific wording may be checked (runtime basename is crunner)."""
        return IS_CRUNNER

    # ---- containers -----------------------------------------------------------------------
    def cid(self, name):
        """A container id unique to this run; doubles as cgroup name (crunner-test- prefix)."""
        self.counter += 1
        c = f"crunner-test-{FILE_TAG}-{name}-{os.getpid()}-{self.counter}"
        self.ids.append(c)
        return c

    def path(self, *parts):
        return os.path.join(self.dir, *parts)

    def bundle(self, *args, name=None, edit=None):
        """Builds a busybox bundle whose process.args are args; edit(config) may change it."""
        self.counter += 1
        d = self.path(name or f"bundle{self.counter}")
        self.bundles.append(d)
        subprocess.run(["bash", MAKE_BUNDLE, d, *args], check=True, stdout=subprocess.DEVNULL)
        if edit:
            self.edit(d, edit)
        return d

    @staticmethod
    def config(bundle):
        with open(os.path.join(bundle, "config.json")) as f:
            return json.load(f)

    @staticmethod
    def edit(bundle, fn):
        """fn(config) changes the parsed config.json in place (its return value is ignored)."""
        cfg = Case.config(bundle)
        fn(cfg)
        with open(os.path.join(bundle, "config.json"), "w") as f:
            json.dump(cfg, f, indent=2)

    def rt(self, args, input=None, timeout=60, stdin=None, stdout=None, stderr=None,
           env=None, root=True, global_args=(), cwd=None):
        """Runs the runtime with --root <file root> (unless root=False) and global_args.

        Output is captured through temp files, never pipes, so a container that inherits
        stdio cannot make us wait for it. Returns (rc, out, err); rc is None on timeout (the
        runtime is then killed). stdin/stdout/stderr may be open files to pass instead.
        """
        argv = [RUNTIME]
        if root:
            argv += ["--root", self.root]
        argv += list(global_args) + list(args)
        return run(argv, input=input, timeout=timeout, stdin=stdin, stdout=stdout,
                   stderr=stderr, env=env, tmpdir=self.dir, cwd=cwd)

    def state(self, cid):
        rc, out, err = self.rt(["state", cid])
        if rc != 0:
            return None
        try:
            return json.loads(out)
        except ValueError:
            return None

    def status(self, cid):
        s = self.state(cid)
        return s["status"] if s else None

    def wait_status(self, cid, status, timeout=30):
        return wait_for(lambda: self.status(cid) == status, timeout) is True

    def create(self, bundle, cid, extra=(), out_file=None, stdin=None):
        """create --bundle B [extra] ID with stdio on out_file (default <dir>/<id>.out).

        Returns (rc, "", text create wrote); the container's later output lands in out_file.
        """
        out_file = out_file or self.path(re.sub(r"[^\w.-]", "_", cid) + ".out")
        with open(out_file, "ab") as o:
            start = o.tell()
            rc, _, _ = self.rt(["create", "--bundle", bundle, *extra, cid], stdout=o, stderr=o,
                               stdin=stdin)
        with open(out_file, "rb") as o:
            o.seek(start)
            # what create printed (the container has not run yet): reported as stderr
            return rc, "", o.read().decode(errors="replace")

    def start_bg(self, argv, **kw):
        """Popen of the runtime with our --root (for foreground run killed from outside)."""
        p = subprocess.Popen([RUNTIME, "--root", self.root, *argv], **kw)
        self.procs.append(p)
        return p

    def read(self, *parts):
        try:
            with open(self.path(*parts)) as f:
                return f.read()
        except OSError:
            return None

    def run_in(self, cid, script, timeout=60, edit=None, extra=()):
        """Foreground `run` of `sh -c script` in a fresh bundle; returns (rc, out, err)."""
        b = self.bundle("sh", "-c", script, edit=edit)
        return self.rt(["run", "--bundle", b, *extra, cid], timeout=timeout)

    def console_listener(self, name="console.sock"):
        """A unix socket for --console-socket: (server socket, path); closed at cleanup."""
        path = self.path(name)
        srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        srv.bind(path)
        srv.listen(1)
        self.on_cleanup(srv.close)
        return srv, path

    def receive_console(self, srv):
        """accept() + one recvmsg: (payload, [fds], conn); conn and fds closed at cleanup."""
        srv.settimeout(30)
        conn, _ = srv.accept()
        self.on_cleanup(conn.close)
        conn.settimeout(30)
        fds = array.array("i")
        msg, anc, _, _ = conn.recvmsg(4096, socket.CMSG_SPACE(4 * fds.itemsize))
        for level, typ, data in anc:
            if level == socket.SOL_SOCKET and typ == socket.SCM_RIGHTS:
                fds.frombytes(data[:len(data) - (len(data) % fds.itemsize)])
        for fd in fds:
            self.on_cleanup(lambda fd=fd: os.close(fd))
        return msg, list(fds), conn

    def on_cleanup(self, fn):
        self.cleanups.append(fn)

    def cleanup(self):
        for fn in reversed(self.cleanups):
            try:
                fn()
            except Exception as e:  # noqa: BLE001 - cleanup must go on
                print(f"# cleanup of {self.name}: {e}", flush=True)
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                try:
                    p.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    pass
        for c in self.ids:
            force_delete(self.root, c, self.dir)
        self.reap_leftovers()
        shutil.rmtree(self.dir, ignore_errors=True)

    def reap_leftovers(self):
        """Safety net for a runtime that lost track of a container (its bug, reported by the
        checks): SIGKILL, by pid, the processes whose root is one of our bundles' rootfs, and
        remove the (then empty) cgroups named after our container ids."""
        pids = []
        for b in self.bundles:
            for pid in processes_rooted_in(os.path.join(b, "rootfs")):
                print(f"# cleanup of {self.name}: killing leftover pid {pid}", flush=True)
                try:
                    os.kill(pid, signal.SIGKILL)
                    pids.append(pid)
                except OSError:
                    pass
        wait_for(lambda: not any(pid_alive(p) for p in pids), 30)
        for c in self.ids:
            if not c.startswith("crunner-test-"):
                continue
            # deepest first, retried: a cgroup is busy until its last process is gone
            dirs = sorted(cgroup_dirs_named(c), key=len, reverse=True)
            for d in dirs:
                print(f"# cleanup of {self.name}: removing leftover cgroup {d}", flush=True)
                for sub in sorted((r for r, _, _ in os.walk(d)), key=len, reverse=True):
                    wait_for(lambda sub=sub: _rmdir(sub), 10, 0.2)


def run(argv, input=None, timeout=60, stdin=None, stdout=None, stderr=None, env=None,
        tmpdir=None, cwd=None):
    """Runs argv; output via temp files. Returns (rc, out, err); rc None on timeout."""
    tmpdir = tmpdir or tempfile.gettempdir()
    own = []

    def tmpfile(mode):
        f = tempfile.TemporaryFile(mode=mode, dir=tmpdir)
        own.append(f)
        return f

    if stdin is None:
        if input is None:
            stdin = subprocess.DEVNULL
        else:
            stdin = tmpfile("w+b")
            stdin.write(input.encode() if isinstance(input, str) else input)
            stdin.flush()
            stdin.seek(0)
    out_f = stdout if stdout is not None else tmpfile("w+b")
    err_f = stderr if stderr is not None else tmpfile("w+b")
    try:
        p = subprocess.Popen(argv, stdin=stdin, stdout=out_f, stderr=err_f, env=env, cwd=cwd)
        try:
            rc = p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
            rc = None
        out = err = ""
        if stdout is None:
            out_f.seek(0)
            out = out_f.read().decode(errors="replace")
        if stderr is None:
            err_f.seek(0)
            err = err_f.read().decode(errors="replace")
        if rc is None:
            err += f"\n[harness: TIMEOUT after {timeout}s: {' '.join(argv)}]"
        return rc, out, err
    finally:
        for f in own:
            f.close()


def _rmdir(path):
    try:
        os.rmdir(path)
        return True
    except FileNotFoundError:
        return True
    except OSError:
        return False


def rootless_bundle(t, uid, gid, run_as, args, edit=None):
    """A `spec --rootless` bundle for a non-root user, whose rootfs the user owns (as podman's
    storage makes it): run_as(argv, cwd) runs argv as that user. process.args = args;
    edit(config) may change the rest."""
    b = t.bundle(*args)
    os.chmod(b, 0o755)
    os.remove(os.path.join(b, "config.json"))
    subprocess.run(["chown", "-R", "-h", f"{uid}:{gid}", b], check=True)
    rc, out, err = run_as([RUNTIME, "spec", "--rootless"], b)
    t.require("spec --rootless as the user", rc == 0, (out, err))

    def fix(c):
        c["process"]["terminal"] = False
        c["process"]["args"] = list(args)
        c["root"]["path"] = "rootfs"
        if edit:
            edit(c)
    t.edit(b, fix)
    return b


def force_delete(root, cid, tmpdir=None):
    """Best effort: kill and delete a container, whatever its state."""
    argv = [RUNTIME, "--root", root]
    run(argv + ["kill", "--all", cid, "KILL"], timeout=30, tmpdir=tmpdir)
    rc, _, _ = run(argv + ["delete", "--force", cid], timeout=30, tmpdir=tmpdir)
    if os.path.isdir(os.path.join(root, cid)) and rc != 0:
        time.sleep(0.2)
        run(argv + ["delete", "--force", cid], timeout=30, tmpdir=tmpdir)


class Suite:
    def __init__(self):
        self.result = Result()
        self.tmp = tempfile.mkdtemp(prefix=f"crunner-test-{FILE_TAG}-")
        os.chmod(self.tmp, 0o755)
        self.root = os.path.join(self.tmp, "root")
        os.mkdir(self.root, 0o700)

    def cleanup(self):
        # Anything a case missed: delete every container still listed under our root.
        try:
            for cid in os.listdir(self.root):
                force_delete(self.root, cid, self.tmp)
        except OSError:
            pass
        shutil.rmtree(self.tmp, ignore_errors=True)


_CASES = []


def case(fn):
    """Registers fn(t) as a test case; cases run in file order."""
    _CASES.append(fn)
    return fn


def main():
    if os.geteuid() != 0:
        print("FAIL setup: integration tests must run as root")
        print("0 passed, 1 failed")
        sys.exit(1)
    only = set(sys.argv[1:])
    suite = Suite()
    print(f"# runtime: {RUNTIME} (root {suite.root})", flush=True)

    def on_signal(signum, _frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, on_signal)
    try:
        if not os.access(RUNTIME, os.X_OK):
            suite.result.report("setup", False, f"runtime {RUNTIME} is not executable")
        else:
            for fn in _CASES:
                if only and fn.__name__ not in only:
                    continue
                t = Case(suite, fn.__name__)
                try:
                    fn(t)
                except Failed:
                    pass
                except Exception as e:  # noqa: BLE001 - a crash is one failure
                    tb = traceback.format_exc().strip().splitlines()
                    where = next((ln.strip() for ln in reversed(tb)
                                  if ln.strip().startswith('File "')), "")
                    suite.result.report(fn.__name__, False,
                                        f"exception {type(e).__name__}: {e} ({where})")
                finally:
                    t.cleanup()
    finally:
        suite.cleanup()
    r = suite.result
    print(f"{r.passed} passed, {r.failed} failed", flush=True)
    # a whole file that checked nothing is a failure too (e.g. every case crashed early)
    sys.exit(1 if r.failed or (r.passed == 0 and not only) else 0)
