"""Caller-visible behaviour where crunner follows runc 1.1.5 (issue 14, part 4): how cgroup
hierarchies are found, joining an existing cgroup, events key order, the terminal's group,
kill 0, ps of a stopped container, exec --process defaults, unknown commands, where
createContainer hooks run, the error words callers match, `spec` defaults, the name=systemd
hierarchy, hostname in a joined uts namespace, SELinux labels; a missing process.cwd is created
(found by the CRI suite, tests/cri/).

Every check passes against Debian's runc 1.1.5 too (CRUNNER=$(command -v runc)), except the
ones under crunner_only(), each saying why."""

import json
import os
import select
import shutil
import signal
import subprocess
import time

import harness as h


def cgroup_line(pid, key):
    """The path of pid in the v1 hierarchy whose controllers include key ("" for cgroup2)."""
    for ln in h.read_file(f"/proc/{pid}/cgroup").splitlines():
        parts = ln.split(":", 2)
        if len(parts) == 3 and (key in parts[1].split(",") or (key == "" and parts[1] == "")):
            return parts[2]
    return None


def init_pid(t, cid):
    s = t.state(cid)
    return s["pid"] if s else 0


def sleeper(t, argv=("sleep", "1000")):
    """A host process of ours, killed at cleanup."""
    p = subprocess.Popen(list(argv))
    t.procs.append(p)
    return p


@h.case
def decoy_cgroup_directory(t):
    # A plain directory named like a controller on the /sys/fs/cgroup tmpfs (other software
    # creates these) is not a hierarchy: hierarchies come from mountinfo, as runc finds them.
    # The decoy lives in a private mount namespace: a new tmpfs on /sys/fs/cgroup there, with
    # the host's hierarchies bound into it, so nobody else sees it.
    mounts = [m for m in h.cgroup_mounts() if os.path.dirname(m) == "/sys/fs/cgroup"]
    names = [os.path.basename(m) for m in mounts]
    decoys = [d for d in ("hugetlb", "net_cls,net_prio", "rdma") if d not in names]
    t.require("a controller name free for a decoy", decoys, names)
    fake = t.path("cgfs")
    os.mkdir(fake)
    b = t.bundle("sh", "-c", "echo inside")
    cid = t.cid("decoy")
    script = ["set -e", f"mount -t tmpfs -o mode=755 tmpfs {fake}"]
    for m, n in zip(mounts, names):
        script += [f"mkdir '{fake}/{n}'", f"mount --bind '{m}' '{fake}/{n}'"]
    script += [f"mkdir '{fake}/{d}'" for d in decoys]
    script += [f"mount --move {fake} /sys/fs/cgroup",
               f'exec "$@" --root {t.root} run --bundle {b} {cid}']
    rc, out, err = h.run(["unshare", "-m", "--propagation", "private", "sh", "-c",
                          "\n".join(script), "sh", h.RUNTIME], tmpdir=t.dir)
    t.check("run with decoy directories " + ",".join(decoys), (rc, out) == (0, "inside\n"),
            (rc, out, err))
    t.eq("nothing of the decoy reached the host", [d for d in decoys if os.path.isdir(
        f"/sys/fs/cgroup/{d}") and not os.path.ismount(f"/sys/fs/cgroup/{d}")], [])
    t.check("our cgroups removed", not h.cgroup_dirs_named(cid), h.cgroup_dirs_named(cid))


