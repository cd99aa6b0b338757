"""config-linux.md and runtime-linux.md: namespaces, user namespace mappings, devices,
maskedPaths, readonlyPaths, sysctl, rootfsPropagation, mountLabel, personality, cgroupsPath,
default /dev symlinks and file descriptors."""

import os
import subprocess
import time

import cgroupfs
from harness import Fail, Skip, expect, expect_eq, host_ns
from registry import check

NS_PROC = {"pid": "pid", "network": "net", "ipc": "ipc", "uts": "uts", "mount": "mnt",
           "cgroup": "cgroup", "user": "user"}


def ns_of_container(ctx, b, kinds):
    """{proc ns name: link} as seen by the container process itself."""
    script = "; ".join(f"echo {k} $(readlink /proc/self/ns/{k})" for k in kinds)
    out = ctx.sh_ok(b, script)
    return dict(line.split(" ", 1) for line in out.splitlines())


def ns_check(ctx, typ):
    b = ctx.bundle()
    expect(typ in b.ns_types(), f"fixture lacks {typ}")
    k = NS_PROC[typ]
    got = ns_of_container(ctx, b, [k])[k]
    expect(got != host_ns(k), f"container {k} namespace {got} is the runtime's")


for _typ in ("pid", "network", "ipc", "uts", "mount", "cgroup"):
    def _mk(t):
        @check(f"linux.namespaces.new-{t}", f"config-linux.md namespaces: a {t} entry without path "
               "MUST give the container a new namespace")
        def _(ctx):
            ns_check(ctx, t)
    _mk(_typ)


@check("linux.namespaces.inherit", "config-linux.md namespaces: a type not listed MUST be "
       "inherited from the runtime")
def _(ctx):
    b = ctx.bundle()
    b.set_namespaces([{"type": "pid"}, {"type": "mount"}])
    b.drop_mount("/sys")  # sysfs needs a private network namespace
    b.drop_mount("/sys/fs/cgroup")
    del b.cfg["hostname"]  # a hostname needs a private uts namespace
    got = ns_of_container(ctx, b, ["net", "ipc", "uts", "cgroup"])
    for k, v in got.items():
        expect_eq(v, host_ns(k), f"{k} namespace (not listed, must be the runtime's)")


def hold_ns(ctx, flags):
    """A helper process in new namespaces (unshare FLAGS sleep); returns its pid."""
    p = ctx.spawn_helper(["unshare"] + flags + ["sleep", "100000"])
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if all(os.readlink(f"/proc/{p.pid}/ns/{k}") != host_ns(k)
                   for k in ("net", "uts", "ipc") if f"--{k}" in flags):
                return p.pid
        except OSError:
            pass
        time.sleep(0.05)
    raise Fail("the namespace holder did not start")


@check("linux.namespaces.path", "config-linux.md namespaces: with path, the container process "
       "MUST be placed in that namespace")
def _(ctx):
    pid = hold_ns(ctx, ["--net", "--uts", "--ipc"])
    b = ctx.bundle()
    b.set_namespaces([n for n in b.linux["namespaces"]
                      if n["type"] not in ("network", "uts", "ipc")] +
                     [{"type": "network", "path": f"/proc/{pid}/ns/net"},
                      {"type": "uts", "path": f"/proc/{pid}/ns/uts"},
                      {"type": "ipc", "path": f"/proc/{pid}/ns/ipc"}])
    del b.cfg["hostname"]
    got = ns_of_container(ctx, b, ["net", "uts", "ipc"])
    for k in ("net", "uts", "ipc"):
        expect_eq(got[k], os.readlink(f"/proc/{pid}/ns/{k}"), f"{k} namespace joined by path")


@check("linux.namespaces.path-wrong-type", "config-linux.md namespaces: a path that is not a "
       "namespace of the given type MUST error", negative=True)
def _(ctx):
    pid = hold_ns(ctx, ["--uts"])
    b = ctx.bundle()
    b.set_namespaces([n for n in b.linux["namespaces"] if n["type"] != "network"] +
                     [{"type": "network", "path": f"/proc/{pid}/ns/uts"}])
    ctx.run_fails(b, "a uts namespace path for the network namespace")


@check("linux.namespaces.path-missing", "config-linux.md namespaces: a path that does not exist "
       "MUST error", negative=True)
