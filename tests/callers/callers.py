"""Shared fixtures of the caller suites (Docker, buildah, ...): every case runs under runc and
under crunner, side by side, through the real caller (Python 3 standard library only).

- Sandbox: a network namespace and a private mount namespace, held by one `sleep` process of
  ours. Servers (dockerd and the containerd it starts) run inside it, entered with
  `nsenter --net= --mount=` (never `ip netns exec`, which remounts /sys and hides the cgroup
  mounts), so bridges, veths, firewall rules and the servers' mounts never reach the host's
  namespaces and vanish with the holder.
- busybox_layout: an OCI image layout built with umoci from tests/fixtures/make-bundle.sh's
  busybox-static rootfs (no network).
- doc_snippet: the fenced block a doc marks `<!-- snippet: NAME -->`, so the docs' snippets are
  what the suites run.
- SideBySide: registers cases, runs each under every runtime, prints `PASS`/`FAIL` per check,
  a runc-vs-crunner table, and the closing line `N passed, N failed`.
- HostLeftovers: what the suite must not leave on the host (mounts and cgroups named after
  it, processes in its namespaces, docker's links and firewall chains in the host's
  namespace).
"""

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.environ.get("CRUNNER_SOURCE_DIR") or os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(SOURCE_DIR, "tests", "integration"))
import harness  # noqa: E402  (run, wait_for, pid_alive, cgroup mounts)

BUILD_DIR = os.environ.get("CRUNNER_BUILD_DIR") or os.path.join(SOURCE_DIR, "build")
CRUNNER = os.path.abspath(os.environ.get("CRUNNER") or
                          os.path.join(BUILD_DIR, "cmd", "crunner", "crunner"))
RUNC = shutil.which("runc") or "/usr/sbin/runc"
MAKE_BUNDLE = os.path.join(SOURCE_DIR, "tests", "fixtures", "make-bundle.sh")
DOCS = os.path.join(SOURCE_DIR, "docs")
# The crunner path the docs' snippets name; the suites put the tree's binary in its place.
DOC_CRUNNER_PATH = "/usr/local/bin/crunner"

run = harness.run
wait_for = harness.wait_for
pid_alive = harness.pid_alive


def netns_inode(pid):
    return os.stat(f"/proc/{pid}/ns/net").st_ino


class Sandbox:
    """A new network namespace (loopback up) and a private mount namespace, held by one
    process (`unshare ... sleep infinity`); enter(argv) runs argv inside both."""

    def __init__(self):
        self.proc = subprocess.Popen(["unshare", "--net", "--mount", "--propagation", "private",
                                      "--", "sleep", "infinity"])
        self.pid = self.proc.pid
        own = netns_inode(os.getpid())
        if not wait_for(lambda: self._entered(own), 10):
            self.close()
            raise RuntimeError("unshare did not make the namespaces")
        rc, out, err = run(self.enter(["ip", "link", "set", "lo", "up"]))
        if rc != 0:
            self.close()
            raise RuntimeError(f"ip link set lo up: {err}")

    def _entered(self, own):
        try:
            return netns_inode(self.pid) != own and "sleep" in harness.read_file(
                f"/proc/{self.pid}/cmdline")
        except OSError:
            return False

    def enter(self, argv):
        return ["nsenter", f"--net=/proc/{self.pid}/ns/net", f"--mount=/proc/{self.pid}/ns/mnt",
                "--", *argv]

    def net_inode(self):
        return netns_inode(self.pid)

    def processes(self):
        """Pids other than the holder whose network namespace is ours."""
        want = self.net_inode()
        found = []
        for p in os.listdir("/proc"):
            if not p.isdigit() or int(p) == self.pid:
                continue
            try:
                if os.stat(f"/proc/{p}/ns/net").st_ino == want and pid_alive(int(p)):
                    found.append(int(p))
            except OSError:
                pass
        return found

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()


def busybox_layout(workdir, tag="busybox", cmd="sh"):
    """An OCI layout workdir/layout holding image TAG: make-bundle.sh's busybox rootfs (every
    applet, root, user 1000 and nobody in /etc/passwd), PATH set, CMD cmd. Returns its path."""
    layout = os.path.join(workdir, "layout")
    bundle = os.path.join(workdir, "umoci-bundle")
    fixture = os.path.join(workdir, "fixture")
    for argv in (["bash", MAKE_BUNDLE, fixture],
                 ["umoci", "init", "--layout", layout],
                 ["umoci", "new", "--image", f"{layout}:{tag}"],
                 ["umoci", "unpack", "--image", f"{layout}:{tag}", bundle]):
        must(argv)
    shutil.rmtree(os.path.join(bundle, "rootfs"))
    shutil.move(os.path.join(fixture, "rootfs"), os.path.join(bundle, "rootfs"))
    must(["umoci", "repack", "--image", f"{layout}:{tag}", bundle])
    must(["umoci", "config", "--image", f"{layout}:{tag}", "--config.cmd", cmd,
          "--config.env", "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"])
    shutil.rmtree(bundle)
    shutil.rmtree(fixture)
    return layout


