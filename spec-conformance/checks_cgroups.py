"""config-linux.md "Control groups": cgroupsPath (absolute, relative, absent), the cgroup
namespace with cgroupsPath, and every linux.resources sub-object this host can observe
(memory, cpu, pids, blockIO, hugepageLimits, network, rdma, unified), plus runtime.md's rule
that a setting which cannot be applied is an error. The device allow list is in
checks_devcgroup.py.

Values are read on the host from the files of the container init's own cgroups (found through
/proc/PID/cgroup), in the layout of this host (cgroupfs.host_mode())."""

import os

import cgroupfs
from cgroupfs import host_mode, need_v1, read
from harness import Skip, expect, expect_eq
from registry import check

V2 = host_mode() == "unified"
MiB = 1024 * 1024
# controllers every runtime puts a container in (devices is no cgroup v2 controller)
CORE = ("memory", "pids") if V2 else ("memory", "pids", "devices")


def cg_path(ctx, tag="cg"):
    """A fresh absolute cgroupsPath whose directories the cleanup removes."""
    p = f"/crunner-test-conformance-{tag}-{os.getpid()}-{len(ctx.ids)}-{ctx.seq}"
    ctx.cgroup_dirs.extend(cgroupfs.all_dirs_for(p))
    return p


def created(ctx, resources=None, cgroups_path=True, args=("sleep", "100000"), tweak=None):
    """Creates a container with these linux.resources (merged over the fixture's, which deny
    all devices) and returns (cid, init pid, {controller: host dir}, bundle)."""
    b = ctx.bundle(*args)
    b.linux.setdefault("resources", {}).update(resources or {})
    if cgroups_path is True:
        b.linux["cgroupsPath"] = cg_path(ctx)
    elif cgroups_path:
        b.linux["cgroupsPath"] = cgroups_path
    if tweak:
        tweak(b)
    cid, _r = ctx.create(b)
    pid = ctx.must_state(cid)["pid"]
    expect(isinstance(pid, int) and pid > 0, f"state pid {pid!r}")
    return cid, pid, cgroupfs.container_dirs(pid), b


def refused(ctx, resources, what):
    """runtime.md lifecycle: a setting that cannot be applied MUST be an error; runtime.md
    errors: no container and no cgroup left behind."""
    b = ctx.bundle("true")
    b.linux.setdefault("resources", {}).update(resources)
    path = cg_path(ctx)
    b.linux["cgroupsPath"] = path
    r = ctx.run_fails(b, what)
    left = [d for d in cgroupfs.all_dirs_for(path) if os.path.isdir(d)]
    expect(not left, f"the failed create left cgroup directories behind: {left}")
    return r


def disk_dev():
    """(major, minor) of a disk of this host for blkio throttle rules (a real disk, else a
    loop device: the rules only need the device to exist), else Skip."""
    names = sorted(os.listdir("/sys/block"))
    for name in [n for n in names if not n.startswith(("loop", "ram", "zram", "nbd", "sr"))] + \
            [n for n in names if n.startswith("loop")]:
        with open(f"/sys/block/{name}/dev") as f:
            ma, mi = f.read().strip().split(":")
        return int(ma), int(mi)
    raise Skip("no block device on this host")


# ---- cgroupsPath ---------------------------------------------------------------------------
@check("linux.cgroupsPath.absolute", "config-linux.md cgroupsPath: an absolute path MUST be "
       "taken relative to the cgroups mount point (every hierarchy the container joins)")
def _(ctx):
    path = cg_path(ctx)
    _cid, _pid, dirs, _b = created(ctx, cgroups_path=path)
    v2root = (cgroupfs.v2_mount() or (None,))[0]
    for ctrl in CORE + ("cpu", "unified"):
        if ctrl == "unified" and not V2 and dirs.get("unified") in (None, v2root):
            # hybrid: a runtime that does not manage the cgroup2 hierarchy leaves it alone
            ctx.notes.append("the container was not placed in the cgroup2 hierarchy")
            continue
        d = dirs.get(ctrl)
        expect(d is not None, f"the container is in no {ctrl} cgroup: {dirs}")
        expect(d.endswith(path), f"{ctrl} cgroup {d} is not <mount point>{path}")
        if ctrl == "unified" or V2:
            mp = cgroupfs.v2_mount()[0]
        else:
            mp = cgroupfs.v1_mounts()[ctrl][0]
        expect_eq(d, os.path.normpath(mp + path), f"{ctrl} cgroup directory")


