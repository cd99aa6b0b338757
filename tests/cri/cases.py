"""The CRI suite's cases. Each is a function of a Ctx (the env plus one runtime handler) that
raises AssertionError on a failed expectation; run_all runs every case with `runc` and then
with crunner's handler, and tears down what the case left (pods, then a check that their
cgroups are gone).

Waits are bounded polls on state the CRI reports (never a timing assertion).
"""

import concurrent.futures
import json
import os
import re
import socket
import time
import traceback
import uuid

import crienv
from cri_client import CRIError, Stream

CASES = []

# What runc itself cannot do on this host, by case: {case: reason}. Empty: runc passes all.
RUNC_FAILS_TOO = {}

# What the kubelet sends for a container that is not privileged (Kubernetes' defaults).
DEFAULT_MASKED = ["/proc/asound", "/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
                  "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware"]
DEFAULT_READONLY = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]

SLEEP = ["sleep", "3600"]


def case(f):
    CASES.append(f)
    return f


def check(what, cond, detail=""):
    if not cond:
        raise AssertionError("%s%s" % (what, (": " + str(detail)) if detail != "" else ""))


def eq(what, got, want):
    check(what, got == want, "got %r, want %r" % (got, want))


def wait_for(what, fn, limit=60, step=0.05):
    """Polls fn() until it returns a true value (bounded: a hang becomes a failure)."""
    deadline = time.monotonic() + limit
    while True:
        v = fn()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for " + what)
        time.sleep(step)


class Ctx:
    """One case run under one handler: pods it made are torn down by close()."""

    def __init__(self, env, handler):
        self.env, self.handler, self.cri = env, handler, env.cri
        self.pods = []

    def pod(self, name="p", **kw):
        p = Pod(self, name, **kw)
        self.pods.append(p)
        return p

    def close(self):
        for p in self.pods:
            p.remove()
        for p in self.pods:
            left = [d for d in crienv.cgroup_dirs_under(p.cgroup_parent) if not d.endswith(p.cgroup_parent)]
            check("the pod's container cgroups are removed with it", not left, left)


def ns_options(network="POD", pid="CONTAINER", ipc="POD", target=""):
    o = {"network": network, "pid": pid, "ipc": ipc}
    if target:
        o["target_id"] = target
    return o


class Pod:
    def __init__(self, ctx, name, hostname=None, dns=None, sysctls=None, ns=None, privileged=False,
                 supplemental_groups=None, run_as_user=None):
        self.ctx, self.cri = ctx, ctx.cri
        uid = str(uuid.uuid4())
        self.cgroup_parent = "%s/pod%s" % (ctx.env.cgroup_root, uid)
        self.ns = ns or ns_options()
        self.log_dir = os.path.join(ctx.env.tmp, "logs", "%s_%s_%s" % (ctx.handler, name, uid[:8]))
        sec = {"namespace_options": self.ns, "privileged": privileged}
        if supplemental_groups:
            sec["supplemental_groups"] = supplemental_groups
        if run_as_user is not None:
            sec["run_as_user"] = {"value": run_as_user}
        self.config = {
            "metadata": {"name": name, "uid": uid, "namespace": "crunner-cri", "attempt": 0},
            "hostname": hostname if hostname is not None else ("" if self.ns["network"] == "NODE" else name),
            "log_directory": self.log_dir,
            "labels": {"suite": "crunner-cri", "handler": ctx.handler},
            "linux": {"cgroup_parent": self.cgroup_parent, "security_context": sec, "sysctls": sysctls or {}},
        }
        if dns:
            self.config["dns_config"] = dns
        self.id = self.cri.RunPodSandbox(config=self.config, runtime_handler=ctx.handler).pod_sandbox_id
        self.removed = False

    def container(self, name, command, args=None, start=True, env=None, workdir="", tty=False, stdin=False,
                  resources=None, security=None, privileged=False):
        sec = {"namespace_options": dict(self.ns), "privileged": privileged}
        if not privileged:
            sec["masked_paths"], sec["readonly_paths"] = DEFAULT_MASKED, DEFAULT_READONLY
        sec.update(security or {})
        cfg = {
            "metadata": {"name": name, "attempt": 0},
            "image": {"image": self.ctx.env.image},
            "command": command, "args": args or [],
            "working_dir": workdir,
            "envs": [{"key": k, "value": v} for k, v in (env or {}).items()],
            "log_path": name + ".log",
            "stdin": stdin, "tty": tty,
            "linux": {"resources": resources or {}, "security_context": sec},
        }
        cid = self.cri.CreateContainer(pod_sandbox_id=self.id, config=cfg, sandbox_config=self.config).container_id
        if start:
            self.cri.StartContainer(container_id=cid)
        return cid

    def exec(self, cid, cmd, timeout=60):
        r = self.cri.ExecSync(container_id=cid, cmd=cmd, timeout=timeout, _deadline=timeout + 60)
        return r.stdout.decode(), r.stderr.decode(), r.exit_code

    def sh(self, cid, script):
        """Output of a shell script in the container; fails unless it exits 0."""
        out, err, code = self.exec(cid, ["sh", "-c", script])
        check("exec %r exits 0" % script, code == 0, "exit %d, stdout %r, stderr %r" % (code, out, err))
        return out

    def status(self, cid, verbose=False):
        return self.cri.ContainerStatus(container_id=cid, verbose=verbose)

    def wait_exited(self, cid, limit=60):
        return wait_for("container %s to exit" % cid[:12],
                        lambda: (lambda s: s if s.state == 2 else None)(self.status(cid).status), limit)

    def pid(self, cid):
        return json.loads(self.status(cid, verbose=True).info["info"])["pid"]

    def log(self, name):
        try:
            return open(os.path.join(self.log_dir, name + ".log")).read()
        except FileNotFoundError:
            return ""

    def remove(self):
        if not self.removed:
            self.cri.StopPodSandbox(pod_sandbox_id=self.id)
            self.cri.RemovePodSandbox(pod_sandbox_id=self.id)
            self.removed = True


