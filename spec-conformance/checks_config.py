"""config.md: root, mounts, process (args, env, cwd, user, rlimits, capabilities,
noNewPrivileges, oomScoreAdj, terminal false), hostname, domainname."""

import os

from harness import Fail, Skip, expect, expect_eq
from registry import check

CAPS = {
    "CAP_CHOWN": 0, "CAP_DAC_OVERRIDE": 1, "CAP_DAC_READ_SEARCH": 2, "CAP_FOWNER": 3,
    "CAP_FSETID": 4, "CAP_KILL": 5, "CAP_SETGID": 6, "CAP_SETUID": 7, "CAP_SETPCAP": 8,
    "CAP_LINUX_IMMUTABLE": 9, "CAP_NET_BIND_SERVICE": 10, "CAP_NET_BROADCAST": 11,
    "CAP_NET_ADMIN": 12, "CAP_NET_RAW": 13, "CAP_IPC_LOCK": 14, "CAP_IPC_OWNER": 15,
    "CAP_SYS_MODULE": 16, "CAP_SYS_RAWIO": 17, "CAP_SYS_CHROOT": 18, "CAP_SYS_PTRACE": 19,
    "CAP_SYS_PACCT": 20, "CAP_SYS_ADMIN": 21, "CAP_SYS_BOOT": 22, "CAP_SYS_NICE": 23,
    "CAP_SYS_RESOURCE": 24, "CAP_SYS_TIME": 25, "CAP_SYS_TTY_CONFIG": 26, "CAP_MKNOD": 27,
    "CAP_LEASE": 28, "CAP_AUDIT_WRITE": 29, "CAP_AUDIT_CONTROL": 30, "CAP_SETFCAP": 31,
}


def status_fields(text):
    """Parses /proc/self/status output into {field: value}."""
    out = {}
    for line in text.splitlines():
        if ":" in line:
            k, v = line.split(":", 1)
            out[k.strip()] = v.strip()
    return out


def proc_status(ctx, b):
    return status_fields(ctx.sh_ok(b, "cat /proc/self/status"))


def capmask(names):
    m = 0
    for n in names:
        m |= 1 << CAPS[n]
    return m


def mountinfo_line(text, mountpoint):
    """The last mountinfo entry for mountpoint (the visible one): (options, optional fields,
    fstype, super options)."""
    found = None
    for line in text.splitlines():
        pre, _, post = line.partition(" - ")
        f = pre.split()
        if len(f) >= 6 and f[4] == mountpoint:
            found = (f[5].split(","), f[6:], post.split()[0],
                     post.split()[2].split(",") if len(post.split()) > 2 else [])
    if found is None:
        raise Fail(f"{mountpoint} is not a mount point in the container")
    return found


# ---- root --------------------------------------------------------------------------------
@check("root.path", "config.md root.path: the container's root filesystem is root.path")
def _(ctx):
    b = ctx.bundle()
    token = f"token-{os.getpid()}-{id(ctx)}"
    with open(os.path.join(b.rootfs, "conformance-marker"), "w") as f:
        f.write(token)
    expect_eq(ctx.sh_ok(b, "cat /conformance-marker").strip(), token, "marker read in container")


@check("root.path-absolute", "config.md root.path: an absolute path is accepted")
def _(ctx):
    b = ctx.bundle()
    other = os.path.join(ctx.tmp, "elsewhere")
    os.rename(b.rootfs, other)
    b.cfg["root"]["path"] = other
    with open(os.path.join(other, "conformance-marker"), "w") as f:
        f.write("abs")
    expect_eq(ctx.sh_ok(b, "cat /conformance-marker").strip(), "abs", "marker read in container")


@check("root.readonly", "config.md root.readonly true: the root filesystem MUST be read-only")
def _(ctx):
    b = ctx.bundle()
    b.cfg["root"]["readonly"] = True
    out = ctx.sh_ok(b, "touch /newfile 2>/dev/null && echo writable || echo readonly")
    expect_eq(out.strip(), "readonly", "writing to / with readonly true")
    expect(not os.path.exists(os.path.join(b.rootfs, "newfile")), "file created in rootfs")


