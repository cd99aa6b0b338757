#!/usr/bin/env python3
"""Root filesystem and mounts: readonly root, tmpfs, bind ro/rw, mount flags, masked and
readonly paths, linux.devices, default devices, sysctl, cwd, symlinks in destinations."""

import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402


def add_mount(dest, typ, source, options):
    def edit(c):
        c["mounts"].append({"destination": dest, "type": typ, "source": source,
                            "options": options})
    return edit


def chain(*fns):
    def edit(c):
        for fn in fns:
            fn(c)
    return edit


def mount_opts(mountinfo_text, dest):
    """Per-mount options + super options of the last mount at dest in a mountinfo dump."""
    found = None
    for ln in mountinfo_text.splitlines():
        f = ln.split()
        if len(f) > 4 and f[4] == dest:
            sep = f.index("-")
            found = {"opts": set(f[5].split(",")), "fstype": f[sep + 1],
                     "super": set(f[sep + 3].split(","))}
    return found


@h.case
def readonly_root(t):
    rc, out, err = t.run_in(t.cid("ro"), "touch /x && echo wrote; touch /dev/x && echo dev-ok")
    t.check("touch / fails on a readonly root", "wrote" not in out, out)
    t.contains("tmpfs on /dev still writable", out, "dev-ok")
    rc, out, err = t.run_in(t.cid("ro2"), "cat /proc/self/mountinfo")
    m = mount_opts(out, "/")
    t.check("root mounted ro", rc == 0 and m and "ro" in m["opts"], (m, out))

    def rw(c):
        c["root"]["readonly"] = False
    b = t.bundle("sh", "-c", "touch /written && echo wrote", edit=rw)
    rc, out, err = t.rt(["run", "--bundle", b, t.cid("rw")])
    t.eq("writable root", (rc, out), (0, "wrote\n"))
    t.check("write reaches the bundle rootfs", os.path.exists(os.path.join(b, "rootfs",
                                                                           "written")))


@h.case
def tmpfs_with_size(t):
    edit = add_mount("/mnt/small", "tmpfs", "tmpfs", ["size=1m", "mode=1777", "nodev"])
    rc, out, err = t.run_in(t.cid("tmpfs"),
                            "cat /proc/self/mountinfo; echo ==; stat -c %a /mnt/small; "
                            "dd if=/dev/zero of=/mnt/small/f bs=1024 count=2048 2>/dev/null "
                            "&& echo fit || echo nospace", edit=edit)
    t.require("run", rc == 0, (rc, out, err))
    mi, rest = out.split("==\n")
    m = mount_opts(mi, "/mnt/small")
    t.check("tmpfs mounted", m and m["fstype"] == "tmpfs", m)
    t.check("size=1024k", m and "size=1024k" in m["super"], m)
    t.check("nodev", m and "nodev" in m["opts"], m)
    t.eq("mode 1777", rest.split("\n")[0], "1777")
    t.contains("2 MiB do not fit", rest, "nospace")


@h.case
def bind_mounts(t):
    host = t.path("hostdir")
    os.mkdir(host)
    with open(os.path.join(host, "from-host"), "w") as f:
        f.write("host-data\n")
    script = ("cat /rw/from-host; echo x > /rw/from-ct && echo rw-write-ok; "
              "cat /ro/from-host; echo x > /ro/nope && echo ro-write-ok; "
              "cat /proc/self/mountinfo")
    edit = chain(add_mount("/rw", "bind", host, ["rbind", "rw"]),
                 add_mount("/ro", "bind", host, ["rbind", "ro", "nosuid", "noexec", "nodev"]))
    rc, out, err = t.run_in(t.cid("bind"), script, edit=edit)
    t.require("run", rc == 0, (rc, out, err))
    t.check("host file visible through both", out.count("host-data\n") == 2, out)
    t.contains("rw bind writable", out, "rw-write-ok")
    t.check("ro bind not writable", "ro-write-ok" not in out, out)
    t.check("write reached the host", os.path.exists(os.path.join(host, "from-ct")))
    t.check("nothing written through ro", not os.path.exists(os.path.join(host, "nope")))
    m = mount_opts(out, "/ro")
    t.check("ro,nosuid,noexec,nodev on the ro bind", m and {"ro", "nosuid", "noexec", "nodev"}
            <= m["opts"], m)
    m = mount_opts(out, "/rw")
    t.check("rw bind is rw", m and "rw" in m["opts"], m)

    hostfile = t.path("hostfile")
    with open(hostfile, "w") as f:
        f.write("single-file\n")
    rc, out, err = t.run_in(t.cid("bindfile"), "cat /etc/bound",
                            edit=add_mount("/etc/bound", "bind", hostfile, ["bind", "ro"]))
    t.eq("file bind mount", (rc, out), (0, "single-file\n"))