def log_lines(text, stream=None):
    """CRI log format: `<RFC3339Nano> <stream> <F|P> <text>` per line."""
    out = []
    for line in text.splitlines():
        m = re.match(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)) (stdout|stderr) ([FP]) (.*)$", line)
        check("log line in the CRI format", m, line)
        if stream is None or m.group(4) == stream:
            out.append(m.group(6))
    return out


def status_field(pod, cid, field):
    for line in pod.sh(cid, "cat /proc/1/status").splitlines():
        k, _, v = line.partition(":")
        if k == field:
            return v.strip()
    raise AssertionError("no %s in /proc/1/status" % field)


def cgroup_file(pid, controller, name):
    """Host path of a cgroup v1 control file of process pid."""
    for line in open("/proc/%d/cgroup" % pid):
        _, ctrls, path = line.rstrip("\n").split(":", 2)
        if controller in ctrls.split(","):
            for line2 in open("/proc/self/mountinfo"):
                left, right = line2.split(" - ", 1)
                fstype, _, opts = right.split()[:3]
                if fstype == "cgroup" and controller in opts.split(","):
                    return os.path.join(left.split()[4], path.lstrip("/"), name)
    raise AssertionError("no %s cgroup for pid %d" % (controller, pid))


def read(path):
    return open(path).read().strip()


# ------------------------------------------------------------------------------------------
# pods and namespaces
# ------------------------------------------------------------------------------------------

@case
def pod_shared_namespaces(ctx):
    """pid/ipc/net POD: both containers and the sandbox share them; the pod has its IP."""
    pod = ctx.pod(ns=ns_options(pid="POD"))
    a = pod.container("a", ["sleep", "3601"])
    b = pod.container("b", ["sleep", "3602"])
    ns = "for f in self/ns/net self/ns/ipc self/ns/pid 1/ns/pid; do readlink /proc/$f; done"
    na, nb = pod.sh(a, ns).split(), pod.sh(b, ns).split()
    eq("namespaces of a and b", na, nb)
    eq("a's pid namespace is the sandbox's (pid 1's)", na[2], na[3])
    check("pid 1 is the pause process", "trap" in pod.sh(a, "cat /proc/1/cmdline"))
    check("b sees a's process", "sleep 3601" in pod.sh(b, "ps -o args"))
    pod.sh(a, "echo shared > /dev/shm/x")
    eq("b reads a's /dev/shm", pod.sh(b, "cat /dev/shm/x"), "shared\n")
    ip = ctx.cri.PodSandboxStatus(pod_sandbox_id=pod.id).status.network.ip
    check("the pod has an address of the bridge's subnet", ip.startswith(crienv.SUBNET.rsplit(".", 1)[0] + "."), ip)
    check("eth0 holds it", ("inet %s/" % ip) in pod.sh(b, "ip -o -4 addr show eth0"))


