"""Host-side view of cgroups for the conformance checks: the host's layout (legacy v1, hybrid
v1 + cgroup2 at /sys/fs/cgroup/unified, unified v2) and the directories of a container's init
process, found from /proc/PID/cgroup and the cgroup mounts of /proc/self/mountinfo.

Values are always read on the host from the container's own cgroup files, never from inside
the container (whose view depends on the cgroup namespace and the runtime's mounts)."""

import os

from harness import Fail, Skip

V1_CONTROLLERS = ("cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "blkio", "pids",
                  "hugetlb", "net_cls", "net_prio", "perf_event", "rdma", "misc")


def _mounts():
    """[(mountpoint, root, fstype, super options)] of the cgroup and cgroup2 mounts."""
    out = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            pre, _, post = line.partition(" - ")
            a, b = pre.split(), post.split()
            if b and b[0] in ("cgroup", "cgroup2"):
                out.append((a[4], a[3], b[0], b[2].split(",") if len(b) > 2 else []))
    return out


def host_mode():
    """"unified" (cgroup2 at /sys/fs/cgroup), "hybrid" (v1 plus cgroup2 somewhere below) or
    "legacy" (v1 only)."""
    mounts = _mounts()
    if any(m[0] == "/sys/fs/cgroup" and m[2] == "cgroup2" for m in mounts):
        return "unified"
    if any(m[2] == "cgroup2" for m in mounts):
        return "hybrid"
    return "legacy"


def v1_mounts():
    """{controller: (mountpoint, root)} for every mounted v1 controller."""
    res = {}
    for mp, root, fs, opts in _mounts():
        if fs != "cgroup":
            continue
        for o in opts:
            if o in V1_CONTROLLERS and o not in res:
                res[o] = (mp, root)
    return res


def v2_mount():
    """(mountpoint, root) of the cgroup2 hierarchy, or None."""
    for mp, root, fs, _opts in _mounts():
        if fs == "cgroup2":
            return mp, root
    return None


def v2_controllers():
    """Controllers available in the cgroup2 root (cgroup.controllers), [] without cgroup2."""
    m = v2_mount()
    if not m:
        return []
    try:
        with open(os.path.join(m[0], "cgroup.controllers")) as f:
            return f.read().split()
    except OSError:
        return []


def _join(mp, root, path):
    if root != "/" and (path == root or path.startswith(root + "/")):
        path = path[len(root):] or "/"
    return os.path.normpath(mp + "/" + path.lstrip("/"))


def proc_cgroups(pid):
    """{controller or "" (cgroup2): path} from /proc/PID/cgroup (as seen from this namespace)."""
    res = {}
    with open(f"/proc/{pid}/cgroup") as f:
        for line in f:
            hid, ctrls, path = line.rstrip("\n").split(":", 2)
            if hid == "0" and ctrls == "":
                res[""] = path
            for c in ctrls.split(","):
                if c and not c.startswith("name="):
                    res[c] = path
    return res


def container_dirs(pid):
    """{controller: host directory} of a process's cgroups; the key "unified" is its cgroup2
    directory (in unified mode every controller maps to that same directory)."""
    cg = proc_cgroups(pid)
    res = {}
    mode = host_mode()
    v2 = v2_mount()
    if v2 and "" in cg:
        res["unified"] = _join(v2[0], v2[1], cg[""])
    if mode == "unified":
        try:
            with open(os.path.join(res["unified"], "cgroup.controllers")) as f:
                for c in f.read().split():
                    res[c] = res["unified"]
        except (OSError, KeyError):
            pass
        return res
    for c, (mp, root) in v1_mounts().items():
        if c in cg:
            res[c] = _join(mp, root, cg[c])
    return res


def all_dirs_for(path):
    """Every directory a container with absolute cgroupsPath `path` may create: one per v1
    mount point plus the cgroup2 one (for cleanup and for checking removal)."""
    dirs = {os.path.normpath(mp + "/" + path.lstrip("/")) for mp, _r, _f, _o in _mounts()}
    return sorted(dirs)


def read(dirs, ctrl, name):
    """The stripped content of file `name` in the container's `ctrl` cgroup."""
    d = dirs.get(ctrl)
    if d is None:
        raise Fail(f"the container is in no {ctrl} cgroup (its cgroups: {sorted(dirs)})")
    p = os.path.join(d, name)
    try:
        with open(p) as f:
            return f.read().strip()
    except OSError as e:
        raise Fail(f"cannot read {p}: {e.strerror}")


def need_v1(ctrl):
    if host_mode() == "unified":
        raise Skip(f"{ctrl} is a cgroup v1 setting and this host is cgroup v2")
    if ctrl not in v1_mounts():
        raise Skip(f"the {ctrl} cgroup v1 controller is not mounted on this host")


def controller_available(ctrl):
    """Whether a container can be given a `ctrl` cgroup: mounted v1 controller, or (unified
    mode) a controller enabled in the root's cgroup.subtree_control."""
    if host_mode() == "unified":
        m = v2_mount()
        try:
            with open(os.path.join(m[0], "cgroup.subtree_control")) as f:
                return ctrl in f.read().split()
        except OSError:
            return False
    return ctrl in v1_mounts()


def hybrid_v2_controller(ctrl):
    """On a hybrid host: whether `ctrl` is enabled in the cgroup2 root's subtree_control, so a
    runtime may use it through the container's cgroup2 directory (e.g. hugetlb when it is not
    bound to a v1 hierarchy)."""
    m = v2_mount()
    if host_mode() != "hybrid" or not m:
        return False
    try:
        with open(os.path.join(m[0], "cgroup.subtree_control")) as f:
            return ctrl in f.read().split()
    except OSError:
        return False
