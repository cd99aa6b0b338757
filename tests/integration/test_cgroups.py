#!/usr/bin/env python3
"""Cgroups through the CLI on real containers: limits that bite (OOM kill + oom event, pids,
cpu throttling, devices), pause/resume, update (single flags, --resources FILE and -), ps,
events --stats, kill --all, and delete leaving no cgroup directory in any hierarchy.

The cgroup mode is detected from the filesystem type of /sys/fs/cgroup (statfs): cgroup2 ->
pure v2 (files such as memory.max in the one hierarchy); otherwise v1, or hybrid when
/sys/fs/cgroup/unified is cgroup2 (limits in the v1 controller hierarchies, and the
container is expected in the unified hierarchy too). The same file runs in the guest (pure
cgroup v2; ctest "guest cgroup-v2: test_cgroups.py"). Nothing is timed: waits poll with
generous timeouts (the guest is an emulated machine).
"""

import ctypes
import json
import os
import struct
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

CGROUP_ROOT = "/sys/fs/cgroup"
CGROUP2_SUPER_MAGIC = 0x63677270
WAIT = 90  # seconds for anything to happen (the v2 guest runs code 6-20x slower)
MiB = 1024 * 1024


def fs_type(path):
    """statfs(2) f_type of path (the first field of struct statfs on Linux), or None."""
    libc = ctypes.CDLL(None, use_errno=True)
    buf = ctypes.create_string_buffer(512)
    if libc.statfs(path.encode(), buf) != 0:
        return None
    return struct.unpack_from("l", buf.raw, 0)[0]


def detect_mode():
    if fs_type(CGROUP_ROOT) == CGROUP2_SUPER_MAGIC:
        return "v2"
    if fs_type(CGROUP_ROOT + "/unified") == CGROUP2_SUPER_MAGIC:
        return "hybrid"
    return "v1"


MODE = detect_mode()
V2 = MODE == "v2"


def cgroup_mount_table():
    """{key: (mount point, mount root)}: key is the sorted comma-joined controller set of a v1
    hierarchy ("cpu", "cpu,cpuacct", "name=systemd"), or "" for the cgroup2 one."""
    table = {}
    for ln in h.mountinfo():
        f = ln.split()
        sep = f.index("-")
        typ = f[sep + 1]
        if typ == "cgroup2":
            table.setdefault("", (f[4], f[3]))
        elif typ == "cgroup":
            opts = f[sep + 3].split(",")
            ctrls = [o for o in opts if o.startswith("name=") or o in V1_CONTROLLERS]
            table.setdefault(",".join(sorted(ctrls)), (f[4], f[3]))
    return table


V1_CONTROLLERS = {"cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "blkio", "pids",
                  "hugetlb", "net_cls", "net_prio", "perf_event", "rdma", "misc"}


def cgroup_dirs(pid):
    """{name: directory} of pid's cgroups: each v1 controller ("memory", "name=systemd", ...)
    and "unified" for the cgroup2 line."""
    table = cgroup_mount_table()
    dirs = {}
    for ln in h.read_file(f"/proc/{pid}/cgroup").splitlines():
        _, ctrls, path = ln.split(":", 2)
        key = ",".join(sorted(ctrls.split(","))) if ctrls else ""
        if key not in table:
            continue
        mnt, root = table[key]
        rel = path[len(root):] if root != "/" and path.startswith(root) else path
        d = mnt + rel if rel != "/" else mnt
        if ctrls:
            for c in ctrls.split(","):
                dirs[c] = d
        else:
            dirs["unified"] = d
    return dirs


def limit_file(dirs, ctrl, v1name, v2name):
    """Path of a limit file: v1 controller file (v1, hybrid) or the v2 file (pure v2)."""
    if V2:
        return os.path.join(dirs.get("unified", "/nonexistent"), v2name)
    return os.path.join(dirs.get(ctrl, "/nonexistent"), v1name)


def read_limit(dirs, ctrl, v1name, v2name):
    return h.read_file(limit_file(dirs, ctrl, v1name, v2name), "<unreadable>").strip()


def kv(text):
    out = {}
    for ln in text.splitlines():
        p = ln.split()
        if len(p) == 2:
            try:
                out[p[0]] = int(p[1])
            except ValueError:
                pass
    return out


def rmdir_ok(d):
    try:
        os.rmdir(d)
    except FileNotFoundError:
        pass
    except OSError:
        return False
    return True


def procs_of(d):
    return sorted(int(x) for x in h.read_file(os.path.join(d, "cgroup.procs")).split())


def own_dirs(dirs, cid):
    """The container's own directories (those named after its id / its cgroupsPath)."""
    return sorted({d for d in dirs.values() if cid in d})


def resources(**kw):
    def edit(c):
        c["linux"].setdefault("resources", {}).update(kw)
    return edit


def no_pidns(c):
    c["linux"]["namespaces"] = [n for n in c["linux"]["namespaces"] if n["type"] != "pid"]


def chain(*edits):
    def edit(c):
        for e in edits:
            if e:
                e(c)
    return edit


class Ctr:
    """A created (and by default started) container, its init pid and cgroup directories."""

    def __init__(self, t, name, script, edit=None, start=True, cid=None):
        self.t = t
        self.bundle = t.bundle("sh", "-c", script, edit=edit)
        self.id = cid or t.cid(name)
        self.out = t.path(self.id + ".out")
        rc, _, err = t.create(self.bundle, self.id, out_file=self.out)
        t.require(f"{name}: create", rc == 0, err)
        st = t.state(self.id)
        t.require(f"{name}: state after create", st and st.get("pid"), st)
        self.pid = st["pid"]
        self.dirs = cgroup_dirs(self.pid)
        self.mine = own_dirs(self.dirs, self.id)
        if start:
            t.require(f"{name}: start", t.rt(["start", self.id])[0] == 0)

    def file(self, ctrl, v1name, v2name):
        return read_limit(self.dirs, ctrl, v1name, v2name)

    def output(self):
        return h.read_file(self.out)

    def exec(self, *argv, timeout=WAIT * 2):
        return self.t.rt(["exec", self.id, *argv], timeout=timeout)

    def stats(self):
        rc, out, err = self.t.rt(["events", "--stats", self.id])
        try:
            ev = json.loads(out.splitlines()[0])
        except (ValueError, IndexError):
            return None, f"rc={rc} out={out!r} err={err!r}"
        return ev, out