@case
def pid_namespace_container_and_target(ctx):
    """pid CONTAINER: a is pid 1 of its own; TARGET (kubectl debug): c joins a's."""
    pod = ctx.pod()
    a = pod.container("a", ["sleep", "3601"])
    b = pod.container("b", ["sleep", "3602"])
    eq("a is pid 1 of its namespace", pod.sh(a, "cat /proc/1/cmdline | tr '\\0' ' '"), "sleep 3601 ")
    check("b does not see a", "3601" not in pod.sh(b, "ps -o args"))
    c = pod.container("c", SLEEP, security={"namespace_options": ns_options(pid="TARGET", target=a)})
    eq("c's pid namespace is a's", pod.sh(c, "readlink /proc/self/ns/pid"), pod.sh(a, "readlink /proc/self/ns/pid"))
    check("c sees a's process", "sleep 3601" in pod.sh(c, "ps -o args"))


@case
def host_network(ctx):
    """network NODE: the container is in the namespace containerd runs in, with its hostname."""
    pod = ctx.pod(ns=ns_options(network="NODE"))
    a = pod.container("a", SLEEP)
    eq("net namespace", pod.sh(a, "readlink /proc/self/ns/net").strip(),
       "net:[%d]" % os.stat("/proc/self/ns/net").st_ino)
    eq("hostname", pod.sh(a, "hostname").strip(), socket.gethostname())


@case
def hostname_and_dns(ctx):
    dns = {"servers": ["10.96.0.10"], "searches": ["ns1.svc.cluster.local", "svc.cluster.local"],
           "options": ["ndots:5"]}
    pod = ctx.pod(hostname="crunner-pod-h", dns=dns)
    a = pod.container("a", SLEEP)
    eq("hostname", pod.sh(a, "hostname"), "crunner-pod-h\n")
    eq("/etc/hostname", pod.sh(a, "cat /etc/hostname"), "crunner-pod-h\n")
    resolv = pod.sh(a, "cat /etc/resolv.conf").splitlines()
    for want in ("nameserver 10.96.0.10", "search ns1.svc.cluster.local svc.cluster.local", "options ndots:5"):
        check("resolv.conf has %r" % want, want in resolv, resolv)


@case
def sysctls(ctx):
    pod = ctx.pod(sysctls={"kernel.shm_rmid_forced": "1", "net.ipv4.ip_unprivileged_port_start": "80",
                           "net.ipv4.ping_group_range": "0 65535"})
    a = pod.container("a", SLEEP)
    got = pod.sh(a, "cat /proc/sys/kernel/shm_rmid_forced /proc/sys/net/ipv4/ip_unprivileged_port_start "
                    "/proc/sys/net/ipv4/ping_group_range").split()
    eq("sysctls in the container", got, ["1", "80", "0", "65535"])


# ------------------------------------------------------------------------------------------
# process: command, env, cwd, exit codes, OOM
# ------------------------------------------------------------------------------------------

@case
def command_env_workdir(ctx):
    pod = ctx.pod()
    a = pod.container("a", ["sh", "-c"], ['echo "$A|$FROM_IMAGE|$(pwd)|$0"; sleep 3600', "arg0"],
                      env={"A": "1"}, workdir="/tmp")
    wait_for("a's log line", lambda: "1|yes|/tmp|arg0" in pod.log("a"))
    eq("the image's and the config's env together", pod.sh(a, 'echo "$A $FROM_IMAGE $PATH"'), "1 yes /bin\n")


@case
def workdir_missing_from_image(ctx):
    """A workingDir the image lacks is created (runc does; pods set workingDir freely)."""
    pod = ctx.pod()
    a = pod.container("a", ["sh", "-c", "pwd; sleep 3600"], workdir="/made/by/runtime")
    wait_for("a's log line", lambda: "/made/by/runtime" in pod.log("a"))
    eq("exec's cwd", pod.sh(a, "pwd"), "/made/by/runtime\n")


@case
def exit_codes(ctx):
    pod = ctx.pod()
    shared = ctx.pod("shared", ns=ns_options(pid="POD"))  # a pid 1 cannot be killed from inside
    for p, name, cmd, code, reason in ((pod, "zero", ["true"], 0, "Completed"),
                                       (pod, "three", ["sh", "-c", "exit 3"], 3, "Error"),
                                       (shared, "killed", ["sh", "-c", "kill -9 $$"], 137, "Error")):
        s = p.wait_exited(p.container(name, cmd))
        eq(name + " exit code", s.exit_code, code)
        eq(name + " reason", s.reason, reason)
        check(name + " finished_at set", s.finished_at > 0)