def _(ctx):
    b = ctx.bundle()
    b.set_namespaces([n for n in b.linux["namespaces"] if n["type"] != "network"] +
                     [{"type": "network", "path": os.path.join(ctx.tmp, "no-such-ns")}])
    ctx.run_fails(b, "a missing namespace path")


@check("linux.namespaces.duplicate", "config-linux.md namespaces: duplicated types MUST error",
       negative=True)
def _(ctx):
    b = ctx.bundle()
    b.linux["namespaces"].append({"type": "uts"})
    ctx.run_fails(b, "two uts namespace entries")


def userns_bundle(ctx):
    b = ctx.bundle()
    b.linux["namespaces"].append({"type": "user"})
    b.linux["uidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
    b.linux["gidMappings"] = [{"containerID": 0, "hostID": 200000, "size": 65536}]
    b.drop_mount("/sys/fs/cgroup")
    # the root of the user namespace must own the rootfs to create mount points in it
    for d, dirs, files in os.walk(b.rootfs):
        for n in [d] + [os.path.join(d, x) for x in dirs + files]:
            st = os.lstat(n)
            os.lchown(n, 100000 + st.st_uid, 200000 + st.st_gid)
    return b


@check("linux.userns.mappings", "config-linux.md user namespace: uidMappings/gidMappings are "
       "the container's uid_map/gid_map")
def _(ctx):
    b = userns_bundle(ctx)
    out = ctx.sh_ok(b, "cat /proc/self/uid_map; echo --; cat /proc/self/gid_map; echo --; "
                    "readlink /proc/self/ns/user; id -u")
    uid_map, gid_map, rest = out.split("--\n")
    expect_eq(uid_map.split(), ["0", "100000", "65536"], "uid_map")
    expect_eq(gid_map.split(), ["0", "200000", "65536"], "gid_map")
    userns, uid = rest.split()
    expect(userns != host_ns("user"), "no new user namespace")
    expect_eq(uid, "0", "uid inside the user namespace")


@check("linux.userns.host-ids", "config-linux.md user namespace: container uid 0 is host uid "
       "hostID (seen from the host)")
def _(ctx):
    b = userns_bundle(ctx)
    b.set_args("sleep", "100000")
    cid, _r = ctx.create(b)
    ctx.start(cid)
    pid = ctx.wait_status(cid, "running")["pid"]
    uid = gid = None
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("Uid:"):
                uid = line.split()[1]
            if line.startswith("Gid:"):
                gid = line.split()[1]
    expect_eq((uid, gid), ("100000", "200000"), "host uid/gid of the container process")


DEFAULT_DEVICES = {"/dev/null": (1, 3), "/dev/zero": (1, 5), "/dev/full": (1, 7),
                   "/dev/random": (1, 8), "/dev/urandom": (1, 9), "/dev/tty": (5, 0)}


def stat_devices(ctx, b, paths):
    """{path: (type, major, minor, mode, uid, gid)} from busybox stat inside the container."""
    out = ctx.sh_ok(b, "stat -c '%n %F %t %T %a %u %g' " + " ".join(paths))
    res = {}
    for line in out.splitlines():
        f = line.split(" ")
        n, typ = f[0], " ".join(f[1:-5])
        res[n] = (typ, int(f[-5], 16), int(f[-4], 16), f[-3], f[-2], f[-1])
    return res


@check("linux.devices.default", "config-linux.md default devices: null zero full random urandom "
       "tty MUST exist with their major/minor")
def _(ctx):
    b = ctx.bundle()
    got = stat_devices(ctx, b, list(DEFAULT_DEVICES))
    for p, (ma, mi) in DEFAULT_DEVICES.items():
        expect(p in got, f"{p} missing")
        expect_eq(got[p][:3], ("character special file", ma, mi), f"{p} type/major/minor")


@check("linux.devices.default-usable", "config-linux.md default devices: usable in the "
       "container (write null, read zero/urandom)")
def _(ctx):
    b = ctx.bundle()
    out = ctx.sh_ok(b, "echo x > /dev/null && head -c 3 /dev/zero | od -An -tx1 && "
                    "head -c 8 /dev/urandom | wc -c")
    expect_eq(out.split(), ["00", "00", "00", "8"], "device I/O")


@check("linux.devices.ptmx", "config-linux.md default devices: /dev/ptmx (to pts/ptmx) and "
       "/dev/pts")
def _(ctx):
    b = ctx.bundle()
    out = ctx.sh_ok(b, "readlink /dev/ptmx || stat -c '%t %T' /dev/ptmx; ls -d /dev/pts")
    first = out.splitlines()[0]
    expect(first in ("pts/ptmx", "/dev/pts/ptmx", "5 2"), f"/dev/ptmx is {first!r}")


@check("linux.devices.symlinks", "runtime-linux.md: /dev/fd, /dev/stdin, /dev/stdout, /dev/stderr "
       "symlinks MUST exist")
def _(ctx):
    b = ctx.bundle()
    out = ctx.sh_ok(b, "for l in fd stdin stdout stderr; do readlink /dev/$l; done")
    expect_eq(out.split(), ["/proc/self/fd", "/proc/self/fd/0", "/proc/self/fd/1",
                            "/proc/self/fd/2"], "/dev symlink targets")


@check("linux.devices.custom", "config-linux.md devices: linux.devices MUST be created with "
       "type, major, minor, fileMode, uid, gid")
def _(ctx):
    b = ctx.bundle()
    b.linux["devices"] = [
        {"path": "/dev/conf-char", "type": "c", "major": 1, "minor": 3, "fileMode": 0o640,
         "uid": 1000, "gid": 2000},
        {"path": "/dev/sub/conf-block", "type": "b", "major": 7, "minor": 200, "fileMode": 0o600,
         "uid": 0, "gid": 0},
        {"path": "/dev/conf-fifo", "type": "p", "fileMode": 0o666},
    ]
    got = stat_devices(ctx, b, ["/dev/conf-char", "/dev/sub/conf-block", "/dev/conf-fifo"])
    expect_eq(got.get("/dev/conf-char"), ("character special file", 1, 3, "640", "1000", "2000"),
              "/dev/conf-char")
    expect_eq(got.get("/dev/sub/conf-block"), ("block special file", 7, 200, "600", "0", "0"),
              "/dev/sub/conf-block")
    typ = got.get("/dev/conf-fifo", ("?",))[0]
    expect(typ in ("fifo", "named pipe"), f"/dev/conf-fifo type {typ!r}")


@check("linux.maskedPaths", "config-linux.md maskedPaths: masked so they cannot be read")
def _(ctx):
    b = ctx.bundle()
    b.linux["maskedPaths"] = ["/proc/timer_list", "/sys/firmware", "/etc/hostname",
                              "/no/such/path"]
    out = ctx.sh_ok(b, "wc -c < /proc/timer_list; ls -A /sys/firmware | wc -l; "
                    "wc -c < /etc/hostname;"
                    " touch /sys/firmware/x 2>/dev/null && echo writable || echo readonly")
    expect_eq(out.split(), ["0", "0", "0", "readonly"],
              "bytes in /proc/timer_list, entries in /sys/firmware, bytes in /etc/hostname, "
              "masked dir writability")


@check("linux.readonlyPaths", "config-linux.md readonlyPaths: read-only in the container")
def _(ctx):
    b = ctx.bundle()
    b.cfg["root"]["readonly"] = False
    b.linux["readonlyPaths"] = ["/proc/sys", "/home", "/no/such/path"]
    out = ctx.sh_ok(b, "(echo 1 > /proc/sys/kernel/domainname) 2>/dev/null && echo w || echo r; "
                    "touch /home/x 2>/dev/null && echo w || echo r; "
                    "touch /root/x 2>/dev/null && echo w || echo r; "
                    "cat /proc/sys/kernel/ostype")
    expect_eq(out.split(), ["r", "r", "w", "Linux"],
              "/proc/sys writable, /home writable, /root writable, /proc/sys readable")


@check("linux.sysctl", "config-linux.md sysctl: kernel parameters set in the container")
def _(ctx):
    b = ctx.bundle()
    b.linux["sysctl"] = {"net.ipv4.ip_forward": "1", "kernel.msgmax": "12345"}
    out = ctx.sh_ok(b, "cat /proc/sys/net/ipv4/ip_forward /proc/sys/kernel/msgmax")
    expect_eq(out.split(), ["1", "12345"], "net.ipv4.ip_forward, kernel.msgmax")
    with open("/proc/sys/kernel/msgmax") as f:
        expect(f.read().strip() != "12345", "the sysctl changed the host's kernel.msgmax")


def root_propagation(ctx, value):
    """The propagation fields of / in the container whose rootfs is a shared tmpfs mount on
    the host (so that shared and slave have a peer group to join)."""
    b = ctx.bundle()
    b.linux["rootfsPropagation"] = value
    src = b.rootfs + ".src"
    os.rename(b.rootfs, src)
    os.makedirs(b.rootfs)
    ctx.mount_tmpfs(b.rootfs, shared=True)
    subprocess.run(["cp", "-a", src + "/.", b.rootfs + "/"], check=True)
    text = ctx.sh_ok(b, "cat /proc/self/mountinfo")
    for line in text.splitlines():
        f = line.split(" - ")[0].split()
        if f[4] == "/":
            return f[6:]
    raise Fail("no / in mountinfo")


PROPAGATION_XFAIL = {"runc": "runc 1.1 makes the mount holding the rootfs private before "
                             "pivot_root (rootfsParentMountPrivate): / never shows the requested "
                             "propagation"}


@check("linux.rootfsPropagation.private", "config-linux.md rootfsPropagation private")
def _(ctx):
    opt = root_propagation(ctx, "private")
    expect(not any(o.startswith(("shared:", "master:")) for o in opt),
           f"/ propagation {opt} is not private")


@check("linux.rootfsPropagation.slave", "config-linux.md rootfsPropagation slave",
       xfail=dict(PROPAGATION_XFAIL, crunner="crunner, like runc, makes the rootfs's parent "
                  "mount private so nothing propagates back to the host; a root with no "
                  "master cannot be a slave (the kernel makes it private)"))
def _(ctx):
    opt = root_propagation(ctx, "slave")
    expect(any(o.startswith("master:") for o in opt), f"/ propagation {opt} is not slave")
    expect(not any(o.startswith("shared:") for o in opt), f"/ propagation {opt} is shared")


@check("linux.rootfsPropagation.shared", "config-linux.md rootfsPropagation shared",
       xfail=PROPAGATION_XFAIL)
def _(ctx):
    opt = root_propagation(ctx, "shared")
    expect(any(o.startswith("shared:") for o in opt), f"/ propagation {opt} is not shared")


@check("linux.rootfsPropagation.unbindable", "config-linux.md rootfsPropagation unbindable",
       xfail=PROPAGATION_XFAIL)
def _(ctx):
    opt = root_propagation(ctx, "unbindable")
    expect("unbindable" in opt, f"/ propagation {opt} is not unbindable")


@check("linux.mountLabel", "config-linux.md mountLabel without SELinux: ignored, or refused "
       "with an error and no container (cannot be applied)", negative=True)
def _(ctx):
    if os.path.exists("/sys/fs/selinux/enforce"):
        raise Skip("SELinux is enabled on this host")
    b = ctx.bundle("true")
    b.linux["mountLabel"] = "system_u:object_r:container_file_t:s0:c1,c2"
    r = ctx.run(b)
    if r.rc != 0:
        ctx.notes.append("refused: " + r.brief()[-80:])
        expect(not any(ctx.state(c) for c in ctx.ids), "a failed run left a container")


@check("linux.personality", "config-linux.md personality (runtime-spec 1.1): LINUX32 domain",
       xfail={"runc": "runc 1.1 implements runtime-spec 1.0.2, which has no personality "
                      "(added in runtime-spec 1.1, runc 1.2)"})
def _(ctx):
    if os.uname().machine not in ("x86_64", "aarch64"):
        raise Skip(f"no 32-bit personality check for {os.uname().machine}")
    b = ctx.bundle("uname", "-m")
    b.cfg["ociVersion"] = "1.1.0"
    b.linux["personality"] = {"domain": "LINUX32"}
    got = ctx.run_ok(b).strip()
    expect(got in ("i686", "i386", "armv8l", "armv7l"), f"uname -m is {got!r} under LINUX32")


@check("linux.cgroupsPath", "config-linux.md cgroupsPath: the container is placed in that cgroup")
def _(ctx):
    b = ctx.bundle("cat", "/proc/self/cgroup")
    cg = f"/crunner-test-conformance-cg-{os.getpid()}"
    b.linux["cgroupsPath"] = cg
    b.linux["namespaces"] = [n for n in b.linux["namespaces"] if n["type"] != "cgroup"]
    for ctrl in ("pids", "memory", "cpu,cpuacct", "devices", "freezer", "unified"):
        ctx.cgroup_dirs.append(f"/sys/fs/cgroup/{ctrl}{cg}")
    ctx.cgroup_dirs.extend(cgroupfs.all_dirs_for(cg))
    lines = ctx.run_ok(b).splitlines()
    paths = {ln.split(":", 2)[1]: ln.split(":", 2)[2] for ln in lines}
    v2_only = set(paths) == {""}  # cgroup v2 host: a single 0::PATH line
    for ctrl in ("",) if v2_only else ("pids", "memory", "devices"):
        expect_eq(paths.get(ctrl), cg, f"{ctrl or 'cgroup2'} cgroup")


@check("linux.fds", "runtime-linux.md: only stdin, stdout and stderr are open in the process")
def _(ctx):
    b = ctx.bundle("ls", "/proc/self/fd")
    fds = set(ctx.run_ok(b).split())
    extra = fds - {"0", "1", "2"}
    # ls itself holds one fd on the directory it lists
    expect(len(extra) <= 1, f"open fds in the container: {sorted(fds, key=int)}")


@check("linux.devices.not-host", "config-linux.md devices: /dev is the runtime's tmpfs, host "
       "devices are not exposed")
def _(ctx):
    b = ctx.bundle()
    out = ctx.sh_ok(b, "ls /dev")
    names = set(out.split())
    for host_only in ("vda", "sda", "kmsg", "mem", "port"):
        expect(host_only not in names, f"host device /dev/{host_only} visible in the container")


@check("linux.namespaces.pid-isolation", "config-linux.md pid namespace: the process is pid 1 "
       "and sees only the container's processes")
def _(ctx):
    b = ctx.bundle()
    # the glob runs in the shell itself; each cat is the shell's only child while it runs
    out = ctx.sh_ok(b, "echo $$; for p in /proc/[0-9]*; do cat $p/comm; done")
    first, *comms = out.split()
    expect_eq(first, "1", "pid of the container process")
    expect(set(comms) <= {"sh", "cat"}, f"processes visible in the container: {comms}")


@check("linux.namespaces.net-isolation", "config-linux.md network namespace: only a loopback "
       "interface")
def _(ctx):
    b = ctx.bundle("ls", "/sys/class/net")
    expect_eq(ctx.run_ok(b).split(), ["lo"], "network interfaces")


@check("linux.namespaces.mount-isolation", "config-linux.md mount namespace: the container's "
       "mounts are not visible in the runtime's namespace")
def _(ctx):
    b = ctx.bundle("sleep", "100000")
    cid, _r = ctx.create(b)
    ctx.start(cid)
    ctx.wait_status(cid, "running")
    with open("/proc/self/mountinfo") as f:
        leaked = [ln for ln in f if os.path.realpath(b.rootfs) in ln]
    expect(not leaked, f"container mounts visible on the host: {leaked[:2]}")


@check("linux.namespaces.cgroup-root", "config-linux.md cgroup namespace: the container sees "
       "its cgroups as /")
def _(ctx):
    b = ctx.bundle("cat", "/proc/self/cgroup")
    paths = {ln.split(":", 2)[2] for ln in ctx.run_ok(b).splitlines()}
    expect_eq(paths, {"/"}, "cgroup paths seen in the container")


@check("linux.userns.devices", "config-linux.md default devices inside a user namespace: "
       "present and usable")
def _(ctx):
    b = userns_bundle(ctx)
    out = ctx.sh_ok(b, "echo x > /dev/null && head -c 2 /dev/zero | od -An -tx1 && "
                    "stat -c '%t %T' /dev/null")
    expect_eq(out.split(), ["00", "00", "1", "3"], "/dev/null and /dev/zero in a user namespace")


@check("linux.sysctl-unknown", "runtime.md create: a sysctl that cannot be applied MUST error",
       negative=True)
def _(ctx):
    b = ctx.bundle()
    b.linux["sysctl"] = {"net.conformance.no_such_key": "1"}
    ctx.run_fails(b, "an unknown sysctl")


@check("linux.devices.existing-mismatch", "config-linux.md devices: an existing file at path that "
       "does not match the device MUST error", negative=True,
       xfail={"runc": "runc 1.1 keeps an existing file at the device path (EEXIST is ignored)"})
def _(ctx):
    b = ctx.bundle()
    with open(os.path.join(b.rootfs, "etc", "conf-dev"), "w") as f:
        f.write("regular file")
    b.linux["devices"] = [{"path": "/etc/conf-dev", "type": "c", "major": 1, "minor": 3,
                           "fileMode": 0o666}]
    ctx.run_fails(b, "a regular file at the device path")


@check("linux.devices.outside-dev", "config-linux.md devices: the path MAY be anywhere in the "
       "container filesystem (outside /dev)")
def _(ctx):
    b = ctx.bundle()
    b.linux["devices"] = [{"path": "/etc/conf-null", "type": "c", "major": 1, "minor": 3,
                           "fileMode": 0o666}]
    got = stat_devices(ctx, b, ["/etc/conf-null"])
    expect_eq(got.get("/etc/conf-null", ())[:3], ("character special file", 1, 3),
              "/etc/conf-null")


@check("linux.namespaces.new-time", "config-linux.md namespaces (runtime-spec 1.2): a time entry "
       "gives the container a new time namespace",
       xfail={"runc": "runc 1.1 implements runtime-spec 1.0.2 and rejects the time namespace "
                      "type (added in runtime-spec 1.2, runc 1.2)"})
def _(ctx):
    if not os.path.exists("/proc/self/ns/time"):
        raise Skip("no time namespaces in this kernel")
    b = ctx.bundle()
    b.cfg["ociVersion"] = "1.2.0"
    b.linux["namespaces"].append({"type": "time"})
    got = ns_of_container(ctx, b, ["time"])["time"]
    expect(got != host_ns("time"), f"container time namespace {got} is the runtime's")


def seccomp_arch():
    return {"x86_64": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
            "aarch64": ["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"]}.get(os.uname().machine)


@check("linux.seccomp.errno", "config-linux.md seccomp: a rule's action and errnoRet are "
       "applied to the named syscalls, others follow defaultAction")
def _(ctx):
    archs = seccomp_arch()
    if not archs:
        raise Skip(f"no seccomp architecture list for {os.uname().machine}")
    b = ctx.bundle()
    b.cfg["root"]["readonly"] = False
    b.linux["seccomp"] = {
        "defaultAction": "SCMP_ACT_ALLOW", "architectures": archs,
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO",
                      "errnoRet": 13}]}
    out = ctx.sh_ok(b, "mkdir /newdir 2>&1; touch /newfile && echo touched")
    expect("Permission denied" in out, f"mkdir was not refused with EACCES (13): {out!r}")
    expect("touched" in out, f"an unlisted syscall was refused: {out!r}")