def check_placement(t, c, label):
    """The init is in a cgroup named after the container in every controller hierarchy (and
    in the unified one on hybrid and v2 hosts)."""
    want = set(V1_CONTROLLERS) & set(c.dirs) if not V2 else set()
    if MODE != "v1":
        want.add("unified")
    t.check(f"{label}: cgroups known", want, c.dirs)
    bad = {k: c.dirs[k] for k in want if not c.dirs[k].rstrip("/").endswith("/" + c.id)
           and c.id not in c.dirs[k]}
    t.eq(f"{label}: init in the container's cgroup in every hierarchy ({','.join(sorted(want))})",
         bad, {})
    t.check(f"{label}: its directories exist", c.mine and all(os.path.isdir(d) for d in c.mine),
            c.mine)
    for d in c.mine:
        if d == c.dirs.get("unified") or d in (c.dirs.get(k) for k in want):
            if c.pid not in procs_of(d):
                t.check(f"{label}: init pid listed in {d}/cgroup.procs", False, procs_of(d))
                break


def check_gone(t, c, label):
    left = [d for d in c.mine if os.path.exists(d)]
    t.eq(f"{label}: no cgroup directory left (of {len(c.mine)})", left, [])
    t.eq(f"{label}: none named after the id in any hierarchy", h.cgroup_dirs_named(c.id), [])


def wait_output(c, needle, timeout=WAIT):
    return h.wait_for(lambda: needle in c.output(), timeout, 0.2)


def hog_argv(mib):
    # busybox dd reads /dev/zero into one bs-sized buffer: every page gets charged
    return ["dd", "if=/dev/zero", "of=/dev/null", f"bs={mib}M", "count=1"]


# ---- cases -------------------------------------------------------------------------------

@h.case
def mode_and_placement(t):
    print(f"# cgroup mode: {MODE}", flush=True)
    t.check(f"cgroup mode detected ({MODE})", MODE in ("v1", "hybrid", "v2"))
    c = Ctr(t, "place", "exec sleep 100000", start=False)
    check_placement(t, c, "created")
    rc, out, err = t.rt(["ps", "--format", "json", c.id])
    t.check("ps --format json of a created container lists its init",
            rc == 0 and json.loads(out or "null") == [c.pid], (rc, out, err))
    t.ok("start", t.rt(["start", c.id]))
    t.eq("same cgroups once started", cgroup_dirs(c.pid), c.dirs)
    d = c.dirs.get("unified" if V2 else "pids", "/nonexistent")
    t.eq("cgroup.procs is exactly the init", procs_of(d), [c.pid])
    pidf = t.path("exec.pid")
    t.ok("exec -d --pid-file", t.rt(["exec", "-d", "--pid-file", pidf, c.id, "sleep", "100000"]))
    epid = int(h.read_file(pidf, "0") or 0)
    t.check("exec'd process alive", epid and h.pid_alive(epid), epid)
    if epid:
        t.eq("exec'd process joined the same cgroups (every hierarchy)", cgroup_dirs(epid),
             c.dirs)


@h.case
def clone_into_cgroup(t):
    """v2, crunner: the init (and an exec'd process) is cloned straight into the container's
    cgroup (clone3 CLONE_INTO_CGROUP). Observable: the runtime runs in a launcher cgroup
    whose pids.max is 1, i.e. it cannot fork there at all; a runtime that forks the init in
    its own cgroup and moves it afterwards (runc) fails."""
    if not V2 or not t.crunner_only():
        print("# clone_into_cgroup: cgroup v2 and crunner only", flush=True)
        return
    launcher = os.path.join(CGROUP_ROOT, f"crunner-test-launcher-{os.getpid()}")
    os.mkdir(launcher)
    t.on_cleanup(lambda: h.wait_for(lambda: rmdir_ok(launcher), 30, 0.2))
    t.require("launcher cgroup has the pids controller",
              os.path.exists(os.path.join(launcher, "pids.max")), os.listdir(launcher))
    with open(os.path.join(launcher, "pids.max"), "w") as f:
        f.write("1")
    wrap = ['sh', '-c', f'echo $$ > {launcher}/cgroup.procs && exec "$@"', "sh",
            h.RUNTIME, "--root", t.root]
    b = t.bundle("sleep", "100000")
    cid = t.cid("c3")
    out = t.path("c3.out")
    with open(out, "wb") as o:
        rc, _, _ = h.run(wrap + ["create", "--bundle", b, cid], stdout=o, stderr=o,
                         timeout=WAIT, tmpdir=t.dir)
    t.eq("create from a cgroup that cannot fork succeeds", rc, 0)
    ev = kv(h.read_file(os.path.join(launcher, "pids.events")))
    t.eq("no fork was refused in the launcher (pids.events max)", ev.get("max"), 0)
    st = t.state(cid)
    if st and st.get("pid"):
        d = cgroup_dirs(st["pid"]).get("unified", "")
        t.check("init is in the container's cgroup", d.endswith("/" + cid), d)
        t.ok("start", t.rt(["start", cid]))
        pidf = t.path("c3.pid")
        rc, o2, e2 = h.run(wrap + ["exec", "-d", "--pid-file", pidf, cid, "sleep", "100000"],
                           timeout=WAIT, tmpdir=t.dir)
        t.check("exec -d from that cgroup succeeds", rc == 0, (rc, o2, e2))
        epid = int(h.read_file(pidf, "0") or 0)
        t.check("exec'd process in the container's cgroup",
                epid and cgroup_dirs(epid).get("unified") == d, epid)
    t.eq("launcher cgroup empty again", procs_of(launcher), [])


