"""buildah (Debian's 1.28, as root, --isolation oci) and root podman (4.3 + conmon) over runc
and over crunner, side by side: `buildah bud` of a Dockerfile with RUN steps, `buildah run`,
`podman run`/`exec`. Everything runs inside a network and mount namespace of the suite's own,
with private storage (vfs), run root and TMPDIR; the runtime is registered by
docs/callers/podman-buildah.md's containers.conf snippet. Ends with a runc-vs-crunner table
and `N passed, N failed`; leaves nothing behind (checked).

    python3 tests/callers/test_buildah.py [CASE...]
"""

import os
import re
import signal
import subprocess
import sys

import callers as C

suite = C.SideBySide("buildah 1.28 (--isolation oci) and podman 4.3 + conmon, as root")
case = suite.case
BASE = "localhost/busybox"
RUNTIMES = {"runc": C.RUNC, "crunner": C.CRUNNER}


class Ctx:
    def __init__(self, sandbox, tmp):
        self.sandbox = sandbox
        self.tmp = tmp
        storage = ["--root", os.path.join(tmp, "storage"), "--runroot", os.path.join(tmp, "run"),
                   "--storage-driver", "vfs"]
        self.buildah_argv = ["buildah", *storage]
        self.podman_argv = ["podman", *storage, "--tmpdir", os.path.join(tmp, "podman-tmp"),
                            "--cgroup-manager", "cgroupfs", "--events-backend", "file"]
        vartmp = os.path.join(tmp, "vartmp")
        os.makedirs(vartmp)
        self.conf = os.path.join(tmp, "containers.conf")
        with open(self.conf, "w") as f:
            f.write(C.tree_crunner(C.doc_snippet("callers/podman-buildah.md", "containers.conf")))
        self.env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                    "HOME": tmp, "TMPDIR": vartmp, "CONTAINERS_CONF": self.conf,
                    "XDG_CONFIG_HOME": os.path.join(tmp, "config")}

    def buildah(self, *args, input=None, timeout=300):
        return C.run(self.sandbox.enter(self.buildah_argv + list(args)), env=self.env,
                     input=input, timeout=timeout, tmpdir=self.tmp)

    def podman(self, *args, timeout=300):
        return C.run(self.sandbox.enter(self.podman_argv + list(args)), env=self.env,
                     timeout=timeout, tmpdir=self.tmp)

    def working_container(self, t, rt, image=BASE):
        """buildah from IMAGE; removed at the case's cleanup."""
        rc, out, err = self.buildah("from", "--pull=never", "--name", f"wc-{t.case}-{rt}", image)
        t.require("buildah from", rc == 0, (rc, out, err))
        name = out.strip().splitlines()[-1]
        t.on_cleanup(lambda: self.buildah("rm", name))
        return name

    def context(self, name, dockerfile):
        d = os.path.join(self.tmp, name)
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, "Dockerfile"), "w") as f:
            f.write(dockerfile)
        return d


def runtime_calls(log, verb):
    """The runtime binaries buildah's debug log says it ran with VERB."""
    return re.findall(r'Running \[\\?"([^"\\]+)\\?" \\?"' + verb + r'\\?"', log)


DOCKERFILE = """FROM localhost/busybox
RUN echo built > /built && id -u > /uid0
RUN ["sh", "-c", "echo exec-form >> /built"]
ENV FOO=bar
WORKDIR /app
RUN echo "$FOO $(pwd)" > /app/envpwd
USER 1000
RUN id -u > /tmp/uid && touch /home/user/mine
"""