@case
def start_errors(ctx):
    """A missing or non-executable program: StartContainer fails with the OS's words; the
    status says StartError with exit code 128 (what the kubelet shows)."""
    pod = ctx.pod()
    for name, cmd, words in (("missing", ["/no/such/program"], "no such file or directory"),
                             ("notexec", ["/etc/passwd"], "permission denied")):
        cid = pod.container(name, cmd, start=False)
        try:
            ctx.cri.StartContainer(container_id=cid)
            raise AssertionError(name + ": StartContainer succeeded")
        except CRIError as e:
            check(name + ": error names the cause", words in e.details.lower(), e.details)
        s = pod.status(cid).status
        eq(name + " state", s.state, 2)
        eq(name + " exit code", s.exit_code, 128)
        eq(name + " reason", s.reason, "StartError")
        check(name + " message", words in s.message.lower(), s.message)


@case
def oom_killed(ctx):
    pod = ctx.pod()
    a = pod.container("a", ["sh", "-c", 'a=xxxxxxxx; while :; do a="$a$a"; done'],
                      resources={"memory_limit_in_bytes": 32 << 20})
    s = pod.wait_exited(a)
    eq("exit code", s.exit_code, 137)
    eq("reason", s.reason, "OOMKilled")


@case
def oom_score_adj(ctx):
    """resources.oom_score_adj (the kubelet's QoS score) for the container and its execs."""
    pod = ctx.pod()
    a = pod.container("a", SLEEP, resources={"oom_score_adj": 678})
    eq("container", pod.sh(a, "cat /proc/1/oom_score_adj"), "678\n")
    eq("exec (probes, kubectl exec)", pod.sh(a, "cat /proc/self/oom_score_adj"), "678\n")


# ------------------------------------------------------------------------------------------
# exec, attach, logs
# ------------------------------------------------------------------------------------------

@case
def exec_sync(ctx):
    pod = ctx.pod()
    a = pod.container("a", SLEEP, env={"MYVAR": "v"}, workdir="/tmp")
    out, err, code = pod.exec(a, ["sh", "-c", "echo out; echo err >&2; exit 7"])
    eq("stdout", out, "out\n")
    eq("stderr", err, "err\n")
    eq("exit code", code, 7)
    eq("env and cwd of the container", pod.sh(a, 'echo "$MYVAR $FROM_IMAGE $(pwd)"'), "v yes /tmp\n")
    out, err, code = pod.exec(a, ["sh", "-c", "head -c 3000000 /dev/zero | tr '\\0' x"])
    eq("3 MB of stdout", len(out), 3000000)


@case
def exec_sync_errors(ctx):
    """What probes see: a missing program, and a command that outlives its timeout."""
    pod = ctx.pod()
    a = pod.container("a", SLEEP)
    try:
        out, err, code = pod.exec(a, ["/no/such/program"])
        raise AssertionError("exec of a missing program: exit %d, %r %r" % (code, out, err))
    except CRIError as e:
        check("error names the cause", "no such file or directory" in e.details.lower(), e.details)
    try:
        out, err, code = pod.exec(a, ["sleep", "30"], timeout=1)
        raise AssertionError("exec past its timeout returned exit %d" % code)
    except CRIError as e:
        check("the timeout is the error", "timeout 1s exceeded" in e.details, e)
    eq("the container still runs", pod.status(a).status.state, 1)


@case
def exec_streaming(ctx):
    """Exec through the streaming server: stdin, stdout, stderr and the exit code."""
    pod = ctx.pod()
    a = pod.container("a", SLEEP)
    url = ctx.cri.Exec(container_id=a, cmd=["sh", "-c", 'read x; echo "got $x"; echo err >&2; exit 3'],
                       stdin=True, stdout=True, stderr=True).url
    s = Stream(url)
    s.send(b"hello\n")
    eq("exit code", s.wait(), 3)
    eq("stdout", s.out[Stream.STDOUT], b"got hello\n")
    eq("stderr", s.out[Stream.STDERR], b"err\n")
    url = ctx.cri.Exec(container_id=a, cmd=["true"], stdout=True).url
    eq("exit 0", Stream(url).wait(), 0)