@check("linux.cgroupsPath.relative", "config-linux.md cgroupsPath: a relative path is "
       "accepted (MAY be interpreted below a runtime-determined location)")
def _(ctx):
    name = f"crunner-test-conformance-rel-{os.getpid()}"
    b = ctx.bundle("sleep", "100000")
    b.linux["cgroupsPath"] = name
    cid, _r = ctx.create(b)
    pid = ctx.must_state(cid)["pid"]
    dirs = cgroupfs.container_dirs(pid)
    ctx.cgroup_dirs.extend(d for d in dirs.values() if d.endswith(name))
    for ctrl in CORE:
        expect(dirs.get(ctrl, "").endswith("/" + name), f"{ctrl} cgroup {dirs.get(ctrl)} does "
               f"not end with the relative cgroupsPath {name}")


@check("linux.cgroupsPath.absent", "config-linux.md cgroupsPath: absent -> the runtime's "
       "default path; the container still gets a cgroup of its own, where resources apply")
def _(ctx):
    cid, pid, dirs, _b = created(ctx, {"pids": {"limit": 77}}, cgroups_path=None)
    mine = cgroupfs.container_dirs(os.getpid())
    roots = {mp for mp, _r in cgroupfs.v1_mounts().values()} | {(cgroupfs.v2_mount() or ("",))[0]}
    ctx.cgroup_dirs.extend(d for d in set(dirs.values())
                           if d not in roots and d not in set(mine.values()))
    for ctrl in CORE:
        expect(ctrl in dirs, f"the container is in no {ctrl} cgroup")
        expect(dirs[ctrl] != mine.get(ctrl), f"{ctrl}: the container shares the runtime "
               f"caller's cgroup {dirs[ctrl]}")
    expect_eq(read(dirs, "pids", "pids.max"), "77", "pids.max of the default cgroup")
    with open(os.path.join(dirs["pids"], "cgroup.procs")) as f:
        expect_eq(f.read().split(), [str(pid)], "processes in the container's pids cgroup")


@check("linux.cgroupsPath.consistent", "config-linux.md cgroupsPath: the same value MUST "
       "attach to the same place in the hierarchy")
def _(ctx):
    path = cg_path(ctx)
    cid, _pid, first, _b = created(ctx, cgroups_path=path)
    ctx.delete(cid, force=True)
    _cid, _pid, second, _b = created(ctx, cgroups_path=path)
    for ctrl in CORE:
        expect_eq(second.get(ctrl), first.get(ctrl), f"{ctrl} cgroup of the second container")


@check("linux.cgroupsPath.removed-on-delete", "runtime.md delete: the resources created by "
       "create (the container's cgroups) MUST be deleted")
def _(ctx):
    path = cg_path(ctx)
    cid, _pid, dirs, _b = created(ctx, {"pids": {"limit": 10}}, cgroups_path=path)
    ctx.kill(cid)
    ctx.wait_status(cid, "stopped")
    ctx.delete(cid)
    left = [d for d in set(dirs.values()) if d.endswith(path) and os.path.isdir(d)]
    expect(not left, f"cgroup directories left after delete: {left}")


@check("linux.cgroupsPath.cgroupns", "config-linux.md cgroup namespace + cgroupsPath: the "
       "container sees its cgroups as /, the host sees them at cgroupsPath")
