#!/usr/bin/env python3
"""Namespaces: new ones (pid, net, ipc, uts, mount, cgroup, user, time), joined by path,
hostname/domainname, user namespace id mappings."""

import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

NS_FILES = {"pid": "pid", "network": "net", "ipc": "ipc", "uts": "uts", "mount": "mnt",
            "cgroup": "cgroup", "user": "user", "time": "time"}


def ns_inode(link):
    """'net:[4026531840]' -> 4026531840"""
    return int(link.strip().split("[")[1].rstrip("]"))


def host_ns(kind):
    return ns_inode(os.readlink(f"/proc/self/ns/{NS_FILES[kind]}"))


def show_ns_script(kinds):
    return "; ".join(f"echo {k}=$(readlink /proc/self/ns/{NS_FILES[k]})" for k in kinds)


def parse_ns(out):
    res = {}
    for ln in out.splitlines():
        if "=" in ln and "[" in ln:
            k, v = ln.split("=", 1)
            res[k] = ns_inode(v)
    return res


def set_ns(cfg, kind, path=None):
    nss = [n for n in cfg["linux"]["namespaces"] if n["type"] != kind]
    n = {"type": kind}
    if path:
        n["path"] = path
    nss.append(n)
    cfg["linux"]["namespaces"] = nss


def userns_bundle(t, *args, edit=None):
    """A bundle with a user namespace (0 -> 100000, gid 0 -> 101000), rootfs chowned to it."""
    def both(c):
        userns(c)
        if edit:
            edit(c)
    b = t.bundle(*args, edit=both)
    subprocess.run(["chown", "-R", "-h", "100000:101000", os.path.join(b, "rootfs")],
                   check=True)
    return b


def userns(cfg, host_id=100000, size=65536):
    set_ns(cfg, "user")
    cfg["linux"]["uidMappings"] = [{"containerID": 0, "hostID": host_id, "size": size}]
    cfg["linux"]["gidMappings"] = [{"containerID": 0, "hostID": host_id + 1000, "size": size}]
    # a cgroup v1 mount needs privileges over the host's cgroup hierarchy
    cfg["mounts"] = [m for m in cfg["mounts"] if m["destination"] != "/sys/fs/cgroup"]


@h.case
def hostname_domainname(t):
    def edit(c):
        c["hostname"] = "ns-test-host"
        c["domainname"] = "example.org"
        set_ns(c, "uts")
    rc, out, err = t.run_in(t.cid("uts"), "hostname; cat /proc/sys/kernel/domainname",
                            edit=edit)
    t.eq("hostname", (rc, out.split("\n")[0]), (0, "ns-test-host"))
    # crunner-only: runc 1.1.5 ignores "domainname" (supported from runc 1.2).
    if t.crunner_only():
        t.eq("domainname", out.split("\n")[1:2], ["example.org"])
    t.check("host hostname untouched", os.uname().nodename != "ns-test-host")


@h.case
def new_namespaces(t):
    kinds = ["pid", "network", "ipc", "uts", "mount", "cgroup"]
    rc, out, err = t.run_in(t.cid("new"), "echo pid1=$$; " + show_ns_script(kinds + ["user"]))
    t.require("run", rc == 0, (rc, out, err))
    t.contains("pid 1 inside the new pid namespace", out, "pid1=1\n")
    inside = parse_ns(out)
    for k in kinds:
        t.check(f"new {k} namespace", k in inside and inside[k] != host_ns(k),
                (inside.get(k), host_ns(k)))
    t.eq("no user namespace unless asked", inside.get("user"), host_ns("user"))
    rc, out, err = t.run_in(t.cid("cgns"), "cat /proc/self/cgroup")
    paths = [ln.split(":", 2)[2] for ln in out.splitlines() if ln.count(":") >= 2]
    t.check("cgroup namespace rooted at the container's cgroups", rc == 0 and paths and
            set(paths) == {"/"}, (rc, out, err))
    rc, out, err = t.run_in(t.cid("net"), "ls /sys/class/net; tail -n +3 /proc/net/dev")
    t.eq("new net namespace has only lo (sysfs)", out.split()[:1], ["lo"])
    devs = [ln.split(":")[0].strip() for ln in out.splitlines()[1:] if ":" in ln]
    t.eq("new net namespace has only lo (/proc/net/dev)", devs, ["lo"])
    rc, out, err = t.run_in(t.cid("ps"), "ps -o pid,comm")
    pids = [ln.split()[0] for ln in out.splitlines()[1:] if ln.strip()]
    t.check("only the container's processes are visible", rc == 0 and len(pids) <= 2
            and "1" in pids, (rc, out, err))


