#!/usr/bin/env python3
"""`crunner check`: diagnoses faked hosts (proc/sys/etc trees in temp dirs, given with
--host-root) and the real one; exit 1 only when something required is missing."""

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

V1 = ["cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "pids", "blkio"]


def write(root, rel, text):
    p = os.path.join(root, rel.lstrip("/"))
    os.makedirs(os.path.dirname(p), exist_ok=True)
    with open(p, "w") as f:
        f.write(text)


def fake_host(t, name, mode, release="6.1.0-13-amd64", subuid="", userns_max="15000",
              ns=("mnt", "pid", "net", "ipc", "uts", "cgroup", "user", "time"),
              v2_controllers="cpuset cpu io memory pids", v2_subtree="cpu memory pids",
              selinux=None, apparmor=None, overlay=True, actions="kill_process kill_thread trap errno "
                                                  "user_notif trace log allow"):
    root = t.path(name)
    mi = ["22 1 0:20 / /proc rw - proc proc rw"]
    if mode == "v2":
        mi.append("30 22 0:27 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw")
    elif mode in ("v1", "hybrid"):
        mi.append("30 22 0:27 / /sys/fs/cgroup rw - tmpfs tmpfs rw,mode=755")
        for i, c in enumerate(V1):
            mi.append(f"{31 + i} 30 0:{28 + i} / /sys/fs/cgroup/{c} rw - cgroup cgroup rw,{c}")
        if mode == "hybrid":
            mi.append("40 30 0:37 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw")
    write(root, "/proc/self/mountinfo", "\n".join(mi) + "\n")
    write(root, "/proc/sys/kernel/osrelease", release + "\n")
    write(root, "/proc/sys/user/max_user_namespaces", userns_max + "\n")
    write(root, "/proc/self/status", "Name:\tx\nSeccomp:\t0\n")
    write(root, "/proc/sys/kernel/seccomp/actions_avail", actions + "\n")
    write(root, "/proc/filesystems", "nodev\tproc\n" + ("nodev\toverlay\n" if overlay else ""))
    for n in ns:
        write(root, f"/proc/self/ns/{n}", "")
    if mode == "v2":
        write(root, "/sys/fs/cgroup/cgroup.controllers", v2_controllers + "\n")
        write(root, "/sys/fs/cgroup/cgroup.subtree_control", v2_subtree + "\n")
    if mode == "hybrid":
        write(root, "/sys/fs/cgroup/unified/cgroup.controllers", "hugetlb\n")
    write(root, "/etc/passwd", "root:x:0:0::/root:/bin/sh\n")
    write(root, "/etc/subuid", subuid)
    write(root, "/etc/subgid", subuid)
    if selinux is not None:
        write(root, "/sys/fs/selinux/enforce", selinux)
    if apparmor is not None:  # the profiles list, or False: enabled without securityfs
        write(root, "/sys/module/apparmor/parameters/enabled", "Y\n")
        if apparmor is not False:
            write(root, "/sys/kernel/security/apparmor/profiles", apparmor)
    return root


def check(t, root):
    rc, out, err = t.rt(["check", "--json", "--host-root", root], root=False)
    try:
        j = json.loads(out)
    except ValueError:
        t.check("check --json prints JSON", False, (rc, out, err))
        return rc, {}, {}
    return rc, j, {c["name"]: c for c in j["checks"]}


@h.case
def modes_from_mountinfo(t):
    t.crunner_only()
    for mode, word in (("v2", "cgroup v2"), ("v1", "cgroup v1"), ("hybrid", "hybrid")):
        rc, j, c = check(t, fake_host(t, "host-" + mode, mode))
        t.eq(f"{mode}: usable, exit 0", (rc, j.get("usable")), (0, True))
        t.contains(f"{mode}: mode named", c["cgroups"]["detail"], word)
    rc, j, c = check(t, fake_host(t, "host-v2c", "v2", v2_subtree="memory"))
    t.contains("v2: controllers available listed", c["cgroups"]["detail"],
               "available: cpu cpuset io memory pids")
    t.contains("v2: delegated listed", c["cgroups"]["detail"], "(subtree_control): memory")
    rc, j, c = check(t, fake_host(t, "host-v2m", "v2", v2_controllers="cpu memory"))
    t.eq("v2 missing controllers: warn, still usable", (c["cgroups"]["status"], rc), ("warn", 0))
    t.contains("the missing ones named", c["cgroups"]["detail"], "missing: cpuset io pids")


@h.case
def required_missing_exits_1(t):
    t.crunner_only()
    rc, j, c = check(t, fake_host(t, "host-none", "none"))
    t.eq("no cgroup mount: fail, exit 1", (c["cgroups"]["status"], rc, j["usable"]),
         ("fail", 1, False))
    t.check("with a fix", "mount" in c["cgroups"]["fix"], c["cgroups"])
    rc, j, c = check(t, fake_host(t, "host-nons", "v2", ns=("mnt", "uts")))
    t.eq("missing namespaces: fail, exit 1", (c["namespaces"]["status"], rc), ("fail", 1))
    t.contains("they are named", c["namespaces"]["detail"], "pid net ipc cgroup")


@h.case
def optional_features(t):
    t.crunner_only()
    rc, j, c = check(t, fake_host(t, "host-old", "v2", release="5.4.0", userns_max="0",
                                  actions="kill_process errno allow", overlay=False,
                                  selinux="1"))
    t.eq("old kernel host still usable", rc, 0)
    t.eq("userns disabled: warn", c["user namespaces"]["status"], "warn")
    t.contains("userns fix", c["user namespaces"]["fix"], "max_user_namespaces")
    t.eq("no user_notif: warn", c["seccomp"]["status"], "warn")
    t.eq("no overlay: warn", c["overlayfs"]["status"], "warn")
    t.eq("5.4: no idmapped mounts", c["idmapped mounts"]["status"], "warn")
    t.eq("5.4: CLONE_INTO_CGROUP needs 5.7", c["CLONE_INTO_CGROUP"]["status"], "warn")
    t.contains("selinux enforcing reported", c["selinux"]["detail"], "enforcing")
    rc, j, c = check(t, fake_host(t, "host-new", "v2"))
    t.eq("6.1: idmapped ok", c["idmapped mounts"]["status"], "ok")
    t.eq("6.1 v2: CLONE_INTO_CGROUP used", c["CLONE_INTO_CGROUP"]["status"], "ok")
    t.eq("notify supported", c["seccomp"]["status"], "ok")
    rc, j, c = check(t, fake_host(t, "host-v1", "v1"))
    t.contains("v1: CLONE_INTO_CGROUP does not apply", c["CLONE_INTO_CGROUP"]["detail"],
               "cgroup v2 only")
    t.contains("no apparmor module: not enabled", c["apparmor"]["detail"], "not enabled")
    rc, j, c = check(t, fake_host(t, "host-aa", "v2", apparmor="a (enforce)\nb (complain)\n"))
    t.eq("apparmor with its profiles list: ok", c["apparmor"]["status"], "ok")
    t.contains("and the loaded profiles counted", c["apparmor"]["detail"],
               "enabled: 2 profiles loaded")
    rc, j, c = check(t, fake_host(t, "host-aa-nosecfs", "v2", apparmor=False))
    t.eq("apparmor without securityfs: warn", c["apparmor"]["status"], "warn")
    t.contains("saying what cannot be checked", c["apparmor"]["detail"],
               "securityfs is not mounted")
    t.contains("and how to mount it", c["apparmor"]["fix"], "mount -t securityfs")
    rc, j, c = check(t, fake_host(t, "host-sub", "v2", subuid="root:100000:65536\n"))
    t.contains("subuid ranges of the caller", c["user namespaces"]["detail"],
               "uids 100000+65536")


@h.case
def real_host(t):
    t.crunner_only()
    rc, out, err = t.rt(["check"], root=False)
    t.eq("this host can run containers", rc, 0)
    t.contains("text output names the cgroup mode", out, "cgroups")
    t.contains("and the verdict", out, "this host can run containers")
    rc, out, err = t.rt(["check", "--json"], root=False)
    j = json.loads(out)
    names = [c["name"] for c in j["checks"]]
    want = ["kernel", "cgroups", "namespaces", "user namespaces", "seccomp", "apparmor",
            "selinux", "overlayfs", "idmapped mounts", "CLONE_INTO_CGROUP", "pidfd", "criu",
            "systemd"]
    t.eq("every area checked", names, want)
    t.check("each has a status, detail and fix field",
            all(c["status"] in ("ok", "warn", "fail") and c["detail"] and "fix" in c
                for c in j["checks"]), j)
    mode = h.read_file("/proc/self/mountinfo")
    if " /sys/fs/cgroup/unified " in mode:
        t.contains("this hybrid host is seen as hybrid",
                   next(c for c in j["checks"] if c["name"] == "cgroups")["detail"], "hybrid")
    t.eq("pidfd works here", next(c for c in j["checks"] if c["name"] == "pidfd")["status"],
         "ok")


h.main()