@h.case
def existing_cgroup_is_joined(t):
    # runc joins an existing cgroup (a caller may have prepared it); its other processes are
    # not the container's: delete kills only the init and leaves a non-empty cgroup in place.
    cid = t.cid("join")
    cg = f"/sys/fs/cgroup/pids/{cid}"
    os.mkdir(cg)
    other = sleeper(t)
    with open(f"{cg}/cgroup.procs", "w") as f:
        f.write(str(other.pid))
    b = t.bundle("sleep", "1000", edit=lambda c: c["linux"].update(cgroupsPath="/" + cid))
    rc, _, err = t.create(b, cid)
    t.require("create in an existing, non-empty cgroup", rc == 0, err)
    if t.crunner_only():  # runc 1.1.5 says nothing (later runc versions warn)
        t.contains("a warning names the cgroup", err, "is not empty: 1 process(es)")
    pid = init_pid(t, cid)
    t.eq("init joined it", cgroup_line(pid, "pids"), "/" + cid)
    t.ok("start", t.rt(["start", cid]))
    rc, out, _ = t.rt(["ps", "--format", "json", cid])
    t.check("ps lists the init", rc == 0 and pid in json.loads(out), out)
    if t.crunner_only():  # runc 1.1.5 lists the devices cgroup, where only the init is
        t.check("ps lists the other process of the cgroup too", other.pid in json.loads(out), out)
    t.ok("delete --force", t.rt(["delete", "--force", cid]))
    t.check("the other process lives on", other.poll() is None)
    t.check("its cgroup stays", os.path.isdir(cg))
    t.eq("state is gone", t.state(cid), None)


@h.case
def frozen_cgroup_is_refused(t):
    cid = t.cid("frozen")
    cg = f"/sys/fs/cgroup/freezer/{cid}"
    t.require("freezer hierarchy", os.path.isdir("/sys/fs/cgroup/freezer"))
    os.mkdir(cg)
    with open(f"{cg}/freezer.state", "w") as f:
        f.write("FROZEN")
    b = t.bundle("true", edit=lambda c: c["linux"].update(cgroupsPath="/" + cid))
    t.fails("create in a frozen cgroup", t.create(b, cid), "unexpectedly frozen")
    t.eq("no state left", t.state(cid), None)
    with open(f"{cg}/freezer.state", "w") as f:
        f.write("THAWED")


@h.case
def events_key_order(t):
    cid = t.cid("events")
    b = t.bundle("sleep", "1000")
    t.require("run -d", t.rt(["run", "-d", "--bundle", b, cid])[0] == 0)
    rc, out, err = t.rt(["events", "--stats", cid])
    t.check("type, id, data (runc's order)",
            rc == 0 and out.startswith('{"type":"stats","id":"%s","data":{' % cid), (out, err))


@h.case
def terminal_keeps_devpts_group(t):
    # runc chowns the pty to the process's uid only; the group stays devpts' gid=5 (tty).
    srv, sock = t.console_listener()

    def edit(c):
        c["process"]["terminal"] = True
        c["process"]["user"] = {"uid": 1000, "gid": 1000}
    b = t.bundle("sh", "-c", "stat -c tty=%u:%g $(tty); sleep 1000", edit=edit)
    cid = t.cid("tty")
    t.require("run -d", t.rt(["run", "-d", "--console-socket", sock, "--bundle", b, cid])[0] == 0)
    _, fds, _ = t.receive_console(srv)
    t.require("master", len(fds) == 1)
    out = b""
    deadline = time.monotonic() + 30
    while b"\n" not in out.split(b"tty=", 1)[-1] and time.monotonic() < deadline:
        r, _, _ = select.select([fds[0]], [], [], 1)
        if r:
            try:
                out += os.read(fds[0], 4096)
            except OSError:
                break
    t.contains("owner 1000, group 5", out.decode(errors="replace"), "tty=1000:5")


@h.case
def kill_zero_ps_stopped_exec_defaults(t):
    cid = t.cid("misc")
    b = t.bundle("sleep", "1000")
    t.require("run -d", t.rt(["run", "-d", "--bundle", b, cid])[0] == 0)
    t.ok("kill ID 0 (signal 0: is it there?)", t.rt(["kill", cid, "0"]))
    proc = t.path("process.json")
    with open(proc, "w") as f:
        json.dump({"args": ["/usr/bin/id"], "cwd": "/", "env": ["PATH=/bin"]}, f)
    rc, out, err = t.rt(["exec", "--process", proc, cid])
    t.eq("exec --process without user runs as 0:0", (rc, out), (0, "uid=0(root) gid=0(root)\n"))
    t.ok("kill KILL", t.rt(["kill", cid, "KILL"]))
    t.require("stopped", t.wait_status(cid, "stopped"))
    rc, out, err = t.rt(["ps", cid])
    t.check("ps of a stopped container: header only", rc == 0 and len(out.splitlines()) == 1
            and "PID" in out, (rc, out, err))
    t.eq("ps --format json of a stopped container", t.rt(["ps", "--format", "json", cid])[:2],
         (0, "null\n"))
    t.fails("kill ID 0 of a stopped container", t.rt(["kill", cid, "0"]), "not running")


