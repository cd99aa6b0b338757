"""Test fixture for the garden-shim suite: starts one garden-shim per test module on a free
loopback port with a temporary depot, a busybox rootfs (tests/fixtures/make-bundle.sh, its
root-owned entries shifted to the unprivileged containers' root uid 4294967294, as an image
plugin would), and the runtime from GARDEN_RUNTIME (default: runc). Everything it creates
(containers, cgroups, depot, rootfs) is removed afterwards."""

import glob
import io
import os
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from garden_client import Client, GardenError  # noqa: E402

SOURCE_DIR = os.environ.get(
    "CRUNNER_SOURCE_DIR", os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
SHIM = os.environ.get("GARDEN_SHIM", os.path.join(SOURCE_DIR, "build/cmd/garden-shim/garden-shim"))
CONTAINER_ROOT_UID = 4294967294



def make_tar(files):
    """A tar stream (bytes) of regular files {name: data}, mode 0644, for stream-in."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()

def runtime_path():
    rt = os.environ.get("GARDEN_RUNTIME", "runc")
    if os.sep not in rt:
        found = shutil.which(rt)
        if not found:
            raise AssertionError("runtime %s not found on PATH" % rt)
        rt = found
    return rt


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def cgroup_mounts():
    """The real cgroup mounts (mountinfo): [(mountpoint, controllers)], controllers the
    set of a v1 hierarchy's (name=systemd included) or None for cgroup2."""
    out = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            sep = fields.index("-")
            fstype, opts = fields[sep + 1], fields[sep + 3]
            if fstype == "cgroup2":
                out.append((fields[4], None))
            elif fstype == "cgroup":
                out.append((fields[4], {o for o in opts.split(",")
                                        if o not in ("rw", "ro", "xattr", "noprefix")
                                        and not o.startswith("release_agent=")
                                        and not o.startswith("clone_children")}))
    return out


def own_cgroup_dirs():
    """The cgroup directories (v1 hierarchies and the cgroup2 one, hybrid or pure v2) this
    process is in, found through the real mounts."""
    mounts = cgroup_mounts()
    out = []
    with open("/proc/self/cgroup") as f:
        for line in f:
            _, ctrls, path = line.rstrip("\n").split(":", 2)
            want = set(ctrls.split(",")) if ctrls else None
            for mp, have in mounts:
                d = mp + path.rstrip("/")
                if have == want and os.path.isdir(d) and d not in out:
                    out.append(d)
                    break
    return out


def mounts_under(path):
    """Mount points at or below path, deepest first."""
    out = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            mp = line.split()[4].replace("\\040", " ")
            if mp == path or mp.startswith(path.rstrip("/") + "/"):
                out.append(mp)
    return sorted(out, key=len, reverse=True)


def loop_devices_backed_by(path):
    """Loop devices whose backing file is under path."""
    out = []
    for d in glob.glob("/sys/block/loop*/loop/backing_file"):
        try:
            with open(d) as f:
                if f.read().strip().startswith(path.rstrip("/") + "/"):
                    out.append("/dev/" + d.split("/")[3])
        except OSError:
            pass
    return out


def cleanup_workdir(workdir, shim, runtime, cgroup_parent):
    """Removes everything a test shim may have left in workdir: the shim (by pid), the
    process supervisors (by the pids recorded in the depot), runtime containers, mounts
    (each container's rootfs overlay and disk-limit loop file system), loop devices,
    cgroups, then the directory."""
    depot = os.path.join(workdir, "depot")
    try:
        if shim is not None:
            shim.kill()
        for f in glob.glob(os.path.join(depot, "containers", "*", "processes", "*", "dadoo.pid")):
            try:
                with open(f) as fh:
                    pid = int(fh.read().strip())
                with open("/proc/%d/cmdline" % pid, "rb") as fh:
                    if b"garden-dadoo" in fh.read():
                        os.kill(pid, signal.SIGKILL)
            except (OSError, ValueError):
                pass
        # Processes with their own image (peas) have a runtime root per container.
        roots = glob.glob(os.path.join(depot, "containers", "*", "peas"))
        for root in roots + [os.path.join(depot, "runtime")]:
            if os.path.isdir(root):
                for cid in os.listdir(root):
                    subprocess.run([runtime, "--root", root, "delete", "--force", cid],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for mp in mounts_under(workdir):
            if subprocess.run(["umount", mp], stderr=subprocess.DEVNULL).returncode != 0:
                subprocess.run(["umount", "-l", mp], stderr=subprocess.DEVNULL)
        for dev in loop_devices_backed_by(workdir):
            subprocess.run(["losetup", "-d", dev], stderr=subprocess.DEVNULL)
        if cgroup_parent:
            for d in own_cgroup_dirs():
                parent = os.path.join(d, cgroup_parent)
                # Containers' cgroups and the peas' nested in them, deepest first.
                for child in glob.glob(parent + "/*/*/") + glob.glob(parent + "/*/"):
                    try:
                        os.rmdir(child)
                    except OSError:
                        pass
                try:
                    os.rmdir(parent)
                except OSError:
                    pass
    finally:
        if not mounts_under(workdir):  # never delete through a mount
            shutil.rmtree(workdir, ignore_errors=True)



def _allow_core():
    import resource
    if os.environ.get("GARDEN_SHIM_CWD"):
        resource.setrlimit(resource.RLIMIT_CORE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))


class Shim:
    def __init__(self, workdir, rootfs, cgroup_parent, extra=None, netns=None, ini=None,
                 wrap=None):
        """netns: the name of a network namespace (ip netns) the shim runs in, listening
        on a unix socket in workdir; without one it runs in ours with --disable-networking,
        so no test shim ever touches the host's interfaces or firewall. ini: more lines of
        a Guardian config file's [server] section; with it, every setting below goes into
        workdir/garden.ini and the shim starts as `garden-shim --config garden.ini` (extra
        flags still follow on its command line). wrap: an argv the shim's command line is
        appended to, which must exec it (the shim keeps the pid we kill it by)."""
        self.workdir = workdir
        self.wrap = wrap or []
        self.netns = netns
        self.depot = os.path.join(workdir, "depot")
        self.rootfs = rootfs
        self.cgroup_parent = cgroup_parent
        self.extra = extra or []
        self.ini = ini
        self.port = None
        self.proc = None

    def start(self, same_port=False):
        """Starts the shim on a free port (same_port: on the port it had before)."""
        if not (same_port and self.port):
            self.port = free_port()
        self.log = open(os.path.join(self.workdir, "shim.log"), "ab")
        if self.netns:
            # nsenter enters the network namespace only (ip netns exec would also give the
            # shim a mount namespace of its own, hiding the containers' mounts from us).
            sock = os.path.join(self.workdir, "shim.sock")
            listen = ["nsenter", "--net=/run/netns/" + self.netns, "--", SHIM,
                      "--bind-socket", sock]
        else:
            listen = [SHIM, "--bind-ip", "127.0.0.1", "--bind-port", str(self.port)]
            if not any(a in self.extra for a in ("--disable-networking",)):
                listen.append("--disable-networking")
        args = listen + ["--depot", self.depot, "--runtime-plugin", runtime_path(),
                         "--default-rootfs", self.rootfs, "--cgroup-parent", self.cgroup_parent,
                         "--stop-timeout", "3s"]
        if self.ini is not None:
            args = self._write_ini(args)
        args = self.wrap + args + self.extra
        # GARDEN_SHIM_CWD: where a crashing shim leaves its core (debugging aid).
        cwd = os.environ.get("GARDEN_SHIM_CWD", self.workdir)
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=self.log, cwd=cwd,
                                     start_new_session=True, preexec_fn=_allow_core)
        client = (Client(socket_path=os.path.join(self.workdir, "shim.sock")) if self.netns
                  else Client(port=self.port))
        try:
            for _ in range(500):
                if self.proc.poll() is not None:
                    raise RuntimeError("garden-shim exited: %s" % self.read_log())
                try:
                    client.ping()
                    return client
                except (OSError, ConnectionError):
                    time.sleep(0.02)
            raise RuntimeError("garden-shim never answered ping")
        except BaseException:
            self.kill()  # never leave a shim behind a failed start
            raise

    def _write_ini(self, args):
        """The flags in args after the program (and any nsenter prefix) as the [server]
        keys of workdir/garden.ini, then self.ini's lines; returns the shorter argv."""
        i = args.index(SHIM) + 1
        lines, rest = ["[server]"], args[i:]
        while rest:
            flag = rest.pop(0)[2:]
            if rest and not rest[0].startswith("--"):
                lines.append("  %s = %s" % (flag, rest.pop(0)))
            else:
                lines.append("  %s = true" % flag)
        path = os.path.join(self.workdir, "garden.ini")
        with open(path, "w") as f:
            f.write("\n".join(lines) + "\n" + self.ini)
        return args[:i] + ["--config", path]

    def kill(self):
        """Kills this shim by its pid (never by name) and reaps it."""
        if self.proc is not None:
            if self.proc.poll() is None:
                os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        self.proc = None
        if getattr(self, "log", None):
            self.log.close()
            self.log = None

    def read_log(self):
        with open(os.path.join(self.workdir, "shim.log"), "rb") as f:
            return f.read().decode(errors="replace")