def must(argv, timeout=300, **kw):
    rc, out, err = run(argv, timeout=timeout, **kw)
    if rc != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({rc}): {out}{err}")
    return out


def doc_snippet(doc, name):
    """The body of the fenced code block that follows `<!-- snippet: NAME -->` in docs/DOC."""
    with open(os.path.join(DOCS, doc)) as f:
        text = f.read()
    m = re.search(r"<!-- snippet: " + re.escape(name) + r" -->\s*```[\w-]*\n(.*?)```", text, re.S)
    if not m:
        raise RuntimeError(f"docs/{doc} has no snippet {name!r}")
    return m.group(1)


def tree_crunner(text):
    """A doc snippet with the crunner path it names replaced by the tree's binary."""
    return text.replace(DOC_CRUNNER_PATH, CRUNNER)


class Failed(Exception):
    """Raised by Check.require to end a case's run after a failed precondition."""


class Check:
    """The checks of one case under one runtime."""

    def __init__(self, case, runtime):
        self.case = case
        self.runtime = runtime
        self.failures = []
        self.passed = 0
        self.cleanups = []

    def check(self, name, cond, reason=""):
        label = f"{self.case} [{self.runtime}]: {name}"
        if cond:
            self.passed += 1
            print(f"PASS {label}", flush=True)
        else:
            reason = " ".join(str(reason).split()) or "check failed"
            reason = reason if len(reason) < 700 else reason[:700] + "..."
            self.failures.append(f"{name}: {reason}")
            print(f"FAIL {label}: {reason}", flush=True)
        return bool(cond)

    def eq(self, name, got, want):
        return self.check(name, got == want, f"got {got!r}, want {want!r}")

    def ok(self, name, res):
        rc, out, err = res
        return self.check(name, rc == 0, f"rc={rc} out={out!r} err={err!r}")

    def require(self, name, cond, reason=""):
        if not self.check(name, cond, reason):
            raise Failed(name)

    def on_cleanup(self, fn):
        self.cleanups.append(fn)

    def cleanup(self):
        for fn in reversed(self.cleanups):
            try:
                fn()
            except Exception as e:  # noqa: BLE001 - cleanup goes on
                print(f"# cleanup of {self.case} [{self.runtime}]: {e}", flush=True)