def _(ctx):
    path = cg_path(ctx)
    b = ctx.bundle("sh", "-c", "cat /proc/self/cgroup > /out/cg.tmp && mv /out/cg.tmp /out/cgroup; "
                   "sleep 100000")
    out = ctx.outdir(b)
    b.linux["cgroupsPath"] = path
    expect("cgroup" in b.ns_types(), "fixture lacks the cgroup namespace")
    cid, _r = ctx.create(b)
    ctx.start(cid)
    pid = ctx.wait_status(cid, "running")["pid"]
    expect(ctx.wait_file(os.path.join(out, "cgroup")), "the container did not write its cgroups")
    seen = {ln.split(":", 2)[2] for ln in ctx.read(os.path.join(out, "cgroup")).splitlines()
            if ln and not ln.split(":", 2)[1].startswith("name=")}
    expect_eq(seen, {"/"}, "cgroup paths inside the container")
    host = cgroupfs.proc_cgroups(pid)
    for ctrl in ("pids", "memory") if not V2 else ("",):
        expect_eq(host.get(ctrl), path, f"host view of the {ctrl or 'cgroup2'} cgroup")


# ---- memory --------------------------------------------------------------------------------
@check("linux.resources.memory.limit", "config-linux.md memory.limit: limit of memory usage "
       "(v1 memory.limit_in_bytes, v2 memory.max)")
def _(ctx):
    _c, _p, dirs, _b = created(ctx, {"memory": {"limit": 64 * MiB}})
    f = "memory.max" if V2 else "memory.limit_in_bytes"
    expect_eq(read(dirs, "memory", f), str(64 * MiB), f)


@check("linux.resources.memory.reservation", "config-linux.md memory.reservation: soft limit "
       "(v1 memory.soft_limit_in_bytes, v2 memory.low)")
def _(ctx):
    _c, _p, dirs, _b = created(ctx, {"memory": {"limit": 64 * MiB, "reservation": 32 * MiB}})
    f = "memory.low" if V2 else "memory.soft_limit_in_bytes"
    expect_eq(read(dirs, "memory", f), str(32 * MiB), f)


@check("linux.resources.memory.swap", "config-linux.md memory.swap: limit of memory+swap "
       "(v1 memory.memsw.limit_in_bytes; v2 memory.swap.max = swap - limit)")
def _(ctx):
    res = {"memory": {"limit": 64 * MiB, "swap": 96 * MiB}}
    if V2:
        _c, _p, dirs, _b = created(ctx, res)
        expect_eq(read(dirs, "memory", "memory.swap.max"), str(32 * MiB), "memory.swap.max")
        return
    mp = cgroupfs.v1_mounts().get("memory")
    if not mp or not os.path.exists(os.path.join(mp[0], "memory.memsw.limit_in_bytes")):
        raise Skip("no swap accounting (memory.memsw.*) on this host")
    _c, _p, dirs, _b = created(ctx, res)
    expect_eq(read(dirs, "memory", "memory.memsw.limit_in_bytes"), str(96 * MiB),
              "memory.memsw.limit_in_bytes")


@check("linux.resources.memory.swappiness", "config-linux.md memory.swappiness (cgroup v1 "
       "memory.swappiness)")
def _(ctx):
    need_v1("memory")
    _c, _p, dirs, _b = created(ctx, {"memory": {"swappiness": 17}})
    expect_eq(read(dirs, "memory", "memory.swappiness"), "17", "memory.swappiness")


@check("linux.resources.memory.disableOOMKiller", "config-linux.md memory.disableOOMKiller "
       "true disables the OOM killer (cgroup v1 memory.oom_control)")
def _(ctx):
    need_v1("memory")
    _c, _p, dirs, _b = created(ctx, {"memory": {"limit": 64 * MiB, "disableOOMKiller": True}})
    oc = dict(ln.split() for ln in read(dirs, "memory", "memory.oom_control").splitlines())
    expect_eq(oc.get("oom_kill_disable"), "1", "oom_kill_disable")


@check("linux.resources.memory.enforced", "config-linux.md memory.limit: the limit bites (a "
       "process that needs more than the limit makes the cgroup OOM-kill; read from the "
       "cgroup's own counters, whichever process the kernel picked)")