@h.case
def delete_leaves_nothing(t):
    # created, running, stopped, paused (delete --force), an absolute cgroupsPath, and a
    # container with a process in a nested cgroup (made from the host in every hierarchy)
    for how in ("created", "running", "stopped", "paused", "abspath", "nested"):
        edit = None
        cid = t.cid(how)
        if how == "abspath":
            edit = lambda c, cid=cid: c["linux"].update(cgroupsPath="/" + cid + "-abs")
        c = Ctr(t, how, "exec sleep 100000", edit=edit, start=how != "created", cid=cid)
        if how == "abspath":
            t.check("abspath: cgroup at the given path",
                    all(d.endswith("/" + cid + "-abs") for d in c.mine) and c.mine, c.mine)
        check_placement(t, c, how)
        nested_pid = 0
        if how == "nested":
            pidf = t.path("nested.pid")
            t.ok("nested: exec -d", t.rt(["exec", "-d", "--pid-file", pidf, c.id, "sleep",
                                          "100000"]))
            nested_pid = int(h.read_file(pidf, "0") or 0)
            for d in c.mine:
                os.mkdir(os.path.join(d, "crunner-test-sub"))
                for cs in ("cpuset.cpus", "cpuset.mems"):  # v1 cpuset: empty until copied
                    sub = os.path.join(d, "crunner-test-sub", cs)
                    if not V2 and os.path.exists(sub):
                        with open(sub, "w") as f:
                            f.write(h.read_file(os.path.join(d, cs)).strip())
                with open(os.path.join(d, "crunner-test-sub", "cgroup.procs"), "w") as f:
                    f.write(str(nested_pid))
            t.check("nested: process moved into the sub-cgroups",
                    nested_pid and all(d + "/crunner-test-sub" in cgroup_dirs(nested_pid).values()
                                       for d in c.mine), cgroup_dirs(nested_pid))
        if how == "stopped":
            t.ok("stopped: kill", t.rt(["kill", c.id, "KILL"]))
            t.require("stopped: is stopped", t.wait_status(c.id, "stopped", WAIT))
            t.ok("stopped: delete", t.rt(["delete", c.id]))
        elif how == "paused":
            t.ok("paused: pause", t.rt(["pause", c.id]))
            t.eq("paused: status", t.status(c.id), "paused")
            t.fails("paused: delete without --force refused", t.rt(["delete", c.id]))
            t.check("paused: still there", os.path.isdir(c.mine[0]) if c.mine else False)
            t.ok("paused: delete --force", t.rt(["delete", "--force", c.id]))
        else:
            if how == "running":
                t.fails("running: delete without --force refused", t.rt(["delete", c.id]))
                t.check("running: cgroups untouched", all(os.path.isdir(d) for d in c.mine))
            t.ok(f"{how}: delete --force", t.rt(["delete", "--force", c.id]))
        t.check(f"{how}: init gone", h.wait_for(lambda: not h.pid_alive(c.pid), WAIT))
        if nested_pid:
            t.check("nested: the process in the sub-cgroup is gone",
                    h.wait_for(lambda: not h.pid_alive(nested_pid), WAIT))
        t.eq(f"{how}: state gone", t.state(c.id), None)
        check_gone(t, c, how)


@h.case
def memory_oom(t):
    lim = 32 * MiB
    c = Ctr(t, "oom", "exec sleep 100000", edit=resources(memory={"limit": lim}))
    t.eq("memory limit file", c.file("memory", "memory.limit_in_bytes", "memory.max"), str(lim))
    ev_out = t.path("events.out")
    with open(ev_out, "wb") as f:
        t.start_bg(["events", "--interval", "1s", c.id], stdout=f, stderr=f)
    t.require("events streams stats", h.wait_for(
        lambda: '"type":"stats"' in h.read_file(ev_out).replace(" ", ""), WAIT, 0.2),
        h.read_file(ev_out))
    rc, out, err = c.exec(*hog_argv(64))
    t.eq("a 64 MiB hog under a 32 MiB limit is SIGKILLed (137)", rc, 137)
    t.check("events reports an oom event", h.wait_for(
        lambda: '"type":"oom"' in h.read_file(ev_out).replace(" ", ""), WAIT, 0.2),
        h.read_file(ev_out)[-600:])
    if V2:
        evs = kv(h.read_file(os.path.join(c.dirs["unified"], "memory.events")))
    else:
        evs = kv(h.read_file(os.path.join(c.dirs["memory"], "memory.oom_control")))
    t.check("kernel counted an oom kill in the container's cgroup", evs.get("oom_kill", 0) >= 1,
            evs)
    t.check("init survived (the hog was the victim)", h.pid_alive(c.pid))
    ev, raw = c.stats()
    mem = (ev or {}).get("data", {}).get("memory", {})
    t.eq("events --stats: type", (ev or {}).get("type"), "stats")
    t.eq("events --stats: memory.usage.limit", mem.get("usage", {}).get("limit"), lim)
    t.check("events --stats: memory.usage.usage > 0", mem.get("usage", {}).get("usage", 0) > 0,
            raw)
    if not V2 or t.crunner_only():
        # v1 memory.failcnt; on v2 crunner reports memory.events "max" (runc 1.1 has none)
        t.check("events --stats: memory.usage.failcnt > 0",
                mem.get("usage", {}).get("failcnt", 0) > 0, raw)
    t.check("events --stats: memory.raw (the memory.stat map)",
            isinstance(mem.get("raw"), dict) and mem["raw"], raw)
    # update raises the limit: the same hog now fits
    t.ok("update --memory 160m", t.rt(["update", "--memory", "160m", c.id]))
    t.eq("memory limit file after update",
         c.file("memory", "memory.limit_in_bytes", "memory.max"), str(160 * MiB))
    rc, out, err = c.exec(*hog_argv(64))
    t.eq("the 64 MiB hog completes under 160 MiB", rc, 0)
    if t.crunner_only():
        # crunner's events stream ends once the container's cgroup is gone (its contract;
        # runc 1.1.5's behaviour here is not part of the checks)
        t.ok("delete --force", t.rt(["delete", "--force", c.id]))
        p = t.procs[-1]
        t.check("events exits after delete", h.wait_for(lambda: p.poll() is not None, WAIT),
                h.read_file(ev_out)[-300:])
        t.eq("events exit status", p.returncode, 0)