@h.case
def mount_flags(t):
    edit = chain(
        add_mount("/m1", "tmpfs", "tmpfs", ["noexec", "nosuid", "nodev", "noatime"]),
        add_mount("/m2", "tmpfs", "tmpfs", ["ro", "nodiratime", "strictatime"]),
        add_mount("/m3", "tmpfs", "tmpfs", ["mode=0710", "uid=1000", "gid=2000", "sync",
                                            "dirsync"]),
        add_mount("/m4", "tmpfs", "tmpfs", ["nosuid", "exec"]),
    )
    script = ("cp /bin/busybox /m1/true && /m1/true && echo m1-exec-ok; "
              "cp /bin/busybox /m4/true && /m4/true && echo m4-exec-ok; "
              "touch /m2/x && echo m2-written; stat -c '%a %u %g' /m3; "
              "cat /proc/self/mountinfo")
    rc, out, err = t.run_in(t.cid("flags"), script, edit=edit)
    t.require("run", rc == 0, (rc, out, err))
    m1, m2, m3 = (mount_opts(out, d) for d in ("/m1", "/m2", "/m3"))
    t.check("noexec,nosuid,nodev,noatime", m1 and {"noexec", "nosuid", "nodev", "noatime"}
            <= m1["opts"], m1)
    t.check("noexec enforced", "m1-exec-ok" not in out, out)
    t.check("ro,nodiratime", m2 and {"ro", "nodiratime"} <= m2["opts"], m2)
    t.check("strictatime: neither relatime nor noatime",
            m2 and not {"relatime", "noatime"} & m2["opts"], m2)
    t.check("ro enforced", "m2-written" not in out, out)
    t.contains("exec allowed", out, "m4-exec-ok")
    t.contains("mode/uid/gid data options", out, "710 1000 2000\n")
    t.check("sync,dirsync", m3 and {"sync", "dirsync"} <= (m3["opts"] | m3["super"]), m3)


@h.case
def bind_vs_rbind(t):
    host = t.path("tree")
    sub = os.path.join(host, "sub")
    os.makedirs(sub)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", sub], check=True)
    t.on_cleanup(lambda: subprocess.run(["umount", "-l", sub], check=False))
    with open(os.path.join(sub, "in-submount"), "w") as f:
        f.write("x")
    edit = chain(add_mount("/rb", "bind", host, ["rbind"]),
                 add_mount("/b", "bind", host, ["bind"]))
    rc, out, err = t.run_in(t.cid("rbind"), "ls /rb/sub; echo ==; ls /b/sub", edit=edit)
    rb, b = out.split("==\n") if "==\n" in out else (out, "")
    t.eq("run", rc, 0)
    t.eq("rbind includes submounts", rb.split(), ["in-submount"])
    t.eq("bind does not", b.split(), [])

@h.case
def standard_mounts(t):
    rc, out, err = t.run_in(t.cid("std"), "cat /proc/self/mountinfo")
    t.require("run", rc == 0, (rc, out, err))
    for dest, fstype in (("/proc", "proc"), ("/dev", "tmpfs"), ("/dev/pts", "devpts"),
                         ("/dev/shm", "tmpfs"), ("/dev/mqueue", "mqueue"), ("/sys", "sysfs")):
        m = mount_opts(out, dest)
        t.check(f"{dest} is {fstype}", m and m["fstype"] == fstype, m)
    m = mount_opts(out, "/sys")
    t.check("/sys ro", m and "ro" in m["opts"], m)
    t.check("no host paths mounted inside",
            h.SOURCE_DIR not in out and os.path.dirname(h.RUNTIME) not in out, out)