@h.case
def unknown_command_help(t):
    rc, out, err = t.rt(["crunner-no-such-command", "-h"])
    t.check("COMMAND -h of an unknown command fails", rc not in (0, None), (rc, out, err))
    t.contains("says so", err, "crunner-no-such-command")
    t.check("plain unknown command fails", t.rt(["crunner-no-such-command"])[0] not in (0, None))


@h.case
def create_container_hook_cwd(t):
    out = t.path("hook-cwd")

    def edit(c):
        c["hooks"] = {"createContainer": [{"path": "/bin/sh",
                                           "args": ["sh", "-c", f"pwd -P > {out}"]}]}
    b = t.bundle("true", edit=edit)
    t.ok("run", t.rt(["run", "--bundle", b, t.cid("hook")], cwd=t.dir))
    t.eq("createContainer hook runs in the rootfs", (t.read("hook-cwd") or "").strip(),
         os.path.realpath(os.path.join(b, "rootfs")))


@h.case
def error_words(t):
    b = t.bundle("true", edit=lambda c: c["hooks"].update(prestart=[{"path": "/bin/false"}])
                 if "hooks" in c else c.update(hooks={"prestart": [{"path": "/bin/false"}]}))
    t.fails("failing hook", t.rt(["run", "--bundle", b, t.cid("hook")]), "error running hook")

    def notify(c):
        c["linux"]["seccomp"] = {
            "defaultAction": "SCMP_ACT_ALLOW", "listenerPath": t.path("nobody.sock"),
            "syscalls": [{"names": ["mkdirat"], "action": "SCMP_ACT_NOTIFY"}]}
    b = t.bundle("true", edit=notify)
    t.fails("no seccomp agent", t.rt(["run", "--bundle", b, t.cid("agent")]),
            "failed to connect with seccomp agent")

    b = t.bundle("true")
    os.symlink("tmp", os.path.join(b, "rootfs", "proc"))
    t.fails("/proc a symlink", t.rt(["run", "--bundle", b, t.cid("proc")]),
            "must be mounted on ordinary directory")

    b = t.bundle("true", edit=lambda c: c["linux"].update(
        namespaces=[n for n in c["linux"]["namespaces"] if n["type"] != "uts"]))
    res = t.rt(["run", "--bundle", b, t.cid("cfg")])
    if t.crunner_only():  # runc 1.1.5: "unable to set hostname without a private UTS namespace"
        t.fails("invalid configuration, then our detail", res,
                "invalid configuration: hostname: requires a uts namespace")
    else:
        t.fails("hostname without a uts namespace", res)


@h.case
def error_words_seccomp_killed_hook(t):
    # A startContainer hook runs in the container after its seccomp filter is loaded; one the
    # filter kills is reported in runc's words: "error running hook ...: signal: bad system
    # call" (crunner said "killed by signal Bad system call").
    def edit(c):
        c["linux"]["seccomp"] = {
            "defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64"],
            "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_KILL"}]}
        c["hooks"] = {"startContainer": [{"path": "/bin/mkdir", "args": ["mkdir", "/tmp/h"]}]}
    b = t.bundle("true", edit=edit)
    cid = t.cid("sckhook")
    res = t.rt(["run", "--bundle", b, cid])
    t.fails("the hook is killed: run fails", res, "error running hook")
    t.contains("runc's words for the signal", res[2] + res[1], "signal: bad system call")
    t.check("said once", (res[2] + res[1]).count("signal: bad system call") == 1, res)
    t.rt(["delete", "--force", cid])
    b = t.bundle("true", edit=lambda c: c.update(
        hooks={"startContainer": [{"path": "/bin/sh", "args": ["sh", "-c", "exit 3"]}]}))
    t.fails("a hook's exit status in runc's words", t.rt(["run", "--bundle", b, t.cid("exhook")]),
            "exit status 3")