@h.case
def shared_namespaces_when_not_listed(t):
    def edit(c):
        c["linux"]["namespaces"] = [n for n in c["linux"]["namespaces"]
                                    if n["type"] in ("pid", "mount")]
        c.pop("hostname", None)  # a hostname needs a private uts namespace
    kinds = ["network", "ipc", "uts"]
    rc, out, err = t.run_in(t.cid("shared"), show_ns_script(kinds), edit=edit)
    inside = parse_ns(out)
    for k in kinds:
        t.eq(f"host {k} namespace kept when not listed", inside.get(k), host_ns(k))


@h.case
def join_netns_by_path(t):
    name = f"crunner-test-{os.getpid()}"
    if subprocess.run(["ip", "netns", "add", name], capture_output=True).returncode != 0:
        t.check("ip netns add", False)
        return
    t.on_cleanup(lambda: subprocess.run(["ip", "netns", "del", name], capture_output=True))
    path = f"/run/netns/{name}"
    # mark the namespace: lo's mtu is 65536 in a fresh one
    subprocess.run(["ip", "netns", "exec", name, "ip", "link", "set", "lo", "mtu", "12345"],
                   check=True)
    rc, out, err = t.run_in(t.cid("joinnet"), show_ns_script(["network"]) +
                            "; cat /sys/class/net/lo/mtu",
                            edit=lambda c: set_ns(c, "network", path))
    t.require("run", rc == 0, (rc, out, err))
    t.eq("same net namespace inode", parse_ns(out).get("network"), os.stat(path).st_ino)
    t.contains("sees the namespace's lo (mtu 12345)", out, "\n12345\n")


@h.case
def join_other_container_namespaces(t):
    b = t.bundle("sleep", "1000", edit=lambda c: c.update(hostname="first"))
    first = t.cid("first")
    t.require("run -d first", t.rt(["run", "-d", "--bundle", b, first])[0] == 0)
    pid = t.state(first)["pid"]
    kinds = ["network", "ipc", "uts"]
    want = {k: ns_inode(os.readlink(f"/proc/{pid}/ns/{NS_FILES[k]}")) for k in kinds}

    def edit(c):
        for k in kinds:
            set_ns(c, k, f"/proc/{pid}/ns/{NS_FILES[k]}")
        c.pop("hostname", None)
    rc, out, err = t.run_in(t.cid("second"), show_ns_script(kinds + ["pid"]) + "; hostname",
                            edit=edit)
    t.require("run second", rc == 0, (rc, out, err))
    got = parse_ns(out)
    for k in kinds:
        t.eq(f"joined {k} of the first container", got.get(k), want[k])
    t.check("own pid namespace", got.get("pid") not in (None, host_ns("pid"),
            ns_inode(os.readlink(f"/proc/{pid}/ns/pid"))), got)
    t.contains("hostname of the joined uts namespace", out, "first\n")