@check("root.readwrite", "config.md root.readonly false: the root filesystem is writable")
def _(ctx):
    b = ctx.bundle()
    b.cfg["root"]["readonly"] = False
    ctx.sh_ok(b, "touch /newfile")
    expect(os.path.exists(os.path.join(b.rootfs, "newfile")), "file not created in rootfs")


# ---- mounts ------------------------------------------------------------------------------
@check("mounts.order", "config.md mounts: the runtime MUST mount entries in the listed order")
def _(ctx):
    b = ctx.bundle()
    src = os.path.join(ctx.tmp, "src")
    os.makedirs(src)
    with open(os.path.join(src, "marker"), "w") as f:
        f.write("bind")
    b.add_mount("/mnt/a", "tmpfs", "tmpfs", ["size=1m"])
    b.bind(src, "/mnt/a")  # listed later: must be on top
    b.add_mount("/mnt/a/sub", "tmpfs", "tmpfs", ["size=1m"])  # inside the bind
    out = ctx.sh_ok(b, "cat /mnt/a/marker; echo; grep -E ' /mnt/a(/sub)? ' /proc/self/mountinfo")
    lines = out.splitlines()
    expect(lines and lines[0] == "bind", f"the bind mount listed second is not on top: {out!r}")
    points = [ln.split()[4] for ln in lines[1:]]
    expect_eq(points, ["/mnt/a", "/mnt/a", "/mnt/a/sub"], "mount order in mountinfo")


@check("mounts.destination-created", "config.md mounts: a missing destination is created in "
       "the rootfs")
def _(ctx):
    b = ctx.bundle()
    b.add_mount("/new/deep/dir", "tmpfs", "tmpfs", ["size=1m"])
    out = ctx.sh_ok(b, "grep ' /new/deep/dir ' /proc/self/mountinfo | wc -l")
    expect_eq(out.strip(), "1", "mounts at /new/deep/dir")


@check("mounts.ro", "config.md mounts options: ro makes the mount read-only")
def _(ctx):
    b = ctx.bundle()
    b.add_mount("/mnt/ro", "tmpfs", "tmpfs", ["ro", "size=1m"])
    out = ctx.sh_ok(b, "touch /mnt/ro/x 2>/dev/null && echo writable || echo readonly; "
                    "grep ' /mnt/ro ' /proc/self/mountinfo")
    expect_eq(out.splitlines()[0], "readonly", "write to a ro tmpfs")
    expect("ro" in mountinfo_line(out, "/mnt/ro")[0], f"ro missing in mountinfo: {out!r}")


@check("mounts.flags", "config.md mounts options: nosuid, nodev, noexec, noatime applied")
def _(ctx):
    b = ctx.bundle()
    b.add_mount("/mnt/f", "tmpfs", "tmpfs", ["nosuid", "nodev", "noexec", "noatime"])
    opts = mountinfo_line(ctx.sh_ok(b, "cat /proc/self/mountinfo"), "/mnt/f")[0]
    for o in ("nosuid", "nodev", "noexec", "noatime"):
        expect(o in opts, f"{o} missing in mount options {opts}")


@check("mounts.data", "config.md mounts options: filesystem data options (size, mode) passed")
def _(ctx):
    b = ctx.bundle()
    b.add_mount("/mnt/d", "tmpfs", "tmpfs", ["size=2m", "mode=710"])
    out = ctx.sh_ok(b, "stat -c %a /mnt/d; cat /proc/self/mountinfo")
    expect_eq(out.splitlines()[0], "710", "mode of the tmpfs root")
    sup = mountinfo_line(out, "/mnt/d")[3]
    expect("size=2048k" in sup, f"size=2m not in super options {sup}")