@h.case
def error_words_nonempty_cgroup(t):
    # runc 1.1.5 warns "container's cgroup is not empty: N process(es) found" when it joins a
    # cgroup with processes (checked in the devices hierarchy on v1); crunner's warning had
    # the path in the middle of those words.
    cid = t.cid("nonempty")
    other = sleeper(t)
    dirs = []
    for ctrl in ("devices", "pids"):
        d = f"/sys/fs/cgroup/{ctrl}/{cid}"
        os.mkdir(d)
        dirs.append(d)
        with open(f"{d}/cgroup.procs", "w") as f:
            f.write(str(other.pid))

    def cleanup():
        other.kill()
        other.wait()
        for d in dirs:
            h.wait_for(lambda: not h.read_file(f"{d}/cgroup.procs").strip())
            os.rmdir(d)
    t.on_cleanup(cleanup)
    b = t.bundle("true", edit=lambda c: c["linux"].update(cgroupsPath="/" + cid))
    rc, out, err = t.rt(["run", "--bundle", b, cid])
    t.check("runs in the non-empty cgroup", rc == 0, (rc, out, err))
    t.contains("runc's warning words", err, "container's cgroup is not empty: 1 process(es) found")
    t.ok("delete --force", t.rt(["delete", "--force", cid]))
    # runc removes every directory of the container that nothing uses any more; only the two
    # holding the other process stay (crunner left all ten: none was removed when any was busy)
    t.eq("only the busy directories stay", h.cgroup_dirs_named(cid), sorted(dirs))
    t.check("the other process lives on", other.poll() is None)


@h.case
def error_words_unified_on_v1(t):
    # linux.resources.unified on a host with cgroup v1 only: runc's words "invalid
    # configuration: cannot use unified on cgroup v1". A private mount namespace whose
    # /sys/fs/cgroup holds the host's v1 hierarchies and no cgroup2 makes such a host.
    # (On this hybrid host runc refuses unified too; crunner applies it on the unified
    # hierarchy: docs/DESIGN.md section 8.)
    mounts = [m for m in h.cgroup_mounts() if os.path.dirname(m) == "/sys/fs/cgroup" and
              os.path.basename(m) != "unified"]
    fake = t.path("cgfs")
    os.mkdir(fake)
    cid = t.cid("unifv1")
    b = t.bundle("true", edit=lambda c: c["linux"].update(
        resources={"unified": {"pids.max": "10"}}))
    script = ["set -e", f"mount -t tmpfs -o mode=755 tmpfs {fake}"]
    for m in mounts:
        n = os.path.basename(m)
        script += [f"mkdir '{fake}/{n}'", f"mount --bind '{m}' '{fake}/{n}'"]
    script += [f"mount --move {fake} /sys/fs/cgroup",
               f'"$@" --root {t.root} run --bundle {b} {cid} || echo "rc=$?"']
    rc, out, err = h.run(["unshare", "-m", "--propagation", "private", "sh", "-c",
                          "\n".join(script), "sh", h.RUNTIME], tmpdir=t.dir)
    t.check("run fails", rc == 0 and "rc=" in out, (rc, out, err))
    t.contains("runc's words", err, "invalid configuration: cannot use unified on cgroup v1")
    t.check("no cgroup left", not h.cgroup_dirs_named(cid), h.cgroup_dirs_named(cid))
    t.eq("no state left", t.state(cid), None)


@h.case
def spec_defaults(t):
    d = t.path("spec")
    os.mkdir(d)
    t.ok("spec", t.rt(["spec", "--bundle", d]))
    c = t.config(d)
    t.eq("hostname as runc's", c.get("hostname"), "runc")
    v2 = h.read_file("/proc/self/mountinfo").find(" /sys/fs/cgroup cgroup2 ") >= 0 or any(
        ln.split()[4] == "/sys/fs/cgroup" and " - cgroup2 " in ln for ln in h.mountinfo())
    types = [n["type"] for n in c["linux"]["namespaces"]]
    t.eq("a cgroup namespace only on cgroup v2", "cgroup" in types, v2)