@h.case
def masked_paths(t):
    def edit(c):
        c["linux"]["maskedPaths"] += ["/etc/hostname", "/home", "/does/not/exist"]
    # masked /proc files that exist (and are non-empty) on this kernel
    files = [p for p in ("/proc/kcore", "/proc/keys", "/proc/timer_list", "/proc/sched_debug")
             if os.path.exists(p)]
    script = "".join(f"echo {p}=$(cat {p} | wc -c); " for p in files + ["/etc/hostname"])
    script += ("echo firmware=$(ls -A /sys/firmware | wc -l); echo home=$(ls -A /home | wc -l); "
               "touch /home/x && echo masked-written; "
               "cat /proc/self/mountinfo")
    rc, out, err = t.run_in(t.cid("mask"), script, edit=edit)
    t.eq("missing masked path is no error", rc, 0)
    for p in files:
        t.contains(f"{p} reads empty", out, f"{p}=0\n")
    t.contains("masked file in rootfs reads empty", out, "/etc/hostname=0\n")
    t.contains("/sys/firmware empty", out, "firmware=0\n")
    t.contains("masked dir in rootfs empty", out, "home=0\n")
    t.check("masked dir not writable", "masked-written" not in out, out)
    m = mount_opts(out, "/home")
    t.check("masked dir mount is read-only", m and "ro" in m["opts"], m)


@h.case
def readonly_paths(t):
    def edit(c):
        c["root"]["readonly"] = False
        c["linux"]["readonlyPaths"] += ["/etc", "/does/not/exist"]
    script = ("touch /etc/new && echo etc-written; touch /root/new && echo root-ok; "
              # harmless even if it were writable: the container has its own uts namespace
              "echo other > /proc/sys/kernel/hostname && echo procsys-written; "
              "cat /proc/self/mountinfo")
    rc, out, err = t.run_in(t.cid("rop"), script, edit=edit)
    t.require("run", rc == 0, (rc, out, err))
    t.check("readonly path not writable", "etc-written" not in out, out)
    t.contains("other paths writable", out, "root-ok")
    t.check("/proc/sys read-only", "procsys-written" not in out, out)
    paths = ["/proc/sys", "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sysrq-trigger", "/etc"]
    for p in [p for p in paths if not p.startswith("/proc/") or os.path.exists(p)]:
        m = mount_opts(out, p)
        t.check(f"{p} mounted ro", m and "ro" in m["opts"], m)


@h.case
def linux_devices(t):
    def edit(c):
        c["linux"]["devices"] = [
            {"path": "/dev/mychar", "type": "c", "major": 1, "minor": 3, "fileMode": 0o640,
             "uid": 0, "gid": 0},
            {"path": "/dev/sub/myblk", "type": "b", "major": 7, "minor": 200,
             "fileMode": 0o600, "uid": 1000, "gid": 1000},
        ]
    rc, out, err = t.run_in(t.cid("dev"), "stat -c '%n|%F|%t|%T|%a|%u|%g' /dev/mychar "
                            "/dev/sub/myblk", edit=edit)
    t.require("run", rc == 0, (rc, out, err))
    lines = out.splitlines()
    t.eq("char device", lines[0:1], ["/dev/mychar|character special file|1|3|640|0|0"])
    t.eq("block device (hex major/minor)", lines[1:2],
         ["/dev/sub/myblk|block special file|7|c8|600|1000|1000"])


@h.case
def default_devices(t):
    devs = {"null": (1, 3), "zero": (1, 5), "full": (1, 7), "random": (1, 8),
            "urandom": (1, 9), "tty": (5, 0)}
    script = ("for d in null zero full random urandom tty; do "
              "stat -c '%n|%F|%t|%T' /dev/$d; done; "
              "for l in ptmx fd stdin stdout stderr; do echo $l=$(readlink /dev/$l); done; "
              "echo x > /dev/null && echo null-ok; head -c 3 /dev/zero | wc -c; "
              "echo x > /dev/full || echo full-enospc; head -c 8 /dev/urandom | wc -c")
    rc, out, err = t.run_in(t.cid("ddev"), script)
    t.require("run", rc == 0, (rc, out, err))
    for name, (ma, mi) in devs.items():
        t.contains(f"/dev/{name}", out, f"/dev/{name}|character special file|{ma:x}|{mi:x}\n")
    for link, target in (("ptmx", "pts/ptmx"), ("fd", "/proc/self/fd"),
                         ("stdin", "/proc/self/fd/0"), ("stdout", "/proc/self/fd/1"),
                         ("stderr", "/proc/self/fd/2")):
        t.contains(f"/dev/{link} symlink", out, f"{link}={target}\n")
    t.contains("/dev/null usable", out, "null-ok")
    t.contains("/dev/full gives ENOSPC", out, "full-enospc")
    t.check("/dev/zero and /dev/urandom readable", "\n3\n" in out and out.endswith("\n8\n"),
            out)