@case
def bud_run_steps(c, rt, t):
    ctx = c.context(f"ctx-{rt}", DOCKERFILE)
    tag = f"localhost/built-{rt}"
    t.on_cleanup(lambda: c.buildah("rmi", "-f", tag))
    rc, out, err = c.buildah("--log-level", "debug", "bud", "--runtime", RUNTIMES[rt],
                             "--isolation", "oci", "--network", "none", "--pull=never",
                             "-t", tag, ctx)
    t.require("buildah bud", rc == 0, (rc, out[-800:], err[-800:]))
    calls = runtime_calls(err, "create")
    t.eq("the runtime ran each of the 4 RUN steps", calls, [RUNTIMES[rt]] * 4)
    wc = c.working_container(t, rt, tag)
    rc, out, err = c.buildah("run", "--runtime", RUNTIMES[rt], "--network", "none", wc, "--",
                             "cat", "/built", "/uid0", "/app/envpwd", "/tmp/uid")
    t.eq("the image holds what the RUN steps wrote", (rc, out),
         (0, "built\nexec-form\n0\nbar /app\n1000\n"))
    rc, out, err = c.buildah("run", "--runtime", RUNTIMES[rt], "--network", "none", wc, "--",
                             "stat", "-c", "%u", "/home/user/mine")
    t.eq("USER 1000's file", (rc, out), (0, "1000\n"))


@case
def bud_failing_step(c, rt, t):
    ctx = c.context(f"ctx-fail-{rt}", "FROM localhost/busybox\nRUN echo before\nRUN exit 4\n")
    rc, out, err = c.buildah("bud", "--runtime", RUNTIMES[rt], "--isolation", "oci",
                             "--network", "none", "--pull=never", "-t", f"localhost/fail-{rt}", ctx)
    t.check("the build fails at the step, with its status", rc != 0 and "exit status 4" in err,
            (rc, out[-500:], err[-500:]))
    rc, out, err = c.buildah("containers", "-q")
    t.eq("no working container left behind", out.strip(), "")


@case
def buildah_run(c, rt, t):
    wc = c.working_container(t, rt)
    r = ["run", "--runtime", RUNTIMES[rt], "--network", "none"]
    rc, out, err = c.buildah(*r, wc, "--", "sh", "-c", "echo out; exit 3")
    t.check("exit status 3 comes back", rc == 3 and out == "out\n", (rc, out, err))
    rc, out, err = c.buildah(*r, "--user", "1000:2000", "--env", "A=b", "--workingdir", "/tmp",
                             wc, "--", "sh", "-c", "id -u; id -g; echo $A; pwd")
    t.eq("--user --env --workingdir", (rc, out), (0, "1000\n2000\nb\n/tmp\n"))
    rc, out, err = c.buildah(*r, wc, "--", "cat", input="via stdin\n")
    t.eq("stdin", (rc, out), (0, "via stdin\n"))
    host = os.path.join(c.tmp, f"vol-{rt}")
    os.makedirs(host, exist_ok=True)
    rc, out, err = c.buildah(*r, "--volume", f"{host}:/mnt", "--mount",
                             "type=tmpfs,destination=/scratch", wc, "--", "sh", "-c",
                             "echo w > /mnt/f; grep ' /scratch ' /proc/self/mounts | cut -d' ' -f3")
    t.eq("--volume and --mount type=tmpfs", (rc, out), (0, "tmpfs\n"))
    t.eq("the volume's write reached the host", C.harness.read_file(os.path.join(host, "f")),
         "w\n")
    rc, out, err = c.buildah(*r, "--cap-add", "CAP_NET_ADMIN", "--cap-drop", "CAP_CHOWN", wc,
                             "--", "grep", "CapEff", "/proc/self/status")
    eff = int(out.split()[1], 16) if rc == 0 and len(out.split()) == 2 else 0
    t.check("--cap-add NET_ADMIN, --cap-drop CHOWN", eff & (1 << 12) and not eff & 1,
            (rc, out, err))