@h.case
def name_systemd_hierarchy(t):
    if not any(" - cgroup " in ln and "name=systemd" in ln for ln in h.mountinfo()):
        print("# no name=systemd hierarchy mounted here: nothing to check")
        return
    cid = t.cid("sd")
    b = t.bundle("sleep", "1000")
    t.require("run -d", t.rt(["run", "-d", "--bundle", b, cid])[0] == 0)
    pid = init_pid(t, cid)
    p = cgroup_line(pid, "name=systemd") or ""
    t.check("init in the container's name=systemd cgroup", p.endswith("/" + cid), p)
    pidf = t.path("exec.pid")
    t.ok("exec -d", t.rt(["exec", "-d", "--pid-file", pidf, cid, "sleep", "1000"]))
    ep = int(t.read("exec.pid") or 0)
    t.eq("exec'd process too", cgroup_line(ep, "name=systemd"), p)
    t.ok("delete --force", t.rt(["delete", "--force", cid]))
    t.check("the name=systemd cgroup is removed", not os.path.exists(
        "/sys/fs/cgroup/systemd" + p), p)


@h.case
def hostname_in_joined_uts_namespace(t):
    holder = sleeper(t, ["unshare", "--uts", "sleep", "1000"])
    ns = f"/proc/{holder.pid}/ns/uts"
    t.require("holder in its own uts namespace", h.wait_for(
        lambda: os.readlink(ns) != os.readlink("/proc/self/ns/uts")))
    host = os.uname().nodename

    def edit(c):
        c["hostname"] = "rcd-joined"
        c["linux"]["namespaces"] = [n for n in c["linux"]["namespaces"] if n["type"] != "uts"]
        c["linux"]["namespaces"].append({"type": "uts", "path": ns})
    b = t.bundle("hostname", edit=edit)
    rc, out, err = t.rt(["run", "--bundle", b, t.cid("uts")])
    t.eq("hostname set in the joined namespace", (rc, out), (0, "rcd-joined\n"))
    rc, out, _ = h.run(["nsenter", "-t", str(holder.pid), "-u", "hostname"], tmpdir=t.dir)
    t.eq("seen from its holder", out, "rcd-joined\n")
    t.eq("host hostname unchanged", os.uname().nodename, host)


@h.case
def selinux_labels(t):
    if os.path.exists("/sys/fs/selinux/enforce"):
        print("# SELinux is enabled here: nothing to check")
        return
    for field, edit in (
            ("process.selinuxLabel",
             lambda c: c["process"].update(selinuxLabel="system_u:system_r:container_t:s0")),
            ("linux.mountLabel",
             lambda c: c["linux"].update(mountLabel="system_u:object_r:container_file_t:s0"))):
        b = t.bundle("true", edit=edit)
        res = t.rt(["run", "--bundle", b, t.cid("se")])
        if t.crunner_only():  # runc 1.1.5 ignores labels silently where SELinux is off
            t.fails(f"{field} without SELinux", res, f"{field} `")
            t.contains(f"{field}: says why", res[2], "SELinux is not enabled on this host")


@h.case
def missing_cwd_is_created(t):
    # runc creates a process.cwd the rootfs lacks (as root, before the root is made
    # read-only); Kubernetes pods set workingDir to directories their image does not have.
    def edit(c):
        c["process"]["cwd"] = "/made/by/runtime"
        c["process"]["user"] = {"uid": 1000, "gid": 1000}
        c["root"]["readonly"] = True
    b = t.bundle("sh", "-c", "pwd; stat -c '%u %a' .", edit=edit)
    rc, out, err = t.rt(["run", "--bundle", b, t.cid("cwd")])
    t.eq("run exits 0", rc, 0)
    t.eq("the process starts in the new directory, root's, mode 755", out.split("\n")[:2],
         ["/made/by/runtime", "0 755"])