@check("mounts.bind", "config.md mounts: bind mounts of a host directory and a host file")
def _(ctx):
    b = ctx.bundle()
    d = os.path.join(ctx.tmp, "bdir")
    os.makedirs(d)
    with open(os.path.join(d, "in-dir"), "w") as f:
        f.write("dir")
    fpath = os.path.join(ctx.tmp, "bfile")
    with open(fpath, "w") as f:
        f.write("file")
    b.bind(d, "/mnt/dir", ["bind", "rw"])
    b.bind(fpath, "/etc/bound-file", ["bind", "ro"])
    out = ctx.sh_ok(b, "cat /mnt/dir/in-dir; echo; cat /etc/bound-file; echo; "
                    "echo new > /mnt/dir/from-container; "
                    "(echo x > /etc/bound-file) 2>/dev/null && echo writable || echo readonly")
    expect_eq(out.split(), ["dir", "file", "readonly"], "bind mount contents")
    expect(os.path.exists(os.path.join(d, "from-container")), "write through a rw bind lost")


@check("mounts.bind-ro", "config.md mounts: rbind + ro is a read-only bind mount")
def _(ctx):
    b = ctx.bundle()
    d = os.path.join(ctx.tmp, "bdir")
    os.makedirs(d)
    b.bind(d, "/mnt/robind", ["rbind", "ro"])
    out = ctx.sh_ok(b, "touch /mnt/robind/x 2>/dev/null && echo writable || echo readonly")
    expect_eq(out.strip(), "readonly", "write to a ro bind mount")
    expect(not os.path.exists(os.path.join(d, "x")), "file created through a ro bind mount")


@check("mounts.types", "config.md mounts: proc, sysfs, tmpfs, devpts, mqueue types")
def _(ctx):
    b = ctx.bundle()
    text = ctx.sh_ok(b, "cat /proc/self/mountinfo")
    for mp, fs in (("/proc", "proc"), ("/sys", "sysfs"), ("/dev", "tmpfs"),
                   ("/dev/pts", "devpts"), ("/dev/shm", "tmpfs"), ("/dev/mqueue", "mqueue")):
        expect_eq(mountinfo_line(text, mp)[2], fs, f"filesystem type at {mp}")


# ---- process -----------------------------------------------------------------------------
@check("process.args", "config.md process.args: argv passed exactly (spaces, quotes, empty)")
def _(ctx):
    b = ctx.bundle()
    b.set_args("sh", "-c", 'for a in "$0" "$@"; do printf "<%s>" "$a"; done', "zero", "a b",
               "'q\"", "", "*")
    expect_eq(ctx.run_ok(b), "<zero><a b><'q\"><><*>", "argv seen by the program")


@check("process.args-path", "config.md process.args: args[0] is resolved like execvp (PATH)")
def _(ctx):
    b = ctx.bundle("echo", "resolved")
    expect_eq(ctx.run_ok(b).strip(), "resolved", "output of `echo` found through PATH")


@check("process.args-empty", "config.md process.args is REQUIRED: an empty args MUST error",
       negative=True)
def _(ctx):
    b = ctx.bundle()
    b.process["args"] = []
    cid, r = ctx.create(b, expect_ok=False)
    if r.rc == 0:
        expect(ctx.rt("start", cid).rc != 0, "create and start with empty args succeeded")


@check("process.env", "config.md process.env: exactly the configured environment")
def _(ctx):
    b = ctx.bundle("env")
    b.process["env"] = ["PATH=/bin:/usr/bin", "FOO=bar baz", "EMPTY=", "EQ=a=b"]
    got = sorted(ctx.run_ok(b).splitlines())
    got = [g for g in got if not g.startswith(("HOME=", "HOSTNAME=", "container="))]
    expect_eq(got, sorted(b.process["env"]), "environment")


@check("process.cwd", "config.md process.cwd: the working directory")
def _(ctx):
    b = ctx.bundle("pwd")
    b.process["cwd"] = "/usr/bin"
    expect_eq(ctx.run_ok(b).strip(), "/usr/bin", "pwd")