@h.case
def join_pid_namespace(t):
    b = t.bundle("sleep", "1000")
    first = t.cid("pidfirst")
    t.require("run -d first", t.rt(["run", "-d", "--bundle", b, first])[0] == 0)
    pid = t.state(first)["pid"]
    rc, out, err = t.run_in(t.cid("pidjoin"), "echo me=$$; " + show_ns_script(["pid"]) +
                            "; ps -o comm",
                            edit=lambda c: set_ns(c, "pid", f"/proc/{pid}/ns/pid"))
    t.require("run", rc == 0, (rc, out, err))
    t.eq("joined pid namespace", parse_ns(out).get("pid"),
         ns_inode(os.readlink(f"/proc/{pid}/ns/pid")))
    t.check("not pid 1 in a joined pid namespace", "me=1\n" not in out, out)
    t.contains("sees the first container's init", out, "sleep")


@h.case
def join_user_and_pid_namespaces_detached(t):
    """run -d joining another container's user and pid namespaces (a garden pea): the pid
    file names the init in our pid namespace, and when crunner exits the init is
    re-parented to our subreaper (the caller), not to the joined namespace's pid 1."""
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    PR_SET_CHILD_SUBREAPER = 36
    b = userns_bundle(t, "sleep", "1000")
    first = t.cid("userfirst")
    t.require("run -d first", t.rt(["run", "-d", "--bundle", b, first])[0] == 0)
    pid = t.state(first)["pid"]

    def edit(c):
        c["linux"].pop("uidMappings", None)
        c["linux"].pop("gidMappings", None)
        for k in ("user", "pid", "ipc", "uts"):
            set_ns(c, k, f"/proc/{pid}/ns/{NS_FILES[k]}")
        c.pop("hostname", None)
        c["mounts"] = [m for m in c["mounts"] if m["destination"] != "/sys/fs/cgroup"]
    b2 = t.bundle("sleep", "1000", edit=edit)
    subprocess.run(["chown", "-R", "-h", "100000:101000", os.path.join(b2, "rootfs")],
                   check=True)
    second = t.cid("userjoin")
    pidfile = t.path("second.pid")
    libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    try:
        rc, out, err = t.rt(["run", "-d", "--pid-file", pidfile, "--bundle", b2, second])
        t.require("run -d joining user and pid namespaces", rc == 0, (rc, out, err))
        with open(pidfile) as f:
            init = int(f.read())
        t.eq("state pid is the pid file's", t.state(second)["pid"], init)
        t.eq("the pid is ours: it is in the joined pid namespace",
             ns_inode(os.readlink(f"/proc/{init}/ns/pid")),
             ns_inode(os.readlink(f"/proc/{pid}/ns/pid")))
        with open(f"/proc/{init}/status") as f:
            ppid = [ln.split()[1] for ln in f if ln.startswith("PPid:")][0]
        t.eq("re-parented to the caller (our subreaper)", int(ppid), os.getpid())
        t.rt(["delete", "--force", second])
        try:
            os.waitpid(init, 0)
        except ChildProcessError:
            pass
    finally:
        libc.prctl(PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)


@h.case
def user_namespace_mappings(t):
    script = ("id -u; id -g; cat /proc/self/uid_map; echo --; cat /proc/self/gid_map; echo --; "
              + show_ns_script(["user"]) + "; touch /tmp/x && stat -c '%u %g' /tmp/x")

    def edit(c):
        c["mounts"].append({"destination": "/tmp", "type": "tmpfs", "source": "tmpfs",
                            "options": ["nosuid", "nodev"]})
    b = userns_bundle(t, "sh", "-c", script, edit=edit)
    rc, out, err = t.rt(["run", "--bundle", b, t.cid("userns")])
    t.require("run", rc == 0, (rc, out, err))
    parts = out.split("--\n")
    first = parts[0].split("\n")
    t.eq("id -u is 0 inside", first[0], "0")
    t.eq("id -g is 0 inside", first[1], "0")
    t.eq("uid_map", [ln.split() for ln in parts[0].splitlines()[2:]],
         [["0", "100000", "65536"]])
    t.eq("gid_map", [ln.split() for ln in parts[1].splitlines()], [["0", "101000", "65536"]])
    ns = parse_ns(parts[2])
    t.check("new user namespace", ns.get("user") not in (None, host_ns("user")), ns)
    t.contains("files created by root inside are root-owned inside", parts[2], "0 0\n")