@h.case
def exec_process_from_pipe(t):
    # runc opens --process like any file: /dev/stdin (a pipe), <(...) and a named fifo work,
    # the fifo read once its writer comes.
    cid = t.cid("procpipe")
    b = t.bundle("sleep", "1000")
    t.require("run -d", t.rt(["run", "-d", "--bundle", b, cid])[0] == 0)

    def proc(word):
        return json.dumps({"args": ["echo", word], "cwd": "/", "env": ["PATH=/bin"]}).encode()

    def through_pipe(flag, word):
        r, w = os.pipe()
        os.write(w, proc(word))
        os.close(w)
        with os.fdopen(r, "rb") as rf:
            return t.rt(["exec", "-p", flag, cid], stdin=rf)
    rc, out, err = through_pipe("/dev/stdin", "from-stdin")
    t.eq("exec -p /dev/stdin (a pipe)", (rc, out), (0, "from-stdin\n"))
    fifo = t.path("process.fifo")
    os.mkfifo(fifo)
    p = subprocess.Popen([h.RUNTIME, "--root", t.root, "exec", "-p", fifo, cid],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    t.procs.append(p)
    with open(fifo, "wb") as f:  # opening blocks until the runtime opened the fifo
        f.write(proc("from-fifo"))
    out, err = p.communicate(timeout=60)
    t.eq("exec -p FIFO: read once the writer closed it", (p.returncode, out.decode()),
         (0, "from-fifo\n"))
    if t.crunner_only():  # runc 1.1.5 opens a file named "-"
        rc, out, err = through_pipe("-", "from-dash")
        t.eq("exec -p - reads stdin", (rc, out), (0, "from-dash\n"))
        t.fails("a device is still refused", t.rt(["exec", "-p", "/dev/zero", cid]),
                "read `/dev/zero`: not a regular file or pipe")


def runc_path(t):
    """Debian's runc, the reference; missing is a failure."""
    r = shutil.which("runc")
    t.require("runc installed (Debian's runc package)", r is not None)
    return r


@h.case
def spec_is_runcs(t):
    # `spec` writes what runc 1.1.5's writes, byte for byte (no seccomp block), with and
    # without --rootless; `spec --seccomp` is crunner's own addition.
    runc = runc_path(t)
    for extra in ([], ["--rootless"]):
        mine, ref = t.path("spec-mine" + "".join(extra)), t.path("spec-runc" + "".join(extra))
        os.mkdir(mine)
        os.mkdir(ref)
        t.ok("spec " + " ".join(extra), t.rt(["spec"] + extra, cwd=mine))
        rc, _, err = h.run([runc, "spec"] + extra, cwd=ref, tmpdir=t.dir)
        t.require("runc spec " + " ".join(extra), rc == 0, err)
        a, b = t.read(os.path.join(mine, "config.json")), t.read(os.path.join(ref, "config.json"))
        t.eq("same JSON as runc's " + " ".join(extra), json.loads(a or "null"),
             json.loads(b or "null"))
        t.eq("same bytes as runc's " + " ".join(extra), a, b)
        t.eq("same mode", oct(os.stat(os.path.join(mine, "config.json")).st_mode),
             oct(os.stat(os.path.join(ref, "config.json")).st_mode))
    if t.crunner_only():
        d = t.path("spec-seccomp")
        os.mkdir(d)
        t.ok("spec --seccomp", t.rt(["spec", "--seccomp", "--bundle", d]))
        t.check("spec --seccomp adds a profile", "seccomp" in t.config(d)["linux"])


SPEC_PROBE = ("grep -E '^(Cap|NoNewPrivs|Seccomp:)' /proc/self/status; ulimit -n; hostname;"
              "id; cat /proc/kcore 2>&1 | wc -c; touch /proc/sys/x 2>&1 | sed 's/^touch: //';"
              "touch /x 2>&1 | sed 's/^touch: //'; ls /dev | sort | tr '\\n' ' ';"
              "awk '{print $2, $3, $4}' /proc/self/mounts | sed 's/,seclabel//' | sort")


@h.case
def spec_config_runs_as_runcs(t):
    # A config from `crunner spec` (terminal off, a probe as args) gives the same view inside
    # under crunner as the config from `runc spec` under runc.
    runc = runc_path(t)
    outs = {}
    for who, argv in (("runc", [runc]), ("crunner", [h.RUNTIME])):
        b = t.bundle(name="spec-" + who)
        os.remove(os.path.join(b, "config.json"))
        rc, _, err = h.run(argv + ["spec"], cwd=b, tmpdir=t.dir)
        t.require(f"{who} spec", rc == 0, err)

        def edit(c):
            c["process"]["terminal"] = False
            c["process"]["args"] = ["sh", "-c", SPEC_PROBE]
        t.edit(b, edit)
        cid = t.cid("spec" + who)
        root = t.path("root-" + who)
        rc, out, err = h.run(argv + ["--root", root, "run", "--bundle", b, cid], tmpdir=t.dir)
        h.run(argv + ["--root", root, "delete", "-f", cid], tmpdir=t.dir)
        t.eq(f"{who}: the spec's config runs", rc, 0)
        outs[who] = out
    t.eq("what the process sees is the same", outs["crunner"].splitlines(),
         outs["runc"].splitlines())


@h.case
def failing_hook_error_once(t):
    # A failing hook's error (with its output) is printed once, as runc prints it: the
    # startContainer one used to come from the init and again from `run`.
    for kind in ("prestart", "createRuntime", "createContainer", "startContainer"):
        mark = f"hook-said-{kind}"
        b = t.bundle("true", edit=lambda c: c.update(hooks={kind: [
            {"path": "/bin/sh", "args": ["sh", "-c", f"echo {mark}; exit 3"]}]}))
        rc, out, err = t.rt(["run", "--bundle", b, t.cid("hook1")])
        t.check(f"{kind}: run fails", rc not in (0, None), (rc, out, err))
        t.eq(f"{kind}: the error (with the hook's output) printed once",
             (out + err).count(mark), 1)


@h.case
def runs_what_runc_runs(t):
    # What runc 1.1.5 runs and callers send: capability names this libcap or kernel does not
    # know (ignored, one warning in runc's words), a relative mount destination (taken from
    # the rootfs's root, with runc's warning), an empty, missing or unknown ociVersion.
    probe = "grep CapBnd /proc/self/status; grep ' /rel/dir ' /proc/self/mounts | cut -d' ' -f3"
    base = t.bundle("sh", "-c", probe)
    rc, want, err = t.rt(["run", "--bundle", base, t.cid("base")])
    t.require("baseline run", rc == 0, err)

    def edit(c):
        caps = c["process"]["capabilities"]
        caps["bounding"] += ["CAP_NO_SUCH", "UNKNOWN_CAP"]
        caps["effective"] += ["CAP_NO_SUCH"]
        c["mounts"].append({"destination": "rel/dir", "type": "tmpfs", "source": "tmpfs"})
    b = t.bundle("sh", "-c", probe, edit=edit)
    rc, out, err = t.rt(["run", "--bundle", b, t.cid("acc")])
    t.eq("runs", rc, 0)
    t.eq("the known capabilities as without the unknown ones", out.splitlines()[:1],
         want.splitlines()[:1])
    t.eq("the relative destination mounted at /rel/dir", out.splitlines()[1:], ["tmpfs"])
    t.contains("capabilities: runc's warning", err,
               "ignoring unknown or unavailable capabilities: [CAP_NO_SUCH UNKNOWN_CAP]")
    t.contains("mount: runc's warning", err, "mount destination rel/dir is not absolute")
    for v in ("", None, "2.0.0", "1.0.2-dev"):
        b = t.bundle("true", edit=lambda c: c.pop("ociVersion") if v is None else
                     c.update(ociVersion=v))
        res = t.rt(["run", "--bundle", b, t.cid("oci")])
        t.ok(f"ociVersion {v!r} runs", res)


@h.case
def no_command_prints_help(t):
    # runc with no command (global flags or not) prints its help and exits 0.
    for extra in ([], ["--root", t.root], ["--debug"]):
        rc, out, err = t.rt(extra, root=False)
        t.eq(f"{extra}: exit 0", rc, 0)
        t.check(f"{extra}: help lists the commands", "spec" in out and "exec" in out, (out, err))


if __name__ == "__main__":
    h.main()