@check("process.cwd-relative", "config.md process.cwd MUST be an absolute path: a relative one "
       "is refused", negative=True)
def _(ctx):
    b = ctx.bundle("pwd")
    b.process["cwd"] = "usr/bin"
    ctx.run_fails(b, "a relative process.cwd")


@check("process.apparmorProfile", "config.md process.apparmorProfile: the profile is applied")
def _(ctx):
    try:
        enabled = open("/sys/module/apparmor/parameters/enabled").read().strip() == "Y"
    except OSError:
        enabled = False
    if not enabled:
        raise Skip("AppArmor is not enabled in this kernel")
    b = ctx.bundle("cat", "/proc/self/attr/current")
    b.process["apparmorProfile"] = "unconfined"
    expect_eq(ctx.run_ok(b).strip(), "unconfined", "AppArmor label")


@check("process.selinuxLabel", "config.md process.selinuxLabel: the process label is applied")
def _(ctx):
    if not os.path.exists("/sys/fs/selinux/enforce"):
        raise Skip("SELinux is not enabled on this host")
    raise Skip("no SELinux policy for containers known to this suite")


@check("process.user", "config.md process.user: uid and gid")
def _(ctx):
    b = ctx.bundle()
    b.process["user"] = {"uid": 1000, "gid": 2000}
    st = proc_status(ctx, b)
    expect_eq(st["Uid"].split(), ["1000"] * 4, "Uid (real, effective, saved, fs)")
    expect_eq(st["Gid"].split(), ["2000"] * 4, "Gid (real, effective, saved, fs)")


@check("process.user.additionalGids", "config.md process.user.additionalGids: supplementary "
       "groups")
def _(ctx):
    b = ctx.bundle()
    b.process["user"] = {"uid": 1000, "gid": 1000, "additionalGids": [2000, 3000]}
    groups = set(proc_status(ctx, b)["Groups"].split())
    expect({"2000", "3000"} <= groups, f"Groups {sorted(groups)} lacks 2000 and 3000")
    expect(groups <= {"1000", "2000", "3000"}, f"unexpected extra groups {sorted(groups)}")


@check("process.user.umask", "config.md process.user.umask: the process umask")
def _(ctx):
    b = ctx.bundle()
    b.process["user"] = {"uid": 0, "gid": 0, "umask": 0o27}
    expect_eq(proc_status(ctx, b).get("Umask"), "0027", "Umask")


@check("process.rlimits", "config.md process.rlimits: soft and hard limits set with setrlimit")
def _(ctx):
    b = ctx.bundle()
    b.process["rlimits"] = [{"type": "RLIMIT_NOFILE", "soft": 321, "hard": 654},
                            {"type": "RLIMIT_CORE", "soft": 4096, "hard": 8192},
                            {"type": "RLIMIT_NPROC", "soft": 111, "hard": 222}]
    lim = {}
    for line in ctx.sh_ok(b, "cat /proc/self/limits").splitlines():
        f = line.split()
        if len(f) > 4 and line.startswith("Max "):
            lim[" ".join(f[:-3])] = (f[-3], f[-2])
    expect_eq(lim.get("Max open files"), ("321", "654"), "Max open files")
    expect_eq(lim.get("Max core file size"), ("4096", "8192"), "Max core file size")
    expect_eq(lim.get("Max processes"), ("111", "222"), "Max processes")


@check("process.rlimits-duplicate", "config.md process.rlimits: duplicated types MUST error",
       negative=True,
       xfail={"runc": "runc 1.1 does not check duplicated types (each entry is applied in turn)"})
def _(ctx):
    b = ctx.bundle()
    # decreasing, so that applying both in turn succeeds (raising the hard limit again would
    # fail with EPERM without CAP_SYS_RESOURCE and make a runtime pass by accident)
    b.process["rlimits"] = [{"type": "RLIMIT_NOFILE", "soft": 200, "hard": 200},
                            {"type": "RLIMIT_NOFILE", "soft": 100, "hard": 100}]
    ctx.run_fails(b, "duplicated RLIMIT_NOFILE")