@case
def exec_streaming_tty(ctx):
    """Exec with a terminal: it is a pty, and a resize reaches it."""
    pod = ctx.pod()
    a = pod.container("a", SLEEP)
    s = Stream(ctx.cri.Exec(container_id=a, cmd=["sh", "-c", "tty; while read x; do stty size; done"],
                            tty=True, stdin=True, stdout=True).url)
    s.read_until(Stream.STDOUT, b"/dev/pts/")
    s.resize(123, 45)
    for _ in range(30):  # the resize and the lines travel separately: ask until it shows
        s.send(b"\n")
        try:
            s.read_until(Stream.STDOUT, b"45 123", limit=1)
            break
        except AssertionError:
            pass
    check("the new size reaches the terminal", b"45 123" in s.out[Stream.STDOUT], s.out)
    s.send(b"\x04")
    eq("exit after EOF", s.wait(), 0)


@case
def attach(ctx):
    """Attach to a container's stdin/stdout/stderr; what it writes also goes to its log."""
    pod = ctx.pod()
    a = pod.container("a", ["sh", "-c", 'while read l; do echo "echo:$l"; echo "err:$l" >&2; done'], stdin=True)
    s = Stream(ctx.cri.Attach(container_id=a, stdin=True, stdout=True, stderr=True).url)
    s.send(b"one\n")
    s.read_until(Stream.STDOUT, b"echo:one\n")
    s.read_until(Stream.STDERR, b"err:one\n")
    s.close()
    wait_for("the log to hold the attached output", lambda: "echo:one" in pod.log("a") and "err:one" in pod.log("a"))
    eq("stderr in the log", log_lines(pod.log("a"), "stderr"), ["err:one"])


@case
def attach_tty(ctx):
    pod = ctx.pod()
    a = pod.container("a", ["sh"], stdin=True, tty=True)
    s = Stream(ctx.cri.Attach(container_id=a, stdin=True, tty=True, stdout=True).url)
    s.send(b"echo hi-$((40+2))\n")
    s.read_until(Stream.STDOUT, b"hi-42")
    s.close()


@case
def logs(ctx):
    """Log files in the CRI format, both streams; ReopenContainerLog after a rotation."""
    pod = ctx.pod()
    a = pod.container("a", ["sh", "-c", "echo line1; echo errline >&2; echo line2; sleep 3600"])
    wait_for("3 log lines", lambda: pod.log("a").count("\n") >= 3)
    eq("stdout lines", log_lines(pod.log("a"), "stdout"), ["line1", "line2"])
    eq("stderr lines", log_lines(pod.log("a"), "stderr"), ["errline"])
    eq("status log path", pod.status(a).status.log_path, os.path.join(pod.log_dir, "a.log"))
    path = os.path.join(pod.log_dir, "a.log")
    os.rename(path, path + ".1")
    ctx.cri.ReopenContainerLog(container_id=a)
    pod.sh(a, "echo after-rotation > /proc/1/fd/1")
    wait_for("the reopened log", lambda: "after-rotation" in pod.log("a"))
    check("the rotated file keeps the old lines only", "after-rotation" not in open(path + ".1").read())


# ------------------------------------------------------------------------------------------
# stats and resources
# ------------------------------------------------------------------------------------------

@case
def stats(ctx):
    pod = ctx.pod()
    a = pod.container("a", ["sh", "-c", "i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done; sleep 3600"])
    b = pod.container("b", SLEEP)
    st = wait_for("cpu usage of a", lambda: (lambda s: s if s.cpu.usage_core_nano_seconds.value > 0 else None)(
        ctx.cri.ContainerStats(container_id=a).stats))
    eq("stats id", st.attributes.id, a)
    check("memory working set", st.memory.working_set_bytes.value > 0, st.memory)
    check("cpu timestamp", st.cpu.timestamp > 0)
    ids = sorted(s.attributes.id for s in ctx.cri.ListContainerStats(filter={"pod_sandbox_id": pod.id}).stats)
    eq("listed stats", ids, sorted([a, b]))


@case
def update_resources(ctx):
    pod = ctx.pod()
    a = pod.container("a", SLEEP, resources={"memory_limit_in_bytes": 128 << 20, "cpu_period": 100000,
                                              "cpu_quota": 50000, "cpu_shares": 512})
    pid = pod.pid(a)
    files = [("memory", "memory.limit_in_bytes"), ("cpu", "cpu.cfs_quota_us"), ("cpu", "cpu.shares")]

    def host():
        return [read(cgroup_file(pid, c, f)) for c, f in files]
    eq("created with", host(), [str(128 << 20), "50000", "512"])
    ctx.cri.UpdateContainerResources(container_id=a, linux={"memory_limit_in_bytes": 64 << 20, "cpu_period": 100000,
                                                            "cpu_quota": 20000, "cpu_shares": 256})
    eq("updated to", host(), [str(64 << 20), "20000", "256"])
    eq("the container sees its memory limit", pod.sh(a, "cat /sys/fs/cgroup/memory/memory.limit_in_bytes"),
       "%d\n" % (64 << 20))