@h.case
def user_namespace_host_view(t):
    b = userns_bundle(t, "sleep", "1000")
    cid = t.cid("userhost")
    t.require("run -d", t.rt(["run", "-d", "--bundle", b, cid])[0] == 0)
    pid = t.state(cid)["pid"]
    with open(f"/proc/{pid}/status") as f:
        st = dict(ln.split(":", 1) for ln in f.read().splitlines() if ":" in ln)
    t.eq("host sees mapped uid", st["Uid"].split(), ["100000"] * 4)
    t.eq("host sees mapped gid", st["Gid"].split(), ["101000"] * 4)
    with open(f"/proc/{pid}/uid_map") as f:
        t.eq("uid_map from the host", f.read().split(), ["0", "100000", "65536"])


@h.case
def user_namespace_devices(t):
    # mknod is not allowed in a user namespace: linux.devices are bind-mounted from the host.
    def edit(c):
        c["linux"]["devices"] = [{"path": "/dev/kmsg", "type": "c", "major": 1, "minor": 11,
                                  "fileMode": 0o644, "uid": 0, "gid": 0}]
    b = userns_bundle(t, "sh", "-c", "stat -c '%F|%t|%T' /dev/kmsg /dev/null", edit=edit)
    rc, out, err = t.rt(["run", "--bundle", b, t.cid("userdev")])
    t.eq("linux.devices node in a user namespace", (rc, out.splitlines()[:1]),
         (0, ["character special file|1|b"]))
    t.eq("default devices in a user namespace", out.splitlines()[1:2],
         ["character special file|1|3"])

@h.case
def time_namespace(t):
    # crunner-only: runc 1.1.5 does not support the time namespace (added in runc 1.2).
    if not t.crunner_only():
        print("# time_namespace: skipped (runc 1.1 has no time namespace)")
        return

    def edit(c):
        set_ns(c, "time")
        c["linux"]["timeOffsets"] = {"monotonic": {"secs": 864000, "nanosecs": 0},
                                     "boottime": {"secs": 1728000, "nanosecs": 0}}
    rc, out, err = t.run_in(t.cid("time"), "cat /proc/self/timens_offsets; "
                            "cut -d. -f1 /proc/uptime; " + show_ns_script(["time"]), edit=edit)
    t.require("run", rc == 0, (rc, out, err))
    offs = {ln.split()[0]: ln.split()[1:] for ln in out.splitlines()[:2]}
    t.eq("monotonic offset", offs.get("monotonic"), ["864000", "0"])
    t.eq("boottime offset", offs.get("boottime"), ["1728000", "0"])
    t.check("uptime shifted", int(out.splitlines()[2]) >= 1728000, out)
    t.check("new time namespace", parse_ns(out).get("time") not in (None, host_ns("time")))


def no_mount_namespace(cfg):
    cfg["linux"]["namespaces"] = [n for n in cfg["linux"]["namespaces"] if n["type"] != "mount"]
    cfg["linux"].pop("maskedPaths", None)
    cfg["linux"].pop("readonlyPaths", None)


def mounts_below(path):
    """Mount points strictly below path in our (the host's) mount namespace."""
    return [ln.split()[4] for ln in h.mountinfo() if ln.split()[4].startswith(path + "/")]


def unmount_tree(path):
    """Cleanup: every mount on or below path, topmost first (a runtime that leaves them, as
    runc does, must not leave them to the temp dir's removal)."""
    for _ in range(100):
        ms = [ln.split()[4] for ln in h.mountinfo()
              if ln.split()[4] == path or ln.split()[4].startswith(path + "/")]
        if not ms:
            return
        subprocess.run(["umount", "-l", ms[-1]], check=False)