@h.case
def sysctl(t):
    with open("/proc/sys/net/ipv4/ip_forward") as f:
        host_before = f.read()

    def edit(c):
        c["linux"]["sysctl"] = {"net.ipv4.ip_forward": "1", "kernel.shm_rmid_forced": "1",
                                "net.ipv4.ping_group_range": "0 0"}
    rc, out, err = t.run_in(t.cid("sysctl"), "cat /proc/sys/net/ipv4/ip_forward "
                            "/proc/sys/kernel/shm_rmid_forced /proc/sys/net/ipv4/ping_group_range",
                            edit=edit)
    t.eq("sysctl values inside", (rc, out.split()), (0, ["1", "1", "0", "0"]))
    with open("/proc/sys/net/ipv4/ip_forward") as f:
        t.eq("host value unchanged", f.read(), host_before)
    rc, out, err = t.run_in(t.cid("sysctlbad"), "true",
                            edit=lambda c: c["linux"].update(sysctl={"net.ipv4.no_such": "1"}))
    t.check("unknown sysctl fails", rc not in (0, None), (rc, out, err))


@h.case
def cwd(t):
    for d in ("/etc", "/home/user", "/"):
        rc, out, err = t.run_in(t.cid("cwd"), "pwd",
                                edit=lambda c, d=d: c["process"].update(cwd=d))
        t.eq(f"cwd {d}", (rc, out), (0, d + "\n"))


@h.case
def symlink_destination_stays_inside(t):
    # A mount destination through an absolute symlink pointing "outside" must resolve inside
    # the rootfs: nothing may be created or mounted on the host.
    target = t.path("escaped-target")
    b = t.bundle("sh", "-c", f"grep -c ' {target}/sub ' /proc/self/mountinfo; ls -d {target}/sub",
                 edit=add_mount("/esc/sub", "tmpfs", "tmpfs", ["size=64k"]))
    os.symlink("/../../../.." + target, os.path.join(b, "rootfs", "esc"))
    before = h.mountinfo()
    rc, out, err = t.rt(["run", "--bundle", b, t.cid("esc")])
    t.eq("run", rc, 0)
    t.check("mounted where the symlink resolves inside the rootfs", out.startswith("1\n"),
            (out, err))
    t.check("nothing created on the host", not os.path.exists(target))
    t.check("created inside the rootfs", os.path.isdir(os.path.join(b, "rootfs",
                                                                    target.lstrip("/"), "sub")))
    t.check("no host mount", not [ln for ln in h.mountinfo() if target in ln], before)


@h.case
def slave_propagation_from_host(t):
    # A bind with "rslave" receives mounts the host makes later under its source (the source
    # is made a shared mount of our own here, and unmounted at cleanup).
    host = t.path("shared")
    os.mkdir(host)
    os.mkdir(os.path.join(host, "sub"))
    subprocess.run(["mount", "--bind", host, host], check=True)
    t.on_cleanup(lambda: subprocess.run(["umount", "-R", "-l", host], check=False))
    subprocess.run(["mount", "--make-rshared", host], check=True)
    script = ("i=0; while ! grep -q ' /data/sub ' /proc/self/mountinfo; do sleep 0.2; "
              "i=$((i+1)); [ $i -gt 600 ] && exit 1; done; cat /data/sub/marker")

    def edit(c):
        c["linux"]["rootfsPropagation"] = "rslave"
        c["mounts"].append({"destination": "/data", "type": "bind", "source": host,
                            "options": ["rbind", "rslave"]})
    b = t.bundle("sh", "-c", script, edit=edit)
    cid = t.cid("slave")
    t.require("create", t.create(b, cid)[0] == 0)
    t.ok("start", t.rt(["start", cid]))
    t.require("running", t.wait_status(cid, "running") or t.status(cid) == "stopped")
    sub = os.path.join(host, "sub")
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", sub], check=True)
    with open(os.path.join(sub, "marker"), "w") as f:
        f.write("propagated\n")
    t.check("container exits", t.wait_status(cid, "stopped", timeout=150), t.state(cid))
    t.eq("host mount propagated into the container", t.read(cid + ".out"), "propagated\n")


if __name__ == "__main__":
    h.main()