@check("process.rlimits-unknown", "config.md process.rlimits: a type that cannot be mapped MUST "
       "error", negative=True)
def _(ctx):
    b = ctx.bundle()
    b.process["rlimits"] = [{"type": "RLIMIT_CONFORMANCE", "soft": 1, "hard": 1}]
    ctx.run_fails(b, "an unknown rlimit type")


def caps_cfg(bounding, effective, permitted, inheritable, ambient):
    return {"bounding": bounding, "effective": effective, "permitted": permitted,
            "inheritable": inheritable, "ambient": ambient}


@check("process.capabilities.root", "config.md process.capabilities: bounding set exact; "
       "effective within it (uid 0)")
def _(ctx):
    b = ctx.bundle()
    bnd = ["CAP_CHOWN", "CAP_KILL", "CAP_NET_RAW", "CAP_SETUID"]
    b.process["capabilities"] = caps_cfg(bnd, bnd, bnd, [], [])
    st = proc_status(ctx, b)
    expect_eq(int(st["CapBnd"], 16), capmask(bnd), "CapBnd")
    expect_eq(int(st["CapEff"], 16), capmask(bnd), "CapEff")
    expect_eq(int(st["CapPrm"], 16), capmask(bnd), "CapPrm")
    expect_eq(int(st["CapInh"], 16), 0, "CapInh")
    expect_eq(int(st["CapAmb"], 16), 0, "CapAmb")


@check("process.capabilities.ambient", "config.md process.capabilities: all five sets for a "
       "non-root user (ambient kept across exec)")
def _(ctx):
    b = ctx.bundle()
    keep = ["CAP_KILL", "CAP_NET_BIND_SERVICE"]
    bnd = keep + ["CAP_AUDIT_WRITE", "CAP_CHOWN"]
    b.process["user"] = {"uid": 1000, "gid": 1000}
    b.process["capabilities"] = caps_cfg(bnd, keep, keep, keep, keep)
    st = proc_status(ctx, b)
    expect_eq(int(st["CapBnd"], 16), capmask(bnd), "CapBnd")
    expect_eq(int(st["CapInh"], 16), capmask(keep), "CapInh")
    expect_eq(int(st["CapAmb"], 16), capmask(keep), "CapAmb")
    expect_eq(int(st["CapPrm"], 16), capmask(keep), "CapPrm")
    expect_eq(int(st["CapEff"], 16), capmask(keep), "CapEff")


@check("process.capabilities.nonroot-none", "config.md process.capabilities: a non-root user "
       "without ambient capabilities has none after exec")
def _(ctx):
    b = ctx.bundle()
    bnd = ["CAP_KILL", "CAP_NET_BIND_SERVICE"]
    b.process["user"] = {"uid": 1000, "gid": 1000}
    b.process["capabilities"] = caps_cfg(bnd, bnd, bnd, [], [])
    st = proc_status(ctx, b)
    expect_eq(int(st["CapBnd"], 16), capmask(bnd), "CapBnd")
    expect_eq(int(st["CapEff"], 16), 0, "CapEff")
    expect_eq(int(st["CapPrm"], 16), 0, "CapPrm")


@check("process.capabilities.unknown", "config.md process.capabilities: a value that cannot be "
       "mapped to a kernel capability MUST error",
       xfail={"runc": "runc 1.1 ignores unknown capability names (it only logs a warning)",
              "crunner": "crunner does as runc 1.1, which callers rely on (issue 24): ignored "
                         "with runc's warning"},
       negative=True)
def _(ctx):
    b = ctx.bundle()
    b.process["capabilities"]["bounding"].append("CAP_CONFORMANCE_BOGUS")
    ctx.run_fails(b, "an unknown capability")


@check("process.noNewPrivileges", "config.md process.noNewPrivileges true: NoNewPrivs 1")
def _(ctx):
    b = ctx.bundle()
    b.process["noNewPrivileges"] = True
    expect_eq(proc_status(ctx, b).get("NoNewPrivs"), "1", "NoNewPrivs")