@case
def podman_run_exec(c, rt, t):
    name = f"pod-{rt}"
    p = ["--runtime", RUNTIMES[rt]]
    # root podman raises RLIMIT_NOFILE/NPROC past this host's hard limits, which root here
    # (no CAP_SYS_RESOURCE) cannot: both runtimes refuse. Lower ones, then.
    lim = ["--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"]
    rc, out, err = c.podman(*p, "run", "--rm", "--network", "none", *lim, BASE, "sh", "-c",
                            "echo hi; exit 5")
    t.check("podman run --rm: output, exit status", rc == 5 and out == "hi\n", (rc, out, err))
    rc, out, err = c.podman(*p, "run", "-d", "--name", name, "--network", "none", *lim, BASE,
                            "sleep", "1000")
    t.on_cleanup(lambda: c.podman("rm", "-f", "-t", "0", name))
    t.require("podman run -d", rc == 0, (rc, out, err))
    rc, out, err = c.podman(*p, "exec", "-u", "1000", name, "id", "-u")
    t.eq("podman exec -u", (rc, out), (0, "1000\n"))
    rc, out, err = c.podman(*p, "inspect", "-f", "{{.OCIRuntime}}", name)
    t.check("the container's runtime", rc == 0 and out.strip() in (rt, RUNTIMES[rt]),
            (rc, out, err))
    t.ok("podman stop", c.podman(*p, "stop", "-t", "1", name))


def doc_checks(c, setup):
    """The containers.conf snippet makes crunner the default of buildah and podman."""
    wc = "doc-check"
    rc, out, err = c.buildah("from", "--pull=never", "--name", wc, BASE)
    setup.require("buildah from", rc == 0, (rc, out, err))
    rc, out, err = c.buildah("--log-level", "debug", "run", "--network", "none", wc, "--",
                             "true")
    setup.check("containers.conf: buildah run uses crunner by default",
                rc == 0 and runtime_calls(err, "create") == [C.CRUNNER], (rc, err[-600:]))
    c.buildah("rm", wc)
    rc, out, err = c.podman("info", "--format", "{{.Host.OCIRuntime.Path}}")
    setup.eq("containers.conf: podman's default runtime", (rc, out.strip()), (0, C.CRUNNER))
    ctx = c.context("ctx-doc", "FROM localhost/busybox\nRUN echo from-the-doc\n")
    cmd = C.doc_snippet("callers/podman-buildah.md", "buildah").split()
    rc, out, err = c.buildah(*cmd[1:-1], "--network", "none", "--pull=never", ctx)
    setup.check("the doc's buildah bud", rc == 0 and "from-the-doc" in out, (rc, out, err))
    c.buildah("rmi", "-f", cmd[-2])


def main():
    if os.geteuid() != 0:
        print("FAIL setup: the buildah suite must run as root\n0 passed, 1 failed")
        sys.exit(1)
    only = set(sys.argv[1:])
    C.teardown_on_signals()
    tmp = C.make_tmpdir("buildah")
    leftovers = C.HostLeftovers(tmp, os.path.basename(tmp))
    sandbox = None
    setup = C.Check("setup", "-")
    try:
        sandbox = C.Sandbox()
        c = Ctx(sandbox, tmp)
        layout = C.busybox_layout(os.path.join(tmp, "image"))
        store = f"containers-storage:[vfs@{tmp}/storage+{tmp}/run]{BASE}:latest"
        rc, out, err = C.run(sandbox.enter(["skopeo", "copy", "--quiet",
                                            f"oci:{layout}:busybox", store]), env=c.env)
        setup.require("the busybox image into the store (skopeo)", rc == 0, (rc, out, err))
        doc_checks(c, setup)
        suite.run(c, only)
    except C.Failed:
        pass
    except Exception as e:  # noqa: BLE001
        setup.check("setup", False, f"{type(e).__name__}: {e}")
    finally:
        teardown(sandbox, tmp, leftovers, setup)
    sys.exit(suite.finish(setup))


def teardown(sandbox, tmp, leftovers, setup):
    if sandbox:
        # podman's exit commands (`podman container cleanup`) may still run: wait for them
        C.wait_for(lambda: not sandbox.processes(), 30, 0.2)
        left = sandbox.processes()
        setup.check("no process left in the suite's namespaces", not left,
                    [C.harness.read_file(f"/proc/{p}/cmdline").replace("\0", " ") for p in left])
        for p in left:
            os.kill(p, signal.SIGKILL)
        sandbox.close()
    subprocess.run(["rm", "-rf", tmp])
    left = leftovers.after()
    setup.check("nothing left on the host", not left, left)


if __name__ == "__main__":
    main()