class ShimTestCase(unittest.TestCase):
    """Base class: self.client talks to a fresh garden-shim; self.created handles are
    destroyed after each test."""

    shim_extra = []
    shim_ini = None  # Guardian config lines: the shim starts from a config file (Shim's ini)
    shim_wrap = None  # an argv prefix that execs the shim (Shim's wrap)

    @classmethod
    def setUpClass(cls):
        if os.geteuid() != 0:
            raise AssertionError("garden-shim tests need root")
        cls.runtime = runtime_path()
        cls.shim = None
        cls.workdir = tempfile.mkdtemp(prefix="crunner-test-garden-")
        # Class cleanups run even when setUpClass fails (tearDownClass does not): the shim
        # is killed by pid and the depot, rootfs and cgroups go whatever happens.
        cls.addClassCleanup(cls._cleanup)
        os.chmod(cls.workdir, 0o755)
        bundle = os.path.join(cls.workdir, "bundle")
        subprocess.run(["bash", os.path.join(SOURCE_DIR, "tests/fixtures/make-bundle.sh"), bundle],
                       check=True, stdout=subprocess.DEVNULL)
        cls.rootfs = os.path.join(bundle, "rootfs")
        subprocess.run(["find", cls.rootfs, "-uid", "0", "-exec", "chown", "-h",
                        str(CONTAINER_ROOT_UID), "{}", "+"], check=True)
        subprocess.run(["find", cls.rootfs, "-gid", "0", "-exec", "chgrp", "-h",
                        str(CONTAINER_ROOT_UID), "{}", "+"], check=True)
        cls.cgroup_parent = "crunner-test-garden-%d" % os.getpid()
        cls.shim = Shim(cls.workdir, cls.rootfs, cls.cgroup_parent, cls.shim_extra,
                        netns=getattr(cls, "shim_netns", None), ini=cls.shim_ini,
                        wrap=cls.shim_wrap)
        cls.client = cls.shim.start()

    @classmethod
    def tearDownClass(cls):
        # Destroy through the API while the shim is up; _cleanup (a class cleanup, which
        # also runs after a failed setUpClass) removes whatever is left.
        if cls.shim.proc is not None and cls.shim.proc.poll() is not None:
            sys.stderr.write("garden-shim died (status %s); its log:\n%s\n"
                             % (cls.shim.proc.returncode, cls.shim.read_log()))
            cls.shim.proc.wait()
            cls.shim.proc = None
        if cls.shim.proc is None:
            cls.client = cls.shim.start()
        for h in cls.client.list():
            try:
                cls.client.destroy(h)
            except GardenError:
                pass

    @classmethod
    def _cleanup(cls):
        cleanup_workdir(cls.workdir, getattr(cls, "shim", None), cls.runtime,
                        getattr(cls, "cgroup_parent", None))

    def setUp(self):
        self.created = []

    def tearDown(self):
        for h in self.created:
            try:
                self.client.destroy(h)
            except (GardenError, OSError):
                pass

    def create(self, **spec):
        h = self.client.create(spec)
        self.created.append(h)
        return h

    def run_proc(self, handle, path, *args, **kw):
        """Runs a process; returns (exit, stdout, stderr)."""
        spec = {"path": path, "args": list(args)}
        stdin = kw.pop("stdin", None)
        spec.update(kw)
        p = self.client.run(handle, spec)
        if stdin is not None:
            p.write_stdin(stdin)
            p.close_stdin()
        out = p.read_stream("stdout")
        err = p.read_stream("stderr")
        return p.wait(), out.decode(), err.decode()

    def container_cgroup_dirs(self, handle):
        return [os.path.join(d, self.cgroup_parent, handle) for d in own_cgroup_dirs()]

    def supervisor_pids(self, handle):
        pids = []
        for f in glob.glob(os.path.join(self.shim.depot, "containers", handle,
                                        "processes", "*", "dadoo.pid")):
            with open(f) as fh:
                pids.append(int(fh.read().strip()))
        return pids


def session_keyrings(uid=CONTAINER_ROOT_UID):
    """The descriptions of the session keyrings ("_ses.<name>") owned by uid, read from
    /proc/keys as uid itself (a key is listed only to who may view it: root may not)."""
    def become():
        os.setgroups([])
        os.setresgid(uid, uid, uid)
        os.setresuid(uid, uid, uid)
    r = subprocess.run(["cat", "/proc/keys"], preexec_fn=become, capture_output=True,
                       text=True, check=True)
    out = []
    for line in r.stdout.splitlines():
        f = line.split(None, 8)
        if len(f) == 9 and f[7] == "keyring" and f[8].startswith("_ses."):
            out.append(f[8].split(":")[0])
    return out


def pid_alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def main():
    import warnings
    warnings.simplefilter("ignore", ResourceWarning)
    unittest.main(verbosity=2)