# ------------------------------------------------------------------------------------------
# stop / remove in every order
# ------------------------------------------------------------------------------------------

TERM_OK = ["sh", "-c", "trap 'exit 0' TERM; echo ready; sleep 3600 & wait"]


@case
def stop_then_remove(ctx):
    """The kubelet's order, a graceful stop, and idempotent repeats."""
    pod = ctx.pod()
    a = pod.container("a", TERM_OK)
    wait_for("the trap to be set", lambda: "ready" in pod.log("a"))
    ctx.cri.StopContainer(container_id=a, timeout=30)
    s = pod.status(a).status
    eq("state", s.state, 2)
    eq("exit code after TERM", s.exit_code, 0)
    eq("reason", s.reason, "Completed")
    ctx.cri.StopContainer(container_id=a, timeout=30)
    ctx.cri.RemoveContainer(container_id=a)
    ctx.cri.RemoveContainer(container_id=a)
    eq("containers", len(ctx.cri.ListContainers(filter={"pod_sandbox_id": pod.id}).containers), 0)
    ctx.cri.StopPodSandbox(pod_sandbox_id=pod.id)
    ctx.cri.StopPodSandbox(pod_sandbox_id=pod.id)
    eq("sandbox state", ctx.cri.PodSandboxStatus(pod_sandbox_id=pod.id).status.state, 1)
    ctx.cri.RemovePodSandbox(pod_sandbox_id=pod.id)
    ctx.cri.RemovePodSandbox(pod_sandbox_id=pod.id)
    pod.removed = True
    eq("pods", [p.id for p in ctx.cri.ListPodSandbox(filter={"id": pod.id}).items], [])


@case
def stop_after_grace(ctx):
    """A process that ignores SIGTERM is killed when the grace period ends."""
    pod = ctx.pod()
    a = pod.container("a", ["sh", "-c", "trap '' TERM; while :; do sleep 1; done"])
    ctx.cri.StopContainer(container_id=a, timeout=1)
    s = pod.status(a).status
    eq("state", s.state, 2)
    eq("exit code", s.exit_code, 137)


@case
def stop_sandbox_first(ctx):
    pod = ctx.pod()
    a = pod.container("a", SLEEP)
    ctx.cri.StopPodSandbox(pod_sandbox_id=pod.id)
    s = pod.status(a).status
    eq("the container is stopped with its pod", s.state, 2)
    eq("exit code", s.exit_code, 137)
    ctx.cri.RemoveContainer(container_id=a)
    ctx.cri.RemovePodSandbox(pod_sandbox_id=pod.id)
    pod.removed = True


@case
def remove_running(ctx):
    """RemoveContainer on a running container, then RemovePodSandbox on a running pod
    with a running container: both forced."""
    pod = ctx.pod()
    a = pod.container("a", SLEEP)
    b = pod.container("b", SLEEP)
    ctx.cri.RemoveContainer(container_id=a)
    eq("left", [c.id for c in ctx.cri.ListContainers(filter={"pod_sandbox_id": pod.id}).containers], [b])
    ctx.cri.RemovePodSandbox(pod_sandbox_id=pod.id)
    pod.removed = True
    left = ctx.cri.ListContainers(filter={"pod_sandbox_id": pod.id}).containers
    eq("containers after the pod's removal", len(left), 0)


@case
def created_never_started(ctx):
    pod = ctx.pod()
    a = pod.container("a", SLEEP, start=False)
    b = pod.container("b", SLEEP, start=False)
    eq("state", pod.status(a).status.state, 0)
    ctx.cri.RemoveContainer(container_id=a)
    ctx.cri.StopPodSandbox(pod_sandbox_id=pod.id)
    eq("b after its pod stopped", pod.status(b).status.state in (0, 2), True)
    ctx.cri.RemovePodSandbox(pod_sandbox_id=pod.id)
    pod.removed = True