@check("linux.seccomp.unknown-action", "config-linux.md seccomp: an action that cannot be "
       "mapped MUST error", negative=True)
def _(ctx):
    archs = seccomp_arch()
    if not archs:
        raise Skip(f"no seccomp architecture list for {os.uname().machine}")
    b = ctx.bundle("true")
    b.linux["seccomp"] = {"defaultAction": "SCMP_ACT_CONFORMANCE_BOGUS", "architectures": archs}
    ctx.run_fails(b, "an unknown seccomp action")


@check("linux.userns.path", "config-linux.md namespaces: a user namespace joined by path (its "
       "mappings are the holder's)")
def _(ctx):
    holder = ctx.spawn_helper(["unshare", "--user", "--map-root-user", "sleep", "100000"])
    deadline = time.monotonic() + 30
    uid_map = ""
    while time.monotonic() < deadline:
        try:
            # unshare writes the maps before it execs sleep
            with open(f"/proc/{holder.pid}/comm") as f:
                if f.read().strip() == "sleep":
                    with open(f"/proc/{holder.pid}/uid_map") as f2:
                        uid_map = f2.read().split()
                    break
        except OSError:
            pass
        time.sleep(0.05)
    else:
        raise Fail("the user namespace holder did not start")
    b = ctx.bundle()
    b.linux["namespaces"].append({"type": "user", "path": f"/proc/{holder.pid}/ns/user"})
    b.drop_mount("/sys/fs/cgroup")
    # the holder maps only root: no gid=5 for devpts; the config repeats the joined
    # namespace's mappings (runc requires them; they describe that namespace)
    for m in b.cfg["mounts"]:
        if m["type"] == "devpts":
            m["options"] = [o for o in m["options"] if not o.startswith("gid=")]
    c_id, h_id, size = (int(x) for x in uid_map)
    b.linux["uidMappings"] = [{"containerID": c_id, "hostID": h_id, "size": size}]
    b.linux["gidMappings"] = [{"containerID": c_id, "hostID": h_id, "size": size}]
    out = ctx.sh_ok(b, "readlink /proc/self/ns/user; cat /proc/self/uid_map")
    lines = out.splitlines()
    expect_eq(lines[0], os.readlink(f"/proc/{holder.pid}/ns/user"), "user namespace")
    expect_eq(lines[1].split(), uid_map, "uid_map inside the joined user namespace")