def _(ctx):
    # Which process the OOM killer picks (the hog, or the shell) is the kernel's choice:
    # only the cgroup's counters say reliably that the limit was enforced.
    cid, _pid, dirs, _b = created(ctx, {"memory": {"limit": 16 * MiB, "swap": 16 * MiB}},
                                  args=("sh", "-c", "head -c 96m /dev/zero | tail > /dev/null"))
    ctx.start(cid)
    ctx.wait_status(cid, "stopped")
    if V2:
        ev = dict(ln.split() for ln in read(dirs, "memory", "memory.events").splitlines())
        expect(int(ev.get("oom_kill", "0")) >= 1, f"no OOM kill in memory.events: {ev}")
        expect(int(ev.get("max", "0")) >= 1, f"the limit was never hit: {ev}")
    else:
        oc = dict(ln.split() for ln in read(dirs, "memory", "memory.oom_control").splitlines())
        expect(int(oc.get("oom_kill", "0")) >= 1, f"no OOM kill in memory.oom_control: {oc}")
        peak = int(read(dirs, "memory", "memory.max_usage_in_bytes"))
        expect(peak <= 16 * MiB, f"memory.max_usage_in_bytes {peak} above the 16 MiB limit")


# ---- cpu -----------------------------------------------------------------------------------
@check("linux.resources.cpu.shares", "config-linux.md cpu.shares (v1 cpu.shares; v2 "
       "cpu.weight converted as runc does: 1 + (shares-2)*9999/262142)")