@case
def restart_in_pod(ctx):
    """The kubelet's restart: a new container (attempt 1) in the same pod after one exited."""
    pod = ctx.pod()
    a = pod.container("a", ["sh", "-c", "exit 1"])
    pod.wait_exited(a)
    ctx.cri.RemoveContainer(container_id=a)
    b = pod.container("a2", ["sh", "-c", "echo second; sleep 3600"])
    wait_for("the second container's log", lambda: "second" in pod.log("a2"))
    eq("state", pod.status(b).status.state, 1)


# ------------------------------------------------------------------------------------------
# security context
# ------------------------------------------------------------------------------------------

@case
def run_as_user_group(ctx):
    pod = ctx.pod(supplemental_groups=[3000, 4000])
    a = pod.container("a", SLEEP, security={"run_as_user": {"value": 1000}, "run_as_group": {"value": 2000},
                                            "supplemental_groups": [3000, 4000]})
    eq("uid", pod.sh(a, "id -u"), "1000\n")
    eq("gid", pod.sh(a, "id -g"), "2000\n")
    groups = pod.sh(a, "id -G").split()
    for g in ("3000", "4000"):
        check("supplemental group %s" % g, g in groups, groups)
    eq("the container's init", status_field(pod, a, "Uid").split()[0], "1000")
    eq("no capabilities for a non-root user", status_field(pod, a, "CapEff"), "0000000000000000")
    b = pod.container("b", SLEEP, security={"run_as_username": "user"})
    eq("uid by name", pod.sh(b, "id -u"), "1000\n")
    check("the user's groups from /etc/group", "1500" in pod.sh(b, "id -G").split())


@case
def readonly_rootfs(ctx):
    pod = ctx.pod()
    a = pod.container("a", SLEEP, security={"readonly_rootfs": True})
    out, err, code = pod.exec(a, ["touch", "/newfile"])
    check("write to / fails", code != 0 and "read-only" in err.lower(), (code, err))
    pod.sh(a, "echo ok > /dev/shm/ok")


@case
def capabilities(ctx):
    pod = ctx.pod()
    a = pod.container("a", SLEEP)
    eq("the default set", status_field(pod, a, "CapEff"), "00000000a80425fb")
    b = pod.container("b", SLEEP, security={"capabilities": {"add_capabilities": ["NET_ADMIN", "SYS_TIME"],
                                                              "drop_capabilities": ["CHOWN"]}})
    eff = int(status_field(pod, b, "CapEff"), 16)
    check("NET_ADMIN and SYS_TIME added", eff & (1 << 12) and eff & (1 << 25), hex(eff))
    check("CHOWN dropped", not eff & 1, hex(eff))
    out, err, code = pod.exec(b, ["sh", "-c", "touch /tmp/f && chown 1000 /tmp/f"])
    check("chown fails", code != 0 and "not permitted" in err.lower(), (code, err))
    c = pod.container("c", SLEEP, security={"capabilities": {"drop_capabilities": ["ALL"],
                                                              "add_capabilities": ["NET_BIND_SERVICE"]}})
    eq("drop ALL, add one: effective", status_field(pod, c, "CapEff"), "0000000000000400")
    eq("drop ALL, add one: bounding", status_field(pod, c, "CapBnd"), "0000000000000400")


@case
def privileged(ctx):
    pod = ctx.pod(privileged=True)
    a = pod.container("a", SLEEP, privileged=True)
    host_bnd = [l.split()[1] for l in open("/proc/self/status") if l.startswith("CapBnd:")][0]
    eq("every capability the runtime holds", status_field(pod, a, "CapEff"), host_bnd)
    eq("no seccomp", status_field(pod, a, "Seccomp"), "0")
    disk = sorted(d for d in os.listdir("/sys/block") if not d.startswith(("loop", "ram", "zram")))[0]
    pod.sh(a, "test -b /dev/" + disk)
    check("/sys is writable", " rw," in " " + pod.sh(a, "grep ' /sys ' /proc/self/mountinfo").split()[5] + ",")
    check("/proc/timer_list is not masked", pod.sh(a, "wc -c < /proc/timer_list").strip() != "0")
    try:
        pod2 = ctx.pod("unpriv")
        pod2.container("x", SLEEP, privileged=True)
        raise AssertionError("a privileged container in an unprivileged pod was created")
    except CRIError as e:
        check("refused by the pod", "privileged" in e.details, e.details)