@check("process.noNewPrivileges-false", "config.md process.noNewPrivileges false: NoNewPrivs 0")
def _(ctx):
    b = ctx.bundle()
    b.process["noNewPrivileges"] = False
    expect_eq(proc_status(ctx, b).get("NoNewPrivs"), "0", "NoNewPrivs")


@check("process.oomScoreAdj", "config.md process.oomScoreAdj: written to oom_score_adj")
def _(ctx):
    b = ctx.bundle("cat", "/proc/self/oom_score_adj")
    b.process["oomScoreAdj"] = 123
    expect_eq(ctx.run_ok(b).strip(), "123", "oom_score_adj")


@check("process.terminal-false", "config.md process.terminal false: the process inherits the "
       "runtime's stdin, stdout and stderr")
def _(ctx):
    b = ctx.bundle()
    b.sh("read line; echo \"out:$line\"; echo \"err:$line\" >&2")
    r = ctx.run(b, stdin="hello-stdin\n")
    expect(r.rc == 0, f"run failed: {r.brief()}")
    expect_eq(r.out, "out:hello-stdin\n", "stdout")
    expect("err:hello-stdin\n" in r.err, f"stderr {r.err!r} lacks err:hello-stdin")


@check("process.exit-status", "runtime.md run: the program's exit status is reported "
       "(CLI convention shared by runc/crun)")
def _(ctx):
    b = ctx.bundle("sh", "-c", "exit 42")
    r = ctx.run(b)
    expect_eq(r.rc, 42, "exit status of run")


# ---- hostname / domainname -----------------------------------------------------------------
@check("hostname", "config.md hostname: the container's hostname")
def _(ctx):
    b = ctx.bundle("hostname")
    b.cfg["hostname"] = "conformance-host"
    expect_eq(ctx.run_ok(b).strip(), "conformance-host", "hostname")


@check("domainname", "config.md domainname (runtime-spec 1.1): the container's NIS domain name",
       xfail={"runc": "runc 1.1 implements runtime-spec 1.0.2, which has no domainname "
                      "(added in runtime-spec 1.1, runc 1.2)"})
def _(ctx):
    b = ctx.bundle("cat", "/proc/sys/kernel/domainname")
    b.cfg["ociVersion"] = "1.1.0"
    b.cfg["domainname"] = "conformance.example"
    expect_eq(ctx.run_ok(b).strip(), "conformance.example", "domainname")


@check("annotations.accepted", "config.md annotations: arbitrary keys are accepted and reported")
def _(ctx):
    b = ctx.bundle("true")
    b.cfg["annotations"] = {"com.example.key": "value", "org.opencontainers.x": ""}
    cid, _r = ctx.create(b)
    expect_eq(ctx.must_state(cid).get("annotations"), b.cfg["annotations"], "state annotations")


@check("config.unknown-fields", "config.md extensibility: unknown properties MUST be ignored")
def _(ctx):
    b = ctx.bundle("true")
    b.cfg["conformanceUnknown"] = {"x": 1}
    b.process["conformanceUnknown"] = [1, 2]
    b.linux["conformanceUnknown"] = "y"
    ctx.run_ok(b)




@check("process.args-container-path", "config.md process.args: args[0] is looked up in the "
       "container with the process.env PATH")
def _(ctx):
    b = ctx.bundle("conf-prog", "arg")
    os.makedirs(os.path.join(b.rootfs, "opt", "conf"))
    ctx.script(os.path.join(b.rootfs, "opt", "conf", "conf-prog"), 'echo "prog:$1"')
    b.process["env"] = ["PATH=/opt/conf:/bin"]
    expect_eq(ctx.run_ok(b).strip(), "prog:arg", "output of the program found through PATH")


@check("process.rlimits-soft-above-hard", "runtime.md create: an rlimit that cannot be applied "
       "(soft > hard) MUST error", negative=True)