def _(ctx):
    _c, _p, dirs, _b = created(ctx, {"cpu": {"shares": 512}})
    if V2:
        expect_eq(read(dirs, "cpu", "cpu.weight"), str(1 + (512 - 2) * 9999 // 262142),
                  "cpu.weight")
    else:
        expect_eq(read(dirs, "cpu", "cpu.shares"), "512", "cpu.shares")


@check("linux.resources.cpu.quota-period", "config-linux.md cpu.quota and cpu.period (v1 "
       "cpu.cfs_quota_us/cpu.cfs_period_us, v2 cpu.max)")
def _(ctx):
    _c, _p, dirs, _b = created(ctx, {"cpu": {"quota": 25000, "period": 50000}})
    if V2:
        expect_eq(read(dirs, "cpu", "cpu.max"), "25000 50000", "cpu.max")
    else:
        expect_eq(read(dirs, "cpu", "cpu.cfs_quota_us"), "25000", "cpu.cfs_quota_us")
        expect_eq(read(dirs, "cpu", "cpu.cfs_period_us"), "50000", "cpu.cfs_period_us")


def pick_cpu():
    cpus = sorted(os.sched_getaffinity(0))
    return str(cpus[-1])


@check("linux.resources.cpu.cpus-mems", "config-linux.md cpu.cpus and cpu.mems (cpuset.cpus, "
       "cpuset.mems; the init's affinity)")
def _(ctx):
    if not cgroupfs.controller_available("cpuset"):
        raise Skip("no cpuset controller for containers on this host")
    cpu = pick_cpu()
    _c, pid, dirs, _b = created(ctx, {"cpu": {"cpus": cpu, "mems": "0"}})
    expect_eq(read(dirs, "cpuset", "cpuset.cpus"), cpu, "cpuset.cpus")
    expect_eq(read(dirs, "cpuset", "cpuset.mems"), "0", "cpuset.mems")
    expect_eq(sorted(os.sched_getaffinity(pid)), [int(cpu)], "affinity of the container init")


@check("linux.resources.cpu.realtime", "config-linux.md cpu.realtimeRuntime and "
       "cpu.realtimePeriod (cgroup v1 cpu.rt_runtime_us/cpu.rt_period_us)")
def _(ctx):
    need_v1("cpu")
    if not os.path.exists(os.path.join(cgroupfs.v1_mounts()["cpu"][0], "cpu.rt_runtime_us")):
        raise Skip("no CONFIG_RT_GROUP_SCHED (cpu.rt_runtime_us) on this host")
    _c, _p, dirs, _b = created(ctx, {"cpu": {"realtimePeriod": 500000, "realtimeRuntime": 5000}})
    expect_eq(read(dirs, "cpu", "cpu.rt_period_us"), "500000", "cpu.rt_period_us")
    expect_eq(read(dirs, "cpu", "cpu.rt_runtime_us"), "5000", "cpu.rt_runtime_us")


@check("linux.resources.cpu.burst", "config-linux.md cpu.burst (runtime-spec 1.1; v1 "
       "cpu.cfs_burst_us, v2 cpu.max.burst)",
       xfail={"runc": "runc 1.1 implements runtime-spec 1.0.2: no cpu.burst (runc 1.2)"})
def _(ctx):
    f = "cpu.max.burst" if V2 else "cpu.cfs_burst_us"
    _c, _p, dirs, _b = created(ctx, {"cpu": {"quota": 50000, "period": 100000, "burst": 20000}},
                               tweak=lambda b: b.cfg.update(ociVersion="1.1.0"))
    if not os.path.exists(os.path.join(dirs.get("cpu", "/nonexistent"), f)):
        raise Skip(f"no {f} on this kernel")
    expect_eq(read(dirs, "cpu", f), "20000", f)


@check("linux.resources.cpu.idle", "config-linux.md cpu.idle (runtime-spec 1.1): 1 = "
       "SCHED_IDLE cgroup (cpu.idle)",
       xfail={"runc": "runc 1.1 implements runtime-spec 1.0.2: no cpu.idle (runc 1.2)"})
def _(ctx):
    _c, _p, dirs, _b = created(ctx, {"cpu": {"idle": 1}},
                               tweak=lambda b: b.cfg.update(ociVersion="1.1.0"))
    if not os.path.exists(os.path.join(dirs.get("cpu", "/nonexistent"), "cpu.idle")):
        raise Skip("no cpu.idle on this kernel")
    expect_eq(read(dirs, "cpu", "cpu.idle"), "1", "cpu.idle")


# ---- pids ----------------------------------------------------------------------------------
@check("linux.resources.pids", "config-linux.md pids.limit: maximum number of tasks (pids.max)")
def _(ctx):
    _c, _p, dirs, _b = created(ctx, {"pids": {"limit": 42}})
    expect_eq(read(dirs, "pids", "pids.max"), "42", "pids.max")


@check("linux.resources.pids.enforced", "config-linux.md pids.limit: forking beyond the limit "
       "fails inside the container")
def _(ctx):
    b = ctx.bundle("sh", "-c", "n=0; for i in 1 2 3 4 5 6 7 8; do sleep 1000 2>/dev/null & "
                   "n=$((n+1)); done; sleep 1 2>/dev/null || echo fork-failed; "
                   "kill $(jobs -p) 2>/dev/null; echo done")
    b.linux["resources"]["pids"] = {"limit": 4}
    b.linux["cgroupsPath"] = cg_path(ctx)
    r = ctx.run(b)
    expect("fork-failed" in r.out or "can't fork" in r.err + r.out,
           f"9 processes ran under pids.limit 4: {r.brief()}")


# ---- blockIO -------------------------------------------------------------------------------
def blkio_weight_file():
    """The weight file a new blkio cgroup has (probed in a cgroup of our own: the root's
    files differ), or None (no CFQ/BFQ: the weight cannot be applied)."""
    if V2:
        return "io.weight"
    mp = cgroupfs.v1_mounts().get("blkio")
    if not mp:
        return None
    probe = os.path.join(mp[0], f"crunner-test-conformance-probe-{os.getpid()}")
    os.makedirs(probe, exist_ok=True)
    try:
        for f in ("blkio.weight", "blkio.bfq.weight"):
            if os.path.exists(os.path.join(probe, f)):
                return f
    finally:
        os.rmdir(probe)
    return None


@check("linux.resources.blockIO.weight", "config-linux.md blockIO.weight (blkio.weight / "
       "blkio.bfq.weight / io.weight); where no weight file exists it cannot be applied and "
       "create MUST fail (runtime.md lifecycle)")
def _(ctx):
    f = blkio_weight_file()
    if f is None:
        if not cgroupfs.controller_available("blkio"):
            raise Skip("no blkio controller on this host")
        r = refused(ctx, {"blockIO": {"weight": 300}}, "blockIO.weight without CFQ/BFQ weights")
        ctx.notes.append("no blkio weight file on this host: refused: " + r.brief()[-90:])
        return
    _c, _p, dirs, _b = created(ctx, {"blockIO": {"weight": 300}})
    got = read(dirs, "io" if V2 else "blkio", f)
    # v2: io.weight converted from the blkio range as runc does: 1 + (w - 10) * 9999 / 990
    want = str(1 + (300 - 10) * 9999 // 990) if V2 else "300"
    expect(got.split()[-1] == want, f"{f} is {got!r}, expected {want}")


@check("linux.resources.blockIO.throttle", "config-linux.md blockIO throttleRead/Write "
       "Bps/IOPS devices (v1 blkio.throttle.*_device, v2 io.max)")
def _(ctx):
    if not V2 and not cgroupfs.controller_available("blkio"):
        raise Skip("no blkio controller on this host")
    ma, mi = disk_dev()
    dev = {"major": ma, "minor": mi}
    _c, _p, dirs, _b = created(ctx, {"blockIO": {
        "throttleReadBpsDevice": [dict(dev, rate=1048576)],
        "throttleWriteBpsDevice": [dict(dev, rate=2097152)],
        "throttleReadIOPSDevice": [dict(dev, rate=100)],
        "throttleWriteIOPSDevice": [dict(dev, rate=200)]}})
    if V2:
        got = read(dirs, "io", "io.max")
        for kv in ("rbps=1048576", "wbps=2097152", "riops=100", "wiops=200"):
            expect(kv in got, f"io.max {got!r} lacks {kv}")
        return
    for f, v in (("read_bps", 1048576), ("write_bps", 2097152), ("read_iops", 100),
                 ("write_iops", 200)):
        expect_eq(read(dirs, "blkio", f"blkio.throttle.{f}_device"), f"{ma}:{mi} {v}",
                  f"blkio.throttle.{f}_device")


# ---- hugepageLimits, network, rdma: observed where present, else MUST error ----------------
def hugepage_size():
    sizes = sorted(os.listdir("/sys/kernel/mm/hugepages")) if \
        os.path.isdir("/sys/kernel/mm/hugepages") else []
    if "hugepages-2048kB" in sizes:
        return "2MB", "2MB"
    raise Skip("no 2MB huge pages on this host")


@check("linux.resources.hugepageLimits", "config-linux.md hugepageLimits: hugetlb."
       "<size>.limit_in_bytes (v1) / hugetlb.<size>.max (v2; on a hybrid host with hugetlb in "
       "cgroup2 only: written there, or refused)")
def _(ctx):
    size, _ = hugepage_size()
    res = {"hugepageLimits": [{"pageSize": size, "limit": 4 * MiB}]}
    if not cgroupfs.controller_available("hugetlb"):
        if not cgroupfs.hybrid_v2_controller("hugetlb"):
            raise Skip("the hugetlb controller is not available to containers on this host "
                       "(see linux.resources.cannot-apply.hugepageLimits)")
        b = ctx.bundle("sleep", "100000")
        b.linux["resources"].update(res)
        b.linux["cgroupsPath"] = cg_path(ctx)
        cid, r = ctx.create(b, expect_ok=False)
        if r.rc != 0:
            expect(ctx.state(cid) is None, "create failed but a container exists")
            ctx.notes.append("hugetlb only in cgroup2 on this hybrid host: refused: " +
                             r.brief()[-80:])
            return
        dirs = cgroupfs.container_dirs(ctx.must_state(cid)["pid"])
        expect_eq(read(dirs, "unified", f"hugetlb.{size}.max"), str(4 * MiB),
                  f"hugetlb.{size}.max in the container's cgroup2 directory")
        return
    _c, _p, dirs, _b = created(ctx, res)
    f = f"hugetlb.{size}.max" if V2 else f"hugetlb.{size}.limit_in_bytes"
    expect_eq(read(dirs, "hugetlb", f), str(4 * MiB), f)


@check("linux.resources.network", "config-linux.md network.classID and priorities "
       "(net_cls.classid, net_prio.ifpriomap)")
def _(ctx):
    if V2 or not (cgroupfs.controller_available("net_cls") and
                  cgroupfs.controller_available("net_prio")):
        raise Skip("net_cls/net_prio are not mounted on this host (see "
                   "linux.resources.cannot-apply.network)")
    _c, _p, dirs, _b = created(ctx, {"network": {"classID": 1048577,
                                                 "priorities": [{"name": "lo", "priority": 5}]}})
    expect_eq(read(dirs, "net_cls", "net_cls.classid"), "1048577", "net_cls.classid")
    expect("lo 5" in read(dirs, "net_prio", "net_prio.ifpriomap").splitlines(),
           "net_prio.ifpriomap lacks `lo 5`")


@check("linux.resources.rdma", "config-linux.md rdma: hcaHandles/hcaObjects (rdma.max)")
def _(ctx):
    if not cgroupfs.controller_available("rdma"):
        raise Skip("no rdma controller on this host (see linux.resources.cannot-apply.rdma)")
    devs = os.listdir("/sys/class/infiniband") if os.path.isdir("/sys/class/infiniband") else []
    if not devs:
        raise Skip("no RDMA device on this host")
    _c, _p, dirs, _b = created(ctx, {"rdma": {devs[0]: {"hcaHandles": 3, "hcaObjects": 100}}})
    got = read(dirs, "rdma", "rdma.max")
    expect(f"{devs[0]} hca_handle=3 hca_object=100" in got, f"rdma.max is {got!r}")


CANNOT_APPLY = "runtime.md lifecycle: if the runtime cannot create the environment in " \
               "config.json (a resource whose controller is absent) it MUST generate an error"


@check("linux.resources.cannot-apply.hugepageLimits", CANNOT_APPLY, negative=True)
def _(ctx):
    size, _ = hugepage_size()
    if cgroupfs.controller_available("hugetlb") or cgroupfs.hybrid_v2_controller("hugetlb"):
        raise Skip("the hugetlb controller is available on this host")
    refused(ctx, {"hugepageLimits": [{"pageSize": size, "limit": 4 * MiB}]},
            "hugepageLimits without a hugetlb controller")


V2_NETWORK = "on cgroup v2, where net_cls/net_prio have no equivalent, network is ignored; " \
             "config-linux.md unified asks for an error when a v1 setting cannot be converted"


@check("linux.resources.cannot-apply.network", CANNOT_APPLY + "; on cgroup v2 net_cls has no "
       "equivalent (config-linux.md unified: conversion impossible MUST error)", negative=True,
       xfail={"runc": "runc 1.1: " + V2_NETWORK, "crunner": "crunner, as runc: " + V2_NETWORK})
def _(ctx):
    if cgroupfs.controller_available("net_cls") and not V2:
        raise Skip("net_cls is mounted on this host")
    refused(ctx, {"network": {"classID": 1048577}}, "network.classID without net_cls")


@check("linux.resources.cannot-apply.rdma", CANNOT_APPLY, negative=True)
def _(ctx):
    if cgroupfs.controller_available("rdma"):
        raise Skip("the rdma controller is available on this host")
    refused(ctx, {"rdma": {"mlx5_0": {"hcaHandles": 3}}}, "rdma limits without rdma controller")


@check("linux.resources.cannot-apply.cpus", "runtime.md lifecycle: a value the kernel rejects "
       "(cpu.cpus naming a CPU that does not exist) MUST be an error", negative=True)
def _(ctx):
    if not cgroupfs.controller_available("cpuset"):
        raise Skip("no cpuset controller for containers on this host")
    refused(ctx, {"cpu": {"cpus": "4095"}}, "cpu.cpus 4095")


@check("linux.resources.cannot-apply.realtime", "runtime.md lifecycle: a value the kernel "
       "rejects (realtimeRuntime > realtimePeriod) MUST be an error", negative=True)
def _(ctx):
    need_v1("cpu")
    if not os.path.exists(os.path.join(cgroupfs.v1_mounts()["cpu"][0], "cpu.rt_runtime_us")):
        raise Skip("no CONFIG_RT_GROUP_SCHED (cpu.rt_runtime_us) on this host")
    refused(ctx, {"cpu": {"realtimePeriod": 100000, "realtimeRuntime": 200000}},
            "realtimeRuntime 200000 > realtimePeriod 100000")


# ---- unified -------------------------------------------------------------------------------
@check("linux.resources.unified", "config-linux.md unified: each key is a file of the "
       "container's cgroup v2 directory, written as given (on a hybrid host: written to the "
       "unified hierarchy, or refused)")
def _(ctx):
    mode = host_mode()
    if mode == "legacy":
        raise Skip("no cgroup v2 hierarchy on this host")
    if mode == "unified":
        if "pids" not in cgroupfs.v2_controllers():
            raise Skip("no pids controller in cgroup v2")
        _c, _p, dirs, _b = created(ctx, {"unified": {"pids.max": "23"}})
        expect_eq(read(dirs, "unified", "pids.max"), "23", "pids.max")
        return
    # hybrid: cgroup.max.descendants needs no controller; a runtime may also refuse unified
    # on a host whose controllers are v1 (runc: "unified resources on cgroup v1")
    b = ctx.bundle("sleep", "100000")
    b.linux["resources"]["unified"] = {"cgroup.max.descendants": "3"}
    b.linux["cgroupsPath"] = cg_path(ctx)
    cid, r = ctx.create(b, expect_ok=False)
    if r.rc != 0:
        expect(ctx.state(cid) is None, "create failed but a container exists")
        ctx.notes.append("hybrid host: unified refused: " + r.brief()[-90:])
        return
    dirs = cgroupfs.container_dirs(ctx.must_state(cid)["pid"])
    expect_eq(read(dirs, "unified", "cgroup.max.descendants"), "3",
              "cgroup.max.descendants in the container's cgroup2 directory")


@check("linux.resources.unified-absent-controller", "config-linux.md unified: the runtime "
       "MUST generate an error when the configuration refers to a cgroup controller that is "
       "not present or cannot be enabled", negative=True)
def _(ctx):
    if host_mode() == "legacy":
        raise Skip("no cgroup v2 hierarchy on this host")
    have = cgroupfs.v2_controllers()
    for ctrl, key, val in (("pids", "pids.max", "10"), ("rdma", "rdma.max", "mlx5_0 hca_handle=1"),
                           ("misc", "misc.max", "sev 1")):
        if ctrl not in have:
            refused(ctx, {"unified": {key: val}}, f"unified {key} without a {ctrl} controller")
            return
    raise Skip("pids, rdma and misc are all present in cgroup v2")


@check("linux.resources.unified-unknown-controller", "config-linux.md unified: a key naming a "
       "controller that does not exist MUST be an error", negative=True)
def _(ctx):
    if host_mode() == "legacy":
        raise Skip("no cgroup v2 hierarchy on this host")
    refused(ctx, {"unified": {"conformance.max": "1"}}, "unified conformance.max")


@check("linux.cgroupsPath.cgroupns-view", "config-linux.md cgroup namespace: the container's "
       "isolated view of the hierarchy (its cgroup mount) shows its own cgroup's values")
def _(ctx):
    b = ctx.bundle("sh", "-c", "cat /sys/fs/cgroup/pids/pids.max 2>/dev/null || "
                   "cat /sys/fs/cgroup/pids.max")
    expect(any(m["destination"] == "/sys/fs/cgroup" for m in b.cfg["mounts"]),
           "fixture lacks the /sys/fs/cgroup mount")
    b.linux["resources"]["pids"] = {"limit": 33}
    b.linux["cgroupsPath"] = cg_path(ctx)
    expect_eq(ctx.run_ok(b).strip(), "33", "pids.max seen inside the container")