@case
def seccomp_runtime_default(ctx):
    pod = ctx.pod()
    a = pod.container("a", SLEEP, security={"seccomp": {"profile_type": "RuntimeDefault"}})
    eq("filter mode", status_field(pod, a, "Seccomp"), "2")
    out, err, code = pod.exec(a, ["unshare", "-U", "true"])
    check("unshare(CLONE_NEWUSER) is refused", code != 0 and "not permitted" in err.lower(), (code, err))
    b = pod.container("b", SLEEP, security={"seccomp": {"profile_type": "Unconfined"}})
    eq("unconfined", status_field(pod, b, "Seccomp"), "0")
    eq("unshare -U unconfined", pod.exec(b, ["unshare", "-U", "true"])[2], 0)


@case
def seccomp_localhost(ctx):
    profile = os.path.join(ctx.env.tmp, "seccomp-deny-mkdir-%s.json" % ctx.handler)
    with open(profile, "w") as f:
        json.dump({"defaultAction": "SCMP_ACT_ALLOW",
                   "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]}, f)
    pod = ctx.pod()
    a = pod.container("a", SLEEP, security={"seccomp": {"profile_type": "Localhost", "localhost_ref": profile}})
    out, err, code = pod.exec(a, ["mkdir", "/tmp/d"])
    check("mkdir is refused by the profile", code != 0 and "not permitted" in err.lower(), (code, err))
    pod.sh(a, "touch /tmp/f")


@case
def no_new_privs(ctx):
    pod = ctx.pod()
    a = pod.container("a", SLEEP, security={"no_new_privs": True})
    b = pod.container("b", SLEEP)
    eq("set", status_field(pod, a, "NoNewPrivs"), "1")
    eq("unset", status_field(pod, b, "NoNewPrivs"), "0")


@case
def masked_and_readonly_paths(ctx):
    pod = ctx.pod()
    a = pod.container("a", SLEEP)
    eq("/proc/timer_list masked", pod.sh(a, "wc -c < /proc/timer_list").strip(), "0")
    eq("/proc/acpi masked", pod.sh(a, "ls -A /proc/acpi"), "")
    eq("/sys/firmware masked", pod.sh(a, "ls -A /sys/firmware"), "")
    opts = pod.sh(a, "grep ' /proc/sys ' /proc/self/mountinfo").split()[5]
    check("/proc/sys read-only", "ro" in opts.split(","), opts)
    b = pod.container("b", SLEEP, security={"masked_paths": ["/proc/version"], "readonly_paths": ["/etc"]})
    eq("a chosen file masked", pod.sh(b, "cat /proc/version"), "")
    out, err, code = pod.exec(b, ["touch", "/etc/x"])
    check("a chosen directory read-only", code != 0 and "read-only" in err.lower(), (code, err))
    check("/proc/timer_list visible when not listed", pod.sh(b, "wc -c < /proc/timer_list").strip() != "0")


# ------------------------------------------------------------------------------------------

def run_one(env, f, col, handler):
    t0 = time.monotonic()
    ctx = Ctx(env, handler)
    res = {"ok": True}
    try:
        f(ctx)
    except Exception as e:
        res = {"ok": False, "detail": "%s\n%s" % (e, traceback.format_exc(limit=3))}
    try:
        ctx.close()
    except Exception as e:
        if res["ok"]:
            res = {"ok": False, "detail": "teardown: %s" % e}
    if not res["ok"] and col == "runc" and f.__name__ in RUNC_FAILS_TOO:
        res = {"ok": True, "note": "runc fails too: " + RUNC_FAILS_TOO[f.__name__]}
    res["seconds"] = time.monotonic() - t0
    print("  %-36s %-8s %s (%.1f s)" % (f.__name__, col, "pass" if res["ok"] else "FAIL", res["seconds"]), flush=True)
    return res


def run_all(env, jobs=3):
    """Every case with runc and with crunner's handler, `jobs` at a time (containerd serves
    them concurrently, as it does a node's pods): [{"case", "runc": {...}, "crunner": {...}}]."""
    only = os.environ.get("CRI_CASES", "").split(",") if os.environ.get("CRI_CASES") else None
    cases = [f for f in CASES if not only or f.__name__ in only]
    cols = (("runc", "runc"), ("crunner", env.crunner_handler))
    with concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = {(f.__name__, col): pool.submit(run_one, env, f, col, handler)
                   for f in cases for col, handler in cols}
        return [dict({"case": f.__name__}, **{col: futures[(f.__name__, col)].result() for col, _ in cols})
                for f in cases]