def _(ctx):
    b = ctx.bundle()
    b.process["rlimits"] = [{"type": "RLIMIT_NOFILE", "soft": 2048, "hard": 1024}]
    ctx.run_fails(b, "RLIMIT_NOFILE soft 2048 > hard 1024")


@check("process.user.in-userns", "config.md process.user: uid/gid are container ids, mapped "
       "through the user namespace")
def _(ctx):
    import checks_linux
    b = checks_linux.userns_bundle(ctx)
    b.process["user"] = {"uid": 1000, "gid": 1000}
    b.set_args("sleep", "100000")
    cid, _r = ctx.create(b)
    ctx.start(cid)
    pid = ctx.wait_status(cid, "running")["pid"]
    with open(f"/proc/{pid}/status") as f:
        st = status_fields(f.read())
    expect_eq(st["Uid"].split()[0], "101000", "host uid of container uid 1000")
    expect_eq(st["Gid"].split()[0], "201000", "host gid of container gid 1000")


@check("mounts.destination-in-rootfs", "config.md mounts destination is a path inside the "
       "container: a symlink in the rootfs MUST NOT lead the mount out of it")
def _(ctx):
    b = ctx.bundle()
    b.cfg["root"]["readonly"] = False
    target = os.path.join(ctx.tmp, "host-target")
    os.makedirs(target)
    os.symlink(target, os.path.join(b.rootfs, "escape"))
    b.add_mount("/escape", "tmpfs", "tmpfs", ["size=1m"])
    r = ctx.run(b.sh("echo x > /escape/written"))
    expect(not os.path.exists(os.path.join(target, "written")),
           "the container wrote through the mount into the host directory")
    if r.rc == 0:
        expect(os.path.isdir(os.path.join(b.rootfs, target.lstrip("/"))),
               "the symlink was not resolved inside the rootfs")


@check("mounts.atime", "config.md mounts options: relatime, strictatime, nodiratime")
def _(ctx):
    b = ctx.bundle()
    b.add_mount("/mnt/rel", "tmpfs", "tmpfs", ["relatime"])
    b.add_mount("/mnt/strict", "tmpfs", "tmpfs", ["strictatime", "nodiratime"])
    text = ctx.sh_ok(b, "cat /proc/self/mountinfo")
    rel = mountinfo_line(text, "/mnt/rel")[0]
    strict = mountinfo_line(text, "/mnt/strict")[0]
    expect("relatime" in rel, f"relatime missing in {rel}")
    expect("relatime" not in strict and "noatime" not in strict,
           f"strictatime mount shows {strict}")
    expect("nodiratime" in strict, f"nodiratime missing in {strict}")


@check("mounts.propagation", "config.md mounts options: rprivate, rslave, rshared on bind mounts")
def _(ctx):
    b = ctx.bundle()
    src = os.path.join(ctx.tmp, "shared-src")
    os.makedirs(src)
    ctx.mount_tmpfs(src, shared=True)
    b.bind(src, "/mnt/shared", ["rbind", "rshared"])
    b.bind(src, "/mnt/slave", ["rbind", "rslave"])
    b.bind(src, "/mnt/private", ["rbind", "rprivate"])
    text = ctx.sh_ok(b, "cat /proc/self/mountinfo")
    sh = mountinfo_line(text, "/mnt/shared")[1]
    sl = mountinfo_line(text, "/mnt/slave")[1]
    pr = mountinfo_line(text, "/mnt/private")[1]
    expect(any(o.startswith("shared:") for o in sh), f"/mnt/shared propagation {sh}")
    expect(any(o.startswith("master:") for o in sl) and
           not any(o.startswith("shared:") for o in sl), f"/mnt/slave propagation {sl}")
    expect(not any(o.startswith(("shared:", "master:")) for o in pr),
           f"/mnt/private propagation {pr}")


@check("mounts.bind-relative-source", "config.md mounts source: bind sources are absolute or "
       "relative to the bundle")