@h.case
def pids_limit(t):
    c = Ctr(t, "pids", "exec sleep 100000", edit=resources(pids={"limit": 8}))
    t.eq("pids.max", c.file("pids", "pids.max", "pids.max"), "8")
    # (children off the exec's stdio: a foreground runc exec copies it until EOF)
    forker = ("i=0; while [ $i -lt 12 ]; do sleep 100000 </dev/null >/dev/null 2>&1 & "
              "i=$((i+1)); done; echo spawned-all")
    rc, out, err = c.exec("sh", "-c", forker)
    t.check("fork fails inside at the limit", rc != 0 and "spawned-all" not in out,
            (rc, out, err))
    if rc not in (0, None) and "spawned-all" not in out and t.crunner_only() and not V2:
        t.contains("the shell says it cannot fork", out + err, "can't fork")
    cur = int(c.file("pids", "pids.current", "pids.current") or 0)
    t.check("pids.current at most the limit", 1 <= cur <= 8, cur)
    t.ok("update --pids-limit 40", t.rt(["update", "--pids-limit", "40", c.id]))
    t.eq("pids.max after update", c.file("pids", "pids.max", "pids.max"), "40")
    rc, out, err = c.exec("sh", "-c", forker)
    t.check("now 12 forks succeed", rc == 0 and "spawned-all" in out, (rc, out, err))
    ev, raw = c.stats()
    pids = (ev or {}).get("data", {}).get("pids", {})
    t.eq("events --stats: pids.limit", pids.get("limit"), 40)
    t.check("events --stats: pids.current counts the sleeps", pids.get("current", 0) >= 13, raw)

    # ps: the same pids as the cgroup, in json and in the table
    d = c.dirs["unified" if V2 else "pids"]
    want = procs_of(d)
    rc, out, err = t.rt(["ps", "--format", "json", c.id])
    got = json.loads(out) if rc == 0 and out.strip() else None
    t.eq("ps --format json = cgroup.procs", got, want)
    t.check("ps lists init and the sleeps", got and c.pid in got and len(got) >= 13, got)
    rc, out, err = t.rt(["ps", c.id])
    lines = out.splitlines()
    t.check("ps table: header with PID", rc == 0 and lines and "PID" in lines[0].split(),
            (rc, out, err))
    if rc == 0 and lines:
        col = lines[0].split().index("PID") if "PID" in lines[0].split() else 1
        rows = sorted(int(ln.split()[col]) for ln in lines[1:] if len(ln.split()) > col)
        t.eq("ps table: one row per container pid", rows, want)
    rc, out, err = t.rt(["ps", c.id, "-o", "pid,comm"])
    lines = out.splitlines()
    t.check("ps ID -o pid,comm: ps arguments passed through",
            rc == 0 and lines and lines[0].split() == ["PID", "COMMAND"]
            and sum(1 for ln in lines[1:] if ln.split()[1:] == ["sleep"]) >= 13,
            (rc, out, err))


@h.case
def cpu_quota_throttles(t):
    c = Ctr(t, "cpu", "while :; do :; done",
            edit=resources(cpu={"quota": 10000, "period": 100000}))
    if V2:
        t.eq("cpu.max", c.file("cpu", "", "cpu.max"), "10000 100000")
    else:
        t.eq("cpu.cfs_quota_us", c.file("cpu", "cpu.cfs_quota_us", ""), "10000")
        t.eq("cpu.cfs_period_us", c.file("cpu", "cpu.cfs_period_us", ""), "100000")
    stat = limit_file(c.dirs, "cpu", "cpu.stat", "cpu.stat")
    t.check("cpu.stat nr_throttled grows", h.wait_for(
        lambda: kv(h.read_file(stat)).get("nr_throttled", 0) > 0, WAIT, 0.2), h.read_file(stat))
    ev, raw = c.stats()
    thr = (ev or {}).get("data", {}).get("cpu", {}).get("throttling", {})
    t.check("events --stats: cpu.throttling.throttledPeriods > 0",
            thr.get("throttledPeriods", 0) > 0, raw)
    t.check("events --stats: cpu.usage.total > 0",
            (ev or {}).get("data", {}).get("cpu", {}).get("usage", {}).get("total", 0) > 0, raw)


