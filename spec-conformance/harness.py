"""Harness for the OCI runtime-spec conformance checks: runtime calls, bundles, containers.

Every check gets a Ctx: a private temp dir, a bundle factory and a runtime wrapper that
records each container id it creates so that the cleanup (delete --force, kill helpers,
rmtree) runs whatever happens in the check.
"""

import json
import os
import shutil
import signal
import subprocess
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.path.dirname(HERE)
MAKE_BUNDLE = os.path.join(SOURCE_DIR, "tests", "fixtures", "make-bundle.sh")

# Generous limits: checks poll for states, they never assert how long something took.
CALL_TIMEOUT = 60
POLL_TIMEOUT = 30


class Fail(Exception):
    """The runtime did something the spec forbids (or did not do what it requires)."""


class Skip(Exception):
    """The check cannot run on this host (missing kernel feature, tool, ...)."""


def expect(cond, msg):
    if not cond:
        raise Fail(msg)


def expect_eq(got, want, what):
    if got != want:
        raise Fail(f"{what}: expected {want!r}, got {got!r}")


def host_ns(kind):
    return os.readlink(f"/proc/self/ns/{kind}")


def start_time(pid):
    """The start time (clock ticks since boot) of a live pid, None if gone or a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return None if fields[0] == "Z" else fields[19]


class Result:
    def __init__(self, argv, rc, out, err):
        self.argv, self.rc, self.out, self.err = argv, rc, out, err

    def brief(self):
        text = (self.err or self.out or "").strip().replace("\n", " | ")
        return f"`{' '.join(self.argv[3:])}` exited {self.rc}: {text[:300]}"


class Bundle:
    """A busybox bundle from tests/fixtures/make-bundle.sh whose config.json is edited here."""

    def __init__(self, path, args):
        self.path = path
        cmd = ["bash", MAKE_BUNDLE, path] + list(args or [])
        p = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True)
        if p.returncode != 0:
            raise RuntimeError(f"make-bundle.sh failed: {p.stderr.strip()}")
        with open(os.path.join(path, "config.json")) as f:
            self.cfg = json.load(f)
        self.rootfs = os.path.join(path, "rootfs")
        self.save()

    @property
    def process(self):
        return self.cfg["process"]

    @property
    def linux(self):
        return self.cfg["linux"]

    def set_args(self, *args):
        self.cfg["process"]["args"] = list(args)
        return self

    def sh(self, script):
        return self.set_args("sh", "-c", script)

    def add_mount(self, dest, mtype, source, options=None):
        m = {"destination": dest, "type": mtype, "source": source}
        if options is not None:
            m["options"] = options
        self.cfg["mounts"].append(m)
        return m

    def bind(self, host_path, dest, options=("rbind", "rw")):
        return self.add_mount(dest, "bind", host_path, list(options))

    def drop_mount(self, dest):
        self.cfg["mounts"] = [m for m in self.cfg["mounts"] if m["destination"] != dest]

    def set_namespaces(self, entries):
        self.cfg["linux"]["namespaces"] = entries

    def ns_types(self):
        return [n["type"] for n in self.cfg["linux"]["namespaces"]]

    def add_hook(self, phase, path, args=None, env=None, timeout=None):
        h = {"path": path}
        if args is not None:
            h["args"] = list(args)
        if env is not None:
            h["env"] = list(env)
        if timeout is not None:
            h["timeout"] = timeout
        self.cfg.setdefault("hooks", {}).setdefault(phase, []).append(h)
        return h

    def save(self):
        with open(os.path.join(self.path, "config.json"), "w") as f:
            json.dump(self.cfg, f, indent=2)


class Ctx:
    """Per-check context. Use as a context manager: cleanup always runs."""

    def __init__(self, runtime, root, name, kind):
        self.runtime = runtime
        self.root = root
        self.kind = kind
        self.name = name
        self.tmp = tempfile.mkdtemp(prefix="conformance-")
        os.chmod(self.tmp, 0o755)
        self.ids = []
        self.helpers = []
        self.cgroup_dirs = []
        self.mounts = []
        self.pids = {}  # container pids seen in state -> their start time
        self.seq = 0
        self.notes = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.cleanup()
        return False

    # ---- runtime calls -------------------------------------------------------------------
    def rt(self, *args, stdin=None, timeout=CALL_TIMEOUT, cwd=None, env=None):
        """Runs RUNTIME --root ROOT ARGS; stdout/stderr go to files (a container that
        inherits them must not make us wait for EOF)."""
        argv = [self.runtime, "--root", self.root] + [str(a) for a in args]
        out_path = os.path.join(self.tmp, f".rt-{self.seq}.out")
        err_path = os.path.join(self.tmp, f".rt-{self.seq}.err")
        self.seq += 1
        with open(out_path, "w+b") as out, open(err_path, "w+b") as err:
            if isinstance(stdin, (bytes, str)):
                data = stdin.encode() if isinstance(stdin, str) else stdin
                stdin_arg = subprocess.PIPE
            else:
                data, stdin_arg = None, (stdin if stdin is not None else subprocess.DEVNULL)
            p = subprocess.Popen(argv, stdin=stdin_arg, stdout=out, stderr=err, cwd=cwd,
                                 env=env, start_new_session=True)
            try:
                p.communicate(input=data, timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
                raise Fail(f"`{' '.join(argv[3:])}` did not finish within {timeout}s")
            out.seek(0)
            err.seek(0)
            return Result(argv, p.returncode, out.read().decode(errors="replace"),
                          err.read().decode(errors="replace"))

    def rt_async(self, *args):
        """Starts RUNTIME --root ROOT ARGS in the background; finish it with rt_wait."""
        argv = [self.runtime, "--root", self.root] + [str(a) for a in args]
        out = open(os.path.join(self.tmp, f".rt-{self.seq}.async"), "w+b")
        self.seq += 1
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                             start_new_session=True)
        p.conformance_out, p.conformance_argv = out, argv
        self.helpers.append(p)
        return p

    def rt_wait(self, p, timeout=CALL_TIMEOUT):
        try:
            p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
            raise Fail(f"`{' '.join(p.conformance_argv[3:])}` did not finish within {timeout}s")
        p.conformance_out.seek(0)
        text = p.conformance_out.read().decode(errors="replace")
        p.conformance_out.close()
        return Result(p.conformance_argv, p.returncode, text, text)

    def new_id(self, tag=""):
        cid = f"conf-{self.name.replace('.', '-')[:40]}{tag}-{os.getpid()}-{len(self.ids)}"
        cid = "".join(c if c.isalnum() or c in "-_." else "-" for c in cid)
        self.ids.append(cid)
        return cid

    def bundle(self, *args, sub="bundle"):
        return Bundle(os.path.join(self.tmp, sub), args or ["true"])

    def outdir(self, bundle, dest="/out", sub="out"):
        """A host dir bind-mounted read-write at dest in the container."""
        d = os.path.join(self.tmp, sub)
        os.makedirs(d, exist_ok=True)
        os.chmod(d, 0o777)
        bundle.bind(d, dest)
        return d

    def create(self, bundle, cid=None, expect_ok=True):
        bundle.save()
        cid = cid or self.new_id()
        r = self.rt("create", "--bundle", bundle.path, cid)
        if expect_ok and r.rc != 0:
            raise Fail(f"create failed: {r.brief()}")
        return cid, r

    def start(self, cid, expect_ok=True):
        r = self.rt("start", cid)
        if expect_ok and r.rc != 0:
            raise Fail(f"start failed: {r.brief()}")
        return r

    def delete(self, cid, force=False, expect_ok=True):
        r = self.rt("delete", *(["--force"] if force else []), cid)
        if expect_ok and r.rc != 0:
            raise Fail(f"delete failed: {r.brief()}")
        return r

    def kill(self, cid, sig="KILL", expect_ok=True):
        r = self.rt("kill", cid, sig)
        if expect_ok and r.rc != 0:
            raise Fail(f"kill failed: {r.brief()}")
        return r

    def state(self, cid):
        """The parsed state, or None when the runtime reports an error."""
        r = self.rt("state", cid)
        if r.rc != 0:
            return None
        try:
            st = json.loads(r.out)
        except ValueError:
            raise Fail(f"state printed invalid JSON: {r.out[:200]!r}")
        pid = st.get("pid") if isinstance(st, dict) else None
        if isinstance(pid, int) and pid > 0 and pid not in self.pids:
            start = start_time(pid)
            if start is not None:
                self.pids[pid] = start
        return st

    def must_state(self, cid):
        st = self.state(cid)
        if st is None:
            raise Fail(f"state {cid} failed: {self.rt('state', cid).brief()}")
        return st

    def wait_status(self, cid, status, timeout=POLL_TIMEOUT):
        deadline = time.monotonic() + timeout
        st = None
        while time.monotonic() < deadline:
            st = self.state(cid)
            if st is not None and st.get("status") == status:
                return st
            time.sleep(0.05)
        raise Fail(f"container never reached status {status!r} (last state: {st})")

    def run(self, bundle, stdin=None, timeout=CALL_TIMEOUT):
        """Foreground `run` (the container inherits our stdio files); returns Result."""
        bundle.save()
        cid = self.new_id()
        return self.rt("run", "--bundle", bundle.path, cid, stdin=stdin, timeout=timeout)

    def run_ok(self, bundle, stdin=None):
        r = self.run(bundle, stdin=stdin)
        if r.rc != 0:
            raise Fail(f"container run failed: {r.brief()}")
        return r.out

    def sh_ok(self, bundle, script):
        bundle.sh(script)
        return self.run_ok(bundle)

    def run_fails(self, bundle, what):
        """Expects the runtime to refuse the config: create fails and no container exists."""
        cid, r = self.create(bundle, expect_ok=False)
        if r.rc == 0:
            raise Fail(f"create succeeded with {what}")
        if self.state(cid) is not None:
            raise Fail(f"create failed with {what} but a container {cid} exists")
        return r

    # ---- helpers ----------------------------------------------------------------------------
    def wait_file(self, path, timeout=POLL_TIMEOUT):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if os.path.exists(path):
                return True
            time.sleep(0.05)
        return False

    def read(self, path):
        with open(path) as f:
            return f.read()

    def spawn_helper(self, argv):
        """A host process we own (e.g. to hold a namespace); killed at cleanup."""
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        self.helpers.append(p)
        return p

    def script(self, path, body):
        with open(path, "w") as f:
            f.write("#!/bin/sh\n" + body + "\n")
        os.chmod(path, 0o755)
        return path

    def mount_tmpfs(self, path, shared=False):
        """A tmpfs on the host, unmounted at cleanup."""
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", path], check=True)
        self.mounts.append(path)
        if shared:
            subprocess.run(["mount", "--make-shared", path], check=True)

    def cleanup(self):
        for cid in self.ids:
            try:
                self.rt("delete", "--force", cid, timeout=30)
            except Exception:
                pass
        # safety net for a runtime under development whose delete --force leaks the
        # container: kill the container processes we saw, if still the same processes
        for pid, start in self.pids.items():
            if start_time(pid) == start:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
        for p in self.helpers:
            if p.poll() is None:
                p.kill()
            p.wait()
            out = getattr(p, "conformance_out", None)
            if out is not None and not out.closed:
                out.close()
        for d in self.cgroup_dirs:
            try:
                os.rmdir(d)
            except OSError:
                pass
        for m in reversed(self.mounts):
            subprocess.run(["umount", "-l", m], stderr=subprocess.DEVNULL)
        shutil.rmtree(self.tmp, ignore_errors=True)
