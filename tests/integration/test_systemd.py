#!/usr/bin/env python3
"""The systemd cgroup driver (--systemd-cgroup) against a real systemd: transient scopes with
Delegate=yes, cgroupsPath "slice:prefix:name" (nested slices expanded as systemd does),
resources as unit properties and as cgroup files, pause/resume, update, exec, kill --all,
delete stopping the unit, and clear errors.

Needs systemd as PID 1 of the namespaces it runs in, managing a cgroup v2 tree, reachable
at /run/systemd/private: it runs only in the guest (ctest "guest systemd: ...", the guest's
systemd feature: tests/vm/systemd-in-guest.sh), and fails anywhere else. Nothing is timed:
waits poll with generous timeouts (the guest is an emulated machine).
"""

import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

CG = "/sys/fs/cgroup"
WAIT = 90
MiB = 1024 * 1024
SD = ["--systemd-cgroup"]


def systemd_here():
    return os.path.isdir("/run/systemd/system") and os.path.exists("/run/systemd/private") \
        and h.read_file("/proc/1/comm").strip() == "systemd"


def show(unit, *props):
    """systemctl show -p ... as a dict ({} when systemctl fails). A list property that
    systemctl prints one line per entry (DeviceAllow) is joined with newlines."""
    r = subprocess.run(["systemctl", "show", unit, *[f"-p{p}" for p in props]],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=60)
    out = {}
    for ln in r.stdout.splitlines():
        k, _, v = ln.partition("=")
        out[k] = out[k] + "\n" + v if k in out else v
    return out


def unit_gone(unit):
    return show(unit, "LoadState").get("LoadState") == "not-found"


def own_cgroup(pid):
    for ln in h.read_file(f"/proc/{pid}/cgroup").splitlines():
        if ln.startswith("0::"):
            return ln[3:]
    return None


def create(t, cid, script, edit=None, start=True):
    b = t.bundle("sh", "-c", script, edit=edit)
    out = t.path(cid + ".out")
    with open(out, "ab") as o:
        rc, _, _ = t.rt([*SD, "create", "--bundle", b, cid], stdout=o, stderr=o)
    err = h.read_file(out)
    t.require(f"{cid}: create --systemd-cgroup", rc == 0, err)
    if start:
        t.require(f"{cid}: start", t.rt(["start", cid])[0] == 0)
    st = t.state(cid)
    return st["pid"], b


def set_linux(**kw):
    def edit(c):
        c["linux"].update(kw)
    return edit


@h.case
def default_scope_lifecycle(t):
    cid = t.cid("def")
    unit = f"crunner-{cid}.scope"
    pid, _ = create(t, cid, "exec sleep 100000")
    t.eq("init in system.slice/crunner-<id>.scope", own_cgroup(pid),
         f"/system.slice/{unit}")
    p = show(unit, "ActiveState", "Delegate", "Slice", "MemoryAccounting", "TasksAccounting")
    t.eq("unit is an active delegated scope in system.slice", p,
         {"ActiveState": "active", "Delegate": "yes", "Slice": "system.slice",
          "MemoryAccounting": "yes", "TasksAccounting": "yes"})
    d = f"{CG}/system.slice/{unit}"
    t.eq("cgroup.procs is the init", h.read_file(d + "/cgroup.procs").split(), [str(pid)])
    t.ok("pause", t.rt(["pause", cid]))
    t.eq("paused: cgroup.freeze", h.read_file(d + "/cgroup.freeze").strip(), "1")
    t.eq("paused: state", t.status(cid), "paused")
    t.ok("resume", t.rt(["resume", cid]))
    t.eq("resumed: cgroup.freeze", h.read_file(d + "/cgroup.freeze").strip(), "0")
    pidf = t.path("exec.pid")
    t.ok("exec -d", t.rt(["exec", "-d", "--pid-file", pidf, cid, "sleep", "100000"]))
    epid = int(h.read_file(pidf, "0") or 0)
    t.eq("exec'd process in the scope", own_cgroup(epid), f"/system.slice/{unit}")
    rc, out, err = t.rt(["ps", "--format", "json", cid])
    t.check("ps lists init and exec'd process",
            rc == 0 and sorted(json.loads(out or "[]")) == sorted([pid, epid]), (rc, out, err))
    t.ok("kill --all KILL", t.rt(["kill", "--all", cid, "KILL"]))
    t.check("every process gone", h.wait_for(lambda: not h.pid_alive(pid) and
                                            not h.pid_alive(epid), WAIT) is True)
    t.check("stopped", t.wait_status(cid, "stopped", WAIT))
    t.ok("delete", t.rt(["delete", cid]))
    t.check("unit gone after delete", h.wait_for(lambda: unit_gone(unit), WAIT) is True,
            show(unit, "LoadState", "ActiveState"))
    t.check("cgroup gone after delete", not os.path.exists(d), d)