@h.case
def devices_deny_and_allow(t):
    # /dev/crt-kmsg is c 1:11 (/dev/kmsg, readable with CAP_SYSLOG): not in the default allow
    # list, so the bundle's "deny all" rule blocks it; /dev/null is a default allowed device.
    def edit(cfg):
        cfg["linux"]["devices"] = [{"path": "/dev/crt-kmsg", "type": "c", "major": 1,
                                    "minor": 11, "fileMode": 0o444, "uid": 0, "gid": 0}]
        for k in ("bounding", "effective", "permitted"):
            cfg["process"]["capabilities"][k].append("CAP_SYSLOG")
    c = Ctr(t, "dev", "exec sleep 100000", edit=edit)
    # (true, not the special builtin ":", whose failed redirection would exit the shell)
    probe = ("if true < /dev/crt-kmsg; then echo KMSG-OPEN; fi; "
             "if true < /dev/null && echo x > /dev/null; then echo NULL-OPEN; fi")
    rc, out, err = c.exec("sh", "-c", probe)
    t.check("the node exists inside", "crt-kmsg" in c.exec("ls", "/dev")[1])
    t.check("denied device cannot be opened", "KMSG-OPEN" not in out, (rc, out, err))
    t.contains("denied: operation not permitted", (out + err).lower(), "not permitted")
    t.check("allowed /dev/null opens (read and write)", "NULL-OPEN" in out, (rc, out, err))
    if not V2:
        lst = h.read_file(os.path.join(c.dirs["devices"], "devices.list"))
        t.contains("devices.list allows /dev/null", lst, "c 1:3 rwm")
        t.check("devices.list does not allow 1:11", "c 1:11" not in lst, lst)
        t.check("devices.list is not allow-all", "a *:* rwm" not in lst, lst)
    if t.crunner_only():
        # runc 1.1.5's update ignores linux.resources.devices; crunner applies it (v2:
        # replacing the attached eBPF program, not adding one beside it).
        rules = [{"allow": False, "access": "rwm"},
                 {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rwm"},
                 {"allow": True, "type": "c", "major": 1, "minor": 11, "access": "r"}]
        f = t.path("devices.json")
        with open(f, "w") as fh:
            json.dump({"devices": rules}, fh)
        t.ok("update --resources allowing c 1:11 r", t.rt(["update", "--resources", f, c.id]))
        rc, out, err = c.exec("sh", "-c", probe)
        t.check("after update: c 1:11 opens", "KMSG-OPEN" in out, (rc, out, err))
        t.check("after update: /dev/null still opens", "NULL-OPEN" in out, (rc, out, err))
        rules[2]["allow"] = False
        t.ok("update --resources - denying it again",
             t.rt(["update", "--resources", "-", c.id], input=json.dumps({"devices": rules})))
        rc, out, err = c.exec("sh", "-c", probe)
        t.check("after second update: c 1:11 denied again", "KMSG-OPEN" not in out,
                (rc, out, err))
        t.check("after second update: /dev/null opens", "NULL-OPEN" in out, (rc, out, err))


@h.case
def pause_and_resume(t):
    c = Ctr(t, "pause", "i=0; while :; do i=$((i+1)); echo $i; sleep 0.05; done")
    t.require("counter running", h.wait_for(lambda: len(c.output()) > 0, WAIT, 0.1))
    t.fails("resume of a running container refused", t.rt(["resume", c.id]))
    t.ok("pause", t.rt(["pause", c.id]))
    t.eq("state: paused", t.status(c.id), "paused")
    rc, out, err = t.rt(["list", "--format", "json"])
    row = [r for r in (json.loads(out) or []) if r["id"] == c.id] if rc == 0 else []
    t.check("list: paused", row and row[0]["status"] == "paused", out)
    if V2:
        d = c.dirs["unified"]
        t.eq("cgroup.freeze = 1", h.read_file(os.path.join(d, "cgroup.freeze")).strip(), "1")
        t.eq("cgroup.events frozen 1", kv(h.read_file(os.path.join(d, "cgroup.events")))
             .get("frozen"), 1)
    else:
        t.eq("freezer.state FROZEN",
             h.read_file(os.path.join(c.dirs["freezer"], "freezer.state")).strip(), "FROZEN")
    n1 = len(c.output())
    time.sleep(1.0)  # the counter ticks every 50 ms when it runs; pause is synchronous
    n2 = len(c.output())
    t.eq("no progress while paused", n2, n1)
    rc, out, err = t.rt(["exec", c.id, "true"], timeout=WAIT)
    t.check("exec into a paused container refused", rc not in (0, None), (rc, out, err))
    if t.crunner_only():
        t.contains("refusal names the paused state", out + err, "paused")
    t.fails("pause of a paused container refused", t.rt(["pause", c.id]))
    t.ok("resume", t.rt(["resume", c.id]))
    t.eq("state: running", t.status(c.id), "running")
    t.check("counter progresses again",
            h.wait_for(lambda: len(c.output()) > n2, WAIT, 0.1))
    if t.crunner_only():
        # contract: SIGKILL to a paused container thaws it (runc 1.1.5 on v1 leaves the
        # frozen init unkilled until a resume)
        t.ok("pause again", t.rt(["pause", c.id]))
        t.ok("kill KILL while paused", t.rt(["kill", c.id, "KILL"]))
        t.check("the init dies", h.wait_for(lambda: not h.pid_alive(c.pid), WAIT))
        t.check("status stopped", t.wait_status(c.id, "stopped", WAIT))
    t.ok("delete --force", t.rt(["delete", "--force", c.id]))
    check_gone(t, c, "after delete")


@h.case
def kill_all(t):
    script = "sleep 100000 & sleep 100000 & wait"
    for sig in ("KILL", "TERM"):
        c = Ctr(t, f"kill{sig}", script, edit=no_pidns)
        d = c.dirs["unified" if V2 else "pids"]
        t.require(f"{sig}: three processes", h.wait_for(lambda: len(procs_of(d)) == 3, WAIT),
                  procs_of(d))
        pids = procs_of(d)
        t.ok(f"{sig}: kill --all", t.rt(["kill", "--all", c.id, sig]))
        t.check(f"{sig}: every process gone",
                h.wait_for(lambda: not any(h.pid_alive(p) for p in pids), WAIT),
                [p for p in pids if h.pid_alive(p)])
        t.check(f"{sig}: stopped", t.wait_status(c.id, "stopped", WAIT))
        t.ok(f"{sig}: delete", t.rt(["delete", c.id]))
        check_gone(t, c, sig)
    # a paused container: kill --all KILL kills (and thaws) everything
    c = Ctr(t, "killpaused", script, edit=no_pidns)
    d = c.dirs["unified" if V2 else "pids"]
    t.require("paused: three processes", h.wait_for(lambda: len(procs_of(d)) == 3, WAIT),
              procs_of(d))
    pids = procs_of(d)
    t.ok("paused: pause", t.rt(["pause", c.id]))
    t.ok("paused: kill --all KILL", t.rt(["kill", "--all", c.id, "KILL"]))
    t.check("paused: every process gone",
            h.wait_for(lambda: not any(h.pid_alive(p) for p in pids), WAIT),
            [p for p in pids if h.pid_alive(p)])
    t.check("paused: stopped", t.wait_status(c.id, "stopped", WAIT))
    t.ok("paused: delete", t.rt(["delete", c.id]))
    check_gone(t, c, "paused")
    # a stopped container: its init exited, its children live on in the cgroup
    c = Ctr(t, "orphans", "sleep 100000 & sleep 100000 & echo forked", edit=no_pidns)
    t.require("orphans: init exits", t.wait_status(c.id, "stopped", WAIT))
    d = c.dirs["unified" if V2 else "pids"]
    kids = procs_of(d)
    t.check("orphans: two children live on in the cgroup", len(kids) == 2, kids)
    t.fails("orphans: plain kill of a stopped container refused", t.rt(["kill", c.id, "KILL"]))
    t.ok("orphans: kill --all of the stopped container", t.rt(["kill", "--all", c.id, "KILL"]))
    t.check("orphans: children gone",
            h.wait_for(lambda: not any(h.pid_alive(p) for p in kids), WAIT),
            [p for p in kids if h.pid_alive(p)])
    t.ok("orphans: delete", t.rt(["delete", c.id]))
    check_gone(t, c, "orphans")


@h.case
def update_live(t):
    base = {"memory": {"limit": 64 * MiB}, "cpu": {"shares": 1024, "quota": 10000,
                                                   "period": 100000}, "pids": {"limit": 20}}
    c = Ctr(t, "upd", "exec sleep 100000", edit=resources(**base))
    mem = ("memory", "memory.limit_in_bytes", "memory.max")
    t.eq("initial memory limit", c.file(*mem), str(64 * MiB))
    # single flags
    t.ok("update --memory 96m --memory-swap 128m",
         t.rt(["update", "--memory", "96m", "--memory-swap", "128m", c.id]))
    t.eq("memory limit", c.file(*mem), str(96 * MiB))
    if V2:  # v2 memory.swap.max is the swap alone: 128m - 96m
        t.eq("memory.swap.max", c.file("memory", "", "memory.swap.max"), str(32 * MiB))
    else:
        t.eq("memory.memsw.limit_in_bytes", c.file("memory", "memory.memsw.limit_in_bytes", ""),
             str(128 * MiB))
    t.ok("update --pids-limit 30", t.rt(["update", "--pids-limit", "30", c.id]))
    t.eq("pids.max", c.file("pids", "pids.max", "pids.max"), "30")
    t.ok("update --cpu-quota 20000", t.rt(["update", "--cpu-quota", "20000", c.id]))
    if V2:
        t.eq("cpu.max", c.file("cpu", "", "cpu.max"), "20000 100000")
    else:
        t.eq("cpu.cfs_quota_us", c.file("cpu", "cpu.cfs_quota_us", ""), "20000")
    # (runc's flag is --cpu-share, singular)
    t.ok("update --memory-reservation 48m --cpu-share 256 --cpu-period 200000 "
         "--cpuset-cpus 0", t.rt(["update", "--memory-reservation", "48m", "--cpu-share",
                                  "256", "--cpu-period", "200000", "--cpuset-cpus", "0",
                                  c.id]))
    t.eq("memory reservation", c.file("memory", "memory.soft_limit_in_bytes", "memory.low"),
         str(48 * MiB))
    t.eq("cpuset.cpus", c.file("cpuset", "cpuset.cpus", "cpuset.cpus"), "0")
    if V2:  # 1 + (256 - 2) * 9999 / 262142 = 10
        t.eq("cpu.weight from shares 256", c.file("cpu", "", "cpu.weight"), "10")
        t.eq("cpu.max with the new period", c.file("cpu", "", "cpu.max"), "20000 200000")
    else:
        t.eq("cpu.shares", c.file("cpu", "cpu.shares", ""), "256")
        t.eq("cpu.cfs_period_us", c.file("cpu", "cpu.cfs_period_us", ""), "200000")
        t.eq("cpu.cfs_quota_us kept", c.file("cpu", "cpu.cfs_quota_us", ""), "20000")
    # --resources FILE
    f = t.path("res.json")
    with open(f, "w") as fh:
        json.dump({"memory": {"limit": 100 * MiB}, "cpu": {"shares": 512},
                   "pids": {"limit": 25}}, fh)
    t.ok("update --resources FILE", t.rt(["update", "--resources", f, c.id]))
    t.eq("FILE: memory limit", c.file(*mem), str(100 * MiB))
    # a limit without swap leaves the swap setting alone (runc 1.1.5 on v1 and v2)
    t.eq("FILE: swap untouched", c.file("memory", "memory.memsw.limit_in_bytes",
                                        "memory.swap.max"), str((32 if V2 else 128) * MiB))
    t.eq("FILE: pids.max", c.file("pids", "pids.max", "pids.max"), "25")
    if V2:  # runc's conversion: 1 + (shares - 2) * 9999 / 262142
        t.eq("FILE: cpu.weight from shares 512", c.file("cpu", "", "cpu.weight"), "20")
    else:
        t.eq("FILE: cpu.shares", c.file("cpu", "cpu.shares", ""), "512")
    # --resources - (stdin)
    res = {"cpu": {"quota": 30000, "period": 50000}, "pids": {"limit": 3}}
    t.ok("update --resources -", t.rt(["update", "--resources", "-", c.id],
                                      input=json.dumps(res)))
    if V2:
        t.eq("stdin: cpu.max", c.file("cpu", "", "cpu.max"), "30000 50000")
    else:
        t.eq("stdin: cpu.cfs_quota_us", c.file("cpu", "cpu.cfs_quota_us", ""), "30000")
        t.eq("stdin: cpu.cfs_period_us", c.file("cpu", "cpu.cfs_period_us", ""), "50000")
    t.eq("stdin: pids.max", c.file("pids", "pids.max", "pids.max"), "3")
    t.eq("stdin: memory limit untouched", c.file(*mem), str(100 * MiB))
    # behaviour of the lowered pids limit: init + sh + 1 = 3, the fourth fork fails
    rc, out, err = c.exec("sh", "-c", TWO_FORKS)
    t.check("a lowered pids limit bites", "two-forked" not in out, (rc, out, err))
    t.ok("update --pids-limit 100", t.rt(["update", "--pids-limit", "100", c.id]))
    rc, out, err = c.exec("sh", "-c", TWO_FORKS)
    t.check("raised again: forks work", rc == 0 and "two-forked" in out, (rc, out, err))
    ev, raw = c.stats()
    data = (ev or {}).get("data", {})
    t.eq("events --stats after updates: memory limit",
         data.get("memory", {}).get("usage", {}).get("limit"), 100 * MiB)
    t.eq("events --stats after updates: pids limit", data.get("pids", {}).get("limit"), 100)
    t.fails("update of a missing container fails", t.rt(["update", "--memory", "1g",
                                                         "crunner-test-no-such-ctr"]))
    t.fails("update with bad JSON fails", t.rt(["update", "--resources", "-", c.id],
                                               input="{not json"))
    t.eq("bad JSON changed nothing", c.file("pids", "pids.max", "pids.max"), "100")
    if not V2:
        # v1 refuses a limit below the usage it cannot reclaim (v2 would OOM-kill instead)
        res = t.rt(["update", "--memory", "4096", c.id])
        t.fails("v1: a limit below the usage is refused", res)
        if t.crunner_only():
            t.contains("the error names the file", res[1] + res[2], "memory.limit_in_bytes")
        t.eq("v1: old limit kept", c.file(*mem), str(100 * MiB))
    t.ok("kill", t.rt(["kill", c.id, "KILL"]))
    t.require("stopped", t.wait_status(c.id, "stopped", WAIT))
    t.fails("update of a stopped container fails", t.rt(["update", "--pids-limit", "9", c.id]))


TWO_FORKS = ("sleep 100000 </dev/null >/dev/null 2>&1 & sleep 100000 </dev/null >/dev/null 2>&1 & "
             "echo two-forked")


def block_device():
    """major:minor of a block device for throttle rules (a disk or loop0), or None."""
    try:
        names = sorted(os.listdir("/sys/block"), key=lambda n: (n.startswith(("ram", "zram")),
                                                                n.startswith("loop"), n))
    except OSError:
        return None
    for n in names:
        dev = h.read_file(f"/sys/block/{n}/dev").strip()
        if dev and not n.startswith(("ram", "zram")):
            return dev
    return None


@h.case
def resource_fields_at_create(t):
    """A typical set of limits lands in the right files (v1 names or v2 names/conversions)."""
    mems = h.read_file(os.path.join(CGROUP_ROOT, "" if V2 else "cpuset",
                                    "cpuset.mems.effective" if V2 else "cpuset.mems")).strip()
    mem0 = (mems or "0").split(",")[0].split("-")[0]
    bdev = block_device()
    res = {
        "memory": {"limit": 64 * MiB, "reservation": 32 * MiB, "swap": 96 * MiB},
        "cpu": {"shares": 512, "quota": 50000, "period": 100000, "cpus": "0", "mems": mem0},
        "pids": {"limit": 100},
    }
    if not V2:
        res["memory"]["swappiness"] = 10
    if bdev:
        maj, mi = (int(x) for x in bdev.split(":"))
        res["blockIO"] = {"throttleReadBpsDevice": [{"major": maj, "minor": mi,
                                                     "rate": 1048576}],
                          "throttleWriteIOPSDevice": [{"major": maj, "minor": mi,
                                                       "rate": 100}]}
    if V2:
        res["unified"] = {"memory.high": str(60 * MiB)}
    c = Ctr(t, "fields", "exec sleep 100000", edit=resources(**res))
    f = c.file
    t.eq("memory.limit", f("memory", "memory.limit_in_bytes", "memory.max"), str(64 * MiB))
    t.eq("memory.reservation", f("memory", "memory.soft_limit_in_bytes", "memory.low"),
         str(32 * MiB))
    t.eq("memory.swap", f("memory", "memory.memsw.limit_in_bytes", "memory.swap.max"),
         str((32 if V2 else 96) * MiB))
    if not V2:
        t.eq("memory.swappiness", f("memory", "memory.swappiness", ""), "10")
    else:
        t.eq("unified memory.high", f("memory", "", "memory.high"), str(60 * MiB))
    t.eq("cpu.shares", f("cpu", "cpu.shares", "cpu.weight"), "20" if V2 else "512")
    if V2:
        t.eq("cpu.quota/period", f("cpu", "", "cpu.max"), "50000 100000")
    else:
        t.eq("cpu.quota", f("cpu", "cpu.cfs_quota_us", ""), "50000")
        t.eq("cpu.period", f("cpu", "cpu.cfs_period_us", ""), "100000")
    t.eq("cpu.cpus", f("cpuset", "cpuset.cpus", "cpuset.cpus"), "0")
    t.eq("cpu.mems", f("cpuset", "cpuset.mems", "cpuset.mems"), mem0)
    t.eq("pids.limit", f("pids", "pids.max", "pids.max"), "100")
    if bdev:
        if V2:
            iomax = f("blkio", "", "io.max")
            t.check("blockIO throttle -> io.max", iomax.startswith(bdev) and "rbps=1048576" in
                    iomax and "wiops=100" in iomax, iomax)
        else:
            t.eq("blockIO throttleReadBps", f("blkio", "blkio.throttle.read_bps_device", ""),
                 f"{bdev} 1048576")
            t.eq("blockIO throttleWriteIops", f("blkio", "blkio.throttle.write_iops_device", ""),
                 f"{bdev} 100")
    # blkio weight only where the kernel has a weight file for this cgroup (BFQ / io.weight)
    d = c.dirs.get("unified" if V2 else "blkio", "")
    wfile = next((w for w in (("io.bfq.weight", "io.weight") if V2 else
                              ("blkio.weight", "blkio.bfq.weight"))
                  if os.path.exists(os.path.join(d, w))), None)
    if wfile:
        t.ok("update --blkio-weight 500", t.rt(["update", "--blkio-weight", "500", c.id]))
        got = h.read_file(os.path.join(d, wfile)).split()
        want = "4950" if wfile == "io.weight" else "500"  # runc's blkio -> io.weight mapping
        t.check(f"blkio weight in {wfile}", want in got, got)
    else:
        print(f"# no blkio weight file in {d}: weight not checked", flush=True)
    ev, raw = c.stats()
    data = (ev or {}).get("data", {})
    t.eq("events --stats: memory limit", data.get("memory", {}).get("usage", {}).get("limit"),
         64 * MiB)
    t.eq("events --stats: pids limit", data.get("pids", {}).get("limit"), 100)


# ---- rootless on cgroup v2 (the host's test_rootless.py covers v1) --------------------------

RL_ID = 4242  # a uid/gid without a passwd entry: setpriv takes numbers


def rootless_setup(t):
    """A state root and XDG_RUNTIME_DIR of RL_ID's, the case's directories opened for it."""
    for d in (t.suite.tmp, t.dir):
        os.chmod(d, 0o711)
    xdg = t.path("xdg")
    os.mkdir(xdg, 0o700)
    os.chown(xdg, RL_ID, RL_ID)
    return xdg, os.path.join(xdg, "state")


def as_rl(t, xdg, argv, cwd=None, cgroup=None, timeout=WAIT * 2):
    """argv as RL_ID (no groups); first moved by root into the cgroup directory `cgroup`."""
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "HOME": xdg, "XDG_RUNTIME_DIR": xdg}
    move = f"echo $$ > {cgroup}/cgroup.procs && " if cgroup else ""
    return h.run(["sh", "-c", move + f'exec setpriv --reuid={RL_ID} --regid={RL_ID} '
                  '--clear-groups "$@"', "sh", *argv], env=env, tmpdir=t.dir, cwd=cwd,
                 timeout=timeout)