@h.case
def without_mount_namespace(t):
    # The spec: a namespace not listed is inherited. Without "mount" the container mounts
    # into the host's namespace under its rootfs and runs chrooted there (no pivot_root,
    # "/"'s propagation untouched); exec enters the same root; delete undoes every mount it
    # made and keeps what was mounted there before. runc 1.1.5 runs it too but leaves every
    # mount on the host after delete (crunner-only checks below). crunner refused this
    # config before ("a mount namespace is required").
    script = ("echo mnt=$(readlink /proc/self/ns/mnt); cat /etc/hostname; "
              "test -e /proc/1/cmdline && echo proc-mounted; touch /dev/shm/ready; sleep 1000")
    b = t.bundle("sh", "-c", script, edit=no_mount_namespace)
    rootfs = os.path.realpath(os.path.join(b, "rootfs"))
    os.mkdir(os.path.join(rootfs, "premounted"))
    pre = os.path.join(rootfs, "premounted")
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "crunner-test-pre", pre],
                   check=True)
    t.on_cleanup(lambda: unmount_tree(rootfs))
    cid = t.cid("nomnt")
    t.require("create", t.create(b, cid)[0] == 0, t.read(re.sub(r"[^\w.-]", "_", cid) + ".out"))
    t.require("start", t.rt(["start", cid])[0] == 0)
    t.require("ready", h.wait_for(lambda: os.path.exists(os.path.join(rootfs, "dev/shm/ready")), 30))
    out = t.read(re.sub(r"[^\w.-]", "_", cid) + ".out") or ""
    t.contains("the host's mount namespace", out, f"mnt=mnt:[{host_ns('mount')}]")
    t.contains("chrooted into the rootfs", out, "crunner-fixture")
    t.contains("its /proc mounted", out, "proc-mounted")
    t.check("its mounts are on the host, under the rootfs",
            os.path.join(rootfs, "proc") in mounts_below(rootfs), mounts_below(rootfs))
    rc, out, err = t.rt(["exec", cid, "sh", "-c", "cat /etc/hostname; ls /premounted /dev/shm/ready"])
    if t.crunner_only():  # runc 1.1.5's exec runs in the host's root here
        t.check("exec enters the same root", rc == 0 and "crunner-fixture" in out and
                "/dev/shm/ready" in out, (rc, out, err))
    t.ok("kill", t.rt(["kill", cid, "KILL"]))
    t.require("stopped", t.wait_status(cid, "stopped"))
    t.ok("delete", t.rt(["delete", cid]))
    if t.crunner_only():
        t.eq("delete unmounted what the container mounted", mounts_below(rootfs), [pre])
    t.check("what was mounted before is kept", os.path.ismount(pre))


@h.case
def without_mount_namespace_refusals(t):
    # What would change the host's own mounts needs a private mount namespace (runc refuses
    # masked and readonly paths the same way); a create that fails half-way leaves no mount.
    def masked(c):
        no_mount_namespace(c)
        c["linux"]["maskedPaths"] = ["/proc/kcore"]
    b = t.bundle("true", edit=masked)
    t.on_cleanup(lambda r=os.path.realpath(os.path.join(b, "rootfs")): unmount_tree(r))
    t.fails("maskedPaths refused", t.rt(["run", "--bundle", b, t.cid("masked")]),
            "linux.maskedPaths" if t.crunner_only() else None)
    t.eq("nothing mounted", mounts_below(os.path.realpath(os.path.join(b, "rootfs"))), [])

    def bad_mount(c):
        no_mount_namespace(c)
        c["mounts"].append({"destination": "/data", "type": "bind",
                            "source": "/nonexistent/crunner-test", "options": ["bind"]})
    b = t.bundle("true", edit=bad_mount)
    rootfs = os.path.realpath(os.path.join(b, "rootfs"))
    t.on_cleanup(lambda: unmount_tree(rootfs))
    t.fails("a failing mount fails create", t.rt(["run", "--bundle", b, t.cid("badmnt")]),
            "/nonexistent/crunner-test" if t.crunner_only() else None)
    if t.crunner_only():
        t.eq("the mounts made before it are undone", mounts_below(rootfs), [])


if __name__ == "__main__":
    h.main()