@h.case
def nested_slice_resources_update(t):
    cid = t.cid("res")
    unit = f"crtest-{cid}.scope"
    res = {"memory": {"limit": 48 * MiB}, "pids": {"limit": 20},
           "cpu": {"shares": 512, "quota": 25000, "period": 100000, "cpus": "0"}}
    pid, _ = create(t, cid, "exec sleep 100000",
                    edit=set_linux(cgroupsPath=f"crunnertest-a.slice:crtest:{cid}",
                                   resources=res))
    path = f"/crunnertest.slice/crunnertest-a.slice/{unit}"
    t.eq("init in the nested slice's scope", own_cgroup(pid), path)
    p = show(unit, "Slice", "MemoryMax", "TasksMax", "CPUWeight", "CPUQuotaPerSecUSec",
             "CPUQuotaPeriodUSec", "AllowedCPUs", "DevicePolicy", "Delegate")
    t.eq("resources as unit properties", p, {
        "Slice": "crunnertest-a.slice", "MemoryMax": str(48 * MiB), "TasksMax": "20",
        "CPUWeight": "20", "CPUQuotaPerSecUSec": "250ms", "CPUQuotaPeriodUSec": "100ms",
        "AllowedCPUs": "0", "DevicePolicy": "strict", "Delegate": "yes"})
    allow = show(unit, "DeviceAllow").get("DeviceAllow", "")
    for want in ("/dev/char/1:3 rwm", "char-pts rwm"):  # /dev/null; the pts group (136:*)
        t.contains(f"DeviceAllow has {want}", allow, want)
    d = CG + path
    t.eq("memory.max", h.read_file(d + "/memory.max").strip(), str(48 * MiB))
    t.eq("pids.max", h.read_file(d + "/pids.max").strip(), "20")
    t.eq("cpu.max (the exact quota, from the file)", h.read_file(d + "/cpu.max").strip(),
         "25000 100000")
    t.eq("cpuset.cpus", h.read_file(d + "/cpuset.cpus").strip(), "0")
    t.ok("update --memory 64M --pids-limit 30",
         t.rt(["update", "--memory", "64M", "--pids-limit", "30", cid]))
    p = show(unit, "MemoryMax", "TasksMax")
    t.eq("update reached the unit", p, {"MemoryMax": str(64 * MiB), "TasksMax": "30"})
    t.eq("update reached memory.max", h.read_file(d + "/memory.max").strip(), str(64 * MiB))
    t.eq("update reached pids.max", h.read_file(d + "/pids.max").strip(), "30")
    t.ok("delete --force of a running container", t.rt(["delete", "--force", cid]))
    t.check("init gone", h.wait_for(lambda: not h.pid_alive(pid), WAIT) is True)
    t.check("unit gone", h.wait_for(lambda: unit_gone(unit), WAIT) is True,
            show(unit, "LoadState", "ActiveState"))
    t.check("cgroup gone", not os.path.exists(d), d)


@h.case
def pids_limit_bites(t):
    """TasksMax/pids.max really limit the scope: forks beyond it fail inside."""
    cid = t.cid("pids")
    b = t.bundle("sh", "-c", "for i in 1 2 3 4 5 6 7 8; do sleep 1000 & done; wait",
                 edit=set_linux(resources={"pids": {"limit": 4}}))
    rc, out, err = t.rt([*SD, "run", "--bundle", b, cid], timeout=WAIT)
    t.check("run: forks beyond TasksMax fail", "fork" in (out + err).lower() or
            "resource temporarily unavailable" in (out + err).lower(), (rc, out, err))


@h.case
def errors_are_clear(t):
    for path, needle in (("a:b", "slice:prefix:name"), ("bad:p:n", "invalid slice name"),
                         ("a--b.slice:p:n", "invalid slice name"),
                         ("system.slice:p:x/y", "not a valid unit name part")):
        cid = t.cid("err")
        b = t.bundle("true", edit=set_linux(cgroupsPath=path))
        res = t.rt([*SD, "create", "--bundle", b, cid])
        t.fails(f"cgroupsPath {path!r} refused", res, needle)
        t.check(f"cgroupsPath {path!r}: no state left", not os.path.exists(
            os.path.join(t.root, cid)))
    # The same scope twice: systemd refuses the second, the first is untouched.
    cid = t.cid("dup")
    pid, _ = create(t, cid, "exec sleep 100000",
                    edit=set_linux(cgroupsPath=f"system.slice:crtest:{cid}"))
    cid2 = t.cid("dup2")
    b = t.bundle("sleep", "100000", edit=set_linux(cgroupsPath=f"system.slice:crtest:{cid}"))
    res = t.rt([*SD, "create", "--bundle", b, cid2])
    t.fails("a second container in the same scope is refused", res, "UnitExists")
    t.check("the first container still runs", h.pid_alive(pid) and t.status(cid) == "running")
    t.eq("and stays in its scope", own_cgroup(pid), f"/system.slice/crtest-{cid}.scope")


def main():
    if not systemd_here():
        print("FAIL: needs systemd as pid 1 with /run/systemd/private: run it in the guest"
              " (tests/vm/run-in-guest.sh --feature systemd)")
        sys.exit(1)
    h.main()


if __name__ == "__main__":
    main()