def rl_bundle(t, xdg, args, edit=None):
    return h.rootless_bundle(t, RL_ID, RL_ID, lambda argv, cwd: as_rl(t, xdg, argv, cwd=cwd),
                             args, edit)


@h.case
def rootless_v2(t):
    """--rootless on pure cgroup v2, runc's fs2 rules: without cgroupsPath and limits a cgroup
    the user may not create is done without; limits then fail naming the cgroup; a delegated
    subtree (chowned to the user, as systemd's Delegate= does) gets the limits, never the
    device filter (no eBPF without privilege), and update/pause/delete work there."""
    if not V2:
        print("# not pure cgroup v2: rootless on v1 is test_rootless.py's", flush=True)
        return
    xdg, root = rootless_setup(t)

    def rl(args, **kw):
        return as_rl(t, xdg, [h.RUNTIME, "--root", root, "--rootless", "true", *args], **kw)

    # 1. no cgroupsPath, no limits, no permission: runs, in the caller's cgroup
    b = rl_bundle(t, xdg, ["sleep", "100000"])
    cid = t.cid("rl")
    t.on_cleanup(lambda: h.force_delete(root, cid, t.dir))
    rc, out, err = rl(["run", "-d", "--bundle", b, cid])
    t.require("run -d without a cgroup of its own", rc == 0, err)
    pid = json.loads(rl(["state", cid])[1] or "{}").get("pid")
    t.check("state: running, with a pid", pid, pid)
    own = h.read_file("/proc/self/cgroup").strip()
    t.eq("the init stayed in the caller's cgroup", h.read_file(f"/proc/{pid}/cgroup").strip(),
         own)
    t.eq("no cgroup named after it", h.cgroup_dirs_named(cid), [])
    t.ok("ps as the user", rl(["ps", cid]))
    t.ok("kill as the user", rl(["kill", cid, "KILL"]))
    h.wait_for(lambda: json.loads(rl(["state", cid])[1] or "{}").get("status") == "stopped",
               WAIT)
    t.ok("delete as the user", rl(["delete", cid]))
    t.check("state gone", not os.path.exists(os.path.join(root, cid)))

    # 2. the same with a limit: a clear error, nothing left
    b2 = rl_bundle(t, xdg, ["true"],
                   edit=lambda c: c["linux"].update(resources={"pids": {"limit": 10}}))
    cid2 = t.cid("rllim")
    t.fails("a limit without a cgroup of its own", rl(["run", "--bundle", b2, cid2]),
            "could not join or create cgroup")
    t.check("no state left", not os.path.exists(os.path.join(root, cid2)))
    t.eq("no cgroup left", h.cgroup_dirs_named(cid2), [])

    # 3. a delegated subtree: limits set by the user, no device filter
    deleg = os.path.join(CGROUP_ROOT, t.cid("deleg"))
    os.mkdir(deleg)
    t.on_cleanup(lambda: [rmdir_ok(os.path.join(deleg, d)) for d in ("ctr", "caller")] and
                 rmdir_ok(deleg))
    for d in (CGROUP_ROOT, deleg):
        with open(os.path.join(d, "cgroup.subtree_control"), "w") as f:
            f.write("+memory +pids")
    os.mkdir(os.path.join(deleg, "caller"))
    subprocess.run(["chown", "-R", f"{RL_ID}:{RL_ID}", deleg], check=True)
    ctr = os.path.join(deleg, "ctr")

    def limits(c):
        c["linux"]["cgroupsPath"] = ctr[len(CGROUP_ROOT):]
        c["linux"]["resources"] = {"memory": {"limit": 64 * MiB}, "pids": {"limit": 50},
                                   "devices": [{"allow": False, "access": "rwm"}]}
    b3 = rl_bundle(t, xdg, ["sleep", "100000"], edit=limits)
    cid3 = t.cid("rldel")
    t.on_cleanup(lambda: h.force_delete(root, cid3, t.dir))
    caller = os.path.join(deleg, "caller")
    rc, out, err = rl(["run", "-d", "--bundle", b3, cid3], cgroup=caller)
    t.require("run -d in the delegated subtree", rc == 0, err)
    st = json.loads(rl(["state", cid3])[1] or "{}")
    t.check("running", st.get("status") == "running", st)
    t.check("init in the container's cgroup", st.get("pid") in procs_of(ctr), procs_of(ctr))
    t.eq("memory.max", h.read_file(os.path.join(ctr, "memory.max")).strip(), str(64 * MiB))
    t.eq("pids.max", h.read_file(os.path.join(ctr, "pids.max")).strip(), "50")
    t.ok("update --pids-limit as the user", rl(["update", "--pids-limit", "60", cid3],
                                                 cgroup=caller))
    t.eq("pids.max updated", h.read_file(os.path.join(ctr, "pids.max")).strip(), "60")
    t.ok("pause as the user", rl(["pause", cid3]))
    t.check("frozen", "frozen 1" in h.read_file(os.path.join(ctr, "cgroup.events")))
    t.ok("resume as the user", rl(["resume", cid3]))
    rc, out, err = rl(["exec", cid3, "cat", "/proc/self/cgroup", "/proc/1/cgroup"],
                      cgroup=caller)
    lines = out.split()
    t.check("exec joins the init's cgroup", rc == 0 and len(lines) == 2 and
            lines[0] == lines[1], (out, err))
    t.ok("delete --force as the user", rl(["delete", "--force", cid3], cgroup=caller))
    t.check("its cgroup removed", not os.path.exists(ctr))


if __name__ == "__main__":
    h.main()