def _(ctx):
    b = ctx.bundle()
    os.makedirs(os.path.join(b.path, "rel-src"))
    with open(os.path.join(b.path, "rel-src", "marker"), "w") as f:
        f.write("relative")
    b.bind("rel-src", "/mnt/rel", ["rbind", "ro"])
    b.sh("cat /mnt/rel/marker")
    expect_eq(ctx.run_ok(b).strip(), "relative", "content of the relative bind source")


@check("mounts.bind-by-option", "config.md mounts: a mount is a bind mount if its options have "
       "bind or rbind (whatever the type)")
def _(ctx):
    b = ctx.bundle()
    d = os.path.join(ctx.tmp, "src")
    os.makedirs(d)
    with open(os.path.join(d, "marker"), "w") as f:
        f.write("by-option")
    b.add_mount("/mnt/none", "none", d, ["rbind", "ro"])
    m = b.add_mount("/mnt/notype", "", d, ["bind"])
    del m["type"]
    b.sh("cat /mnt/none/marker; echo; cat /mnt/notype/marker")
    expect_eq(ctx.run_ok(b).split(), ["by-option", "by-option"], "bind mounts by option")


def console_socket(ctx):
    import socket
    path = os.path.join(ctx.tmp, "console.sock")
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
    srv.bind(path)
    srv.listen(1)
    srv.settimeout(60)
    return srv, path


def read_pty(fd, until, timeout=30):
    """Reads the pty master until `until` is seen, EOF/EIO or the timeout."""
    import select
    import time
    data = b""
    deadline = time.monotonic() + timeout
    while until.encode() not in data and time.monotonic() < deadline:
        r, _, _ = select.select([fd], [], [], 0.2)
        if not r:
            continue
        try:
            chunk = os.read(fd, 4096)
        except OSError:  # EIO: the last slave fd was closed
            break
        if not chunk:
            break
        data += chunk
    return data.decode(errors="replace")


@check("process.terminal", "config.md process.terminal true: a pseudoterminal is allocated and "
       "duplicated on the process's standard streams; consoleSize sets its size")
def _(ctx):
    import socket
    b = ctx.bundle()
    b.process["terminal"] = True
    b.process["consoleSize"] = {"height": 37, "width": 101}
    b.sh("for f in 0 1 2; do [ -t $f ] && echo tty$f; done; stty size; tty; echo END")
    b.save()
    srv, path = console_socket(ctx)
    cid = ctx.new_id()
    try:
        r = ctx.rt("create", "--bundle", b.path, "--console-socket", path, cid)
        if r.rc != 0:
            raise Fail(f"create with a console socket failed: {r.brief()}")
        conn, _ = srv.accept()
        with conn:
            conn.settimeout(30)
            _msg, fds, _flags, _addr = socket.recv_fds(conn, 4096, 4)
        expect(len(fds) == 1, f"expected one pty master fd over the console socket, got {fds}")
        master = fds[0]
        try:
            ctx.start(cid)
            out = read_pty(master, "END")
        finally:
            os.close(master)
    finally:
        srv.close()
    lines = [ln.strip() for ln in out.replace("\r", "").splitlines() if ln.strip()]
    expect(lines[:3] == ["tty0", "tty1", "tty2"], f"stdio are not all terminals: {lines}")
    expect("37 101" in lines, f"consoleSize 37x101 not applied (stty size): {lines}")
    expect(any(ln.startswith("/dev/pts/") for ln in lines),
           f"tty is not a /dev/pts device: {lines}")


@check("process.consoleSize-ignored", "config.md process.consoleSize: runtimes MUST ignore it "
       "when terminal is false")
def _(ctx):
    b = ctx.bundle("sh", "-c", "[ -t 1 ] && echo tty || echo notty")
    b.process["terminal"] = False
    b.process["consoleSize"] = {"height": 10, "width": 20}
    expect_eq(ctx.run_ok(b).strip(), "notty", "stdout with terminal false")