class SideBySide:
    """Cases registered with @suite.case run under each runtime in turn (runc first).

    A case known to fail under runc on this host is registered with runc_fails="reason": its
    runc failure is reported as "runc fails too" in the table and not counted; crunner's run
    of it still counts. Every other failure counts, and the exit status is 1 when any did.
    """

    def __init__(self, title, runtimes=("runc", "crunner")):
        self.title = title
        self.runtimes = runtimes
        self.cases = []
        self.rows = []
        self.passed = 0
        self.failed = 0

    def case(self, fn=None, runc_fails=None):
        def register(f):
            self.cases.append((f, runc_fails))
            return f
        return register(fn) if fn else register

    def run(self, ctx, only=()):
        start = time.monotonic()
        for fn, runc_fails in self.cases:
            if only and fn.__name__ not in only:
                continue
            row = {"case": fn.__name__}
            for rt in self.runtimes:
                row[rt] = self._run_one(fn, ctx, rt, runc_fails if rt == "runc" else None)
            self.rows.append(row)
        self.print_table(time.monotonic() - start)

    def _run_one(self, fn, ctx, rt, runc_fails):
        t = Check(fn.__name__, rt)
        t0 = time.monotonic()
        try:
            fn(ctx, rt, t)
        except Failed:
            pass
        except Exception as e:  # noqa: BLE001 - a crash is one failure
            where = [ln.strip() for ln in traceback.format_exc().splitlines()
                     if ln.strip().startswith('File "')]
            t.check("no exception", False, f"{type(e).__name__}: {e} ({where[-1] if where else ''})")
        finally:
            t.cleanup()
        secs = time.monotonic() - t0
        if t.failures and runc_fails:
            print(f"# {fn.__name__} [{rt}]: runc fails too ({runc_fails}); not counted", flush=True)
            return {"result": "fails too *", "note": runc_fails, "secs": secs, "ok": None}
        self.passed += t.passed
        self.failed += len(t.failures)
        return {"result": "pass" if not t.failures else f"FAIL ({len(t.failures)})",
                "secs": secs, "ok": not t.failures}

    def print_table(self, total):
        print(f"\n# {self.title}: runc vs crunner, each case under both "
              f"({total:.0f} s in all)", flush=True)
        width = max([len(r["case"]) for r in self.rows] + [4])
        print(f"# {'case':<{width}}  {'runc':<12} {'crunner':<12} seconds (runc/crunner)")
        for r in self.rows:
            cells = [r[rt]["result"] for rt in self.runtimes]
            secs = "/".join(f"{r[rt]['secs']:.1f}" for rt in self.runtimes)
            print(f"# {r['case']:<{width}}  {cells[0]:<12} {cells[1]:<12} {secs}")
        for r in self.rows:
            if r["runc"].get("note"):
                print(f"# * {r['case']}: runc fails too: {r['runc']['note']}")
        regress = [r["case"] for r in self.rows if r["runc"]["ok"] and not r["crunner"]["ok"]]
        if regress:
            print(f"# passes with runc, fails with crunner: {', '.join(regress)}")

    def finish(self, *extra):
        """Adds the checks of extra Check objects (setup, teardown), prints the closing line
        and returns the exit status: 1 when anything failed or nothing passed."""
        for t in extra:
            self.passed += t.passed
            self.failed += len(t.failures)
        print(f"{self.passed} passed, {self.failed} failed", flush=True)
        return 1 if self.failed or not self.passed else 0


DOCKER_LINK = re.compile(r"^(docker0|veth[0-9a-f]{7}|br-[0-9a-f]{12})$")


class HostLeftovers:
    """What a caller suite must not leave on the host. Taken before the suite starts;
    after() lists what is new: mounts under the suite's temp dir, cgroups named after it,
    links docker would make in the host's namespace, DOCKER firewall chains."""

    def __init__(self, tmpdir, cgroup_name):
        self.tmpdir = tmpdir
        self.cgroup_name = cgroup_name
        self.links = self._links()
        self.chains = self._chains()

    @staticmethod
    def _links():
        rc, out, _ = run(["ip", "-o", "link", "show"])
        names = {ln.split(":")[1].strip().split("@")[0] for ln in out.splitlines() if ":" in ln}
        return {n for n in names if DOCKER_LINK.match(n)}

    @staticmethod
    def _chains():
        found = set()
        for table in ("filter", "nat"):
            rc, out, _ = run(["iptables", "-t", table, "-S"])
            found.update(ln for ln in out.splitlines() if "DOCKER" in ln)
        return found

    def after(self):
        left = []
        mounts = [ln.split()[4] for ln in harness.mountinfo() if self.tmpdir in ln.split()[4]]
        if mounts:
            left.append(f"mounts {mounts}")
        cgroups = harness.cgroup_dirs_named(self.cgroup_name)
        if cgroups:
            left.append(f"cgroups {cgroups}")
        links = self._links() - self.links
        if links:
            left.append(f"links {sorted(links)}")
        chains = self._chains() - self.chains
        if chains:
            left.append(f"firewall rules {sorted(chains)}")
        return left


def remove_cgroups(name):
    """Removes the (empty) cgroup directories called name in every hierarchy, deepest first."""
    for d in sorted(harness.cgroup_dirs_named(name), key=len, reverse=True):
        for sub in sorted((r for r, _, _ in os.walk(d)), key=len, reverse=True):
            wait_for(lambda sub=sub: harness._rmdir(sub), 10, 0.2)


def teardown_on_signals():
    """SIGTERM and SIGINT (also when started in the background, where SIGINT is ignored)
    raise KeyboardInterrupt, so a suite's finally: teardown runs when ctest times it out or
    someone stops it."""
    def on_signal(signum, _frame):
        raise KeyboardInterrupt(f"signal {signum}")
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)


def make_tmpdir(tag):
    d = tempfile.mkdtemp(prefix=f"crunner-test-{tag}-")
    os.chmod(d, 0o755)
    return d


def stop_process(proc, timeout=30):
    """SIGTERM, then SIGKILL after timeout seconds, a Popen of ours; waits for it."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
