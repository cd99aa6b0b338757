"""config-linux.md "Allowed Device list" (linux.resources.devices), observed from inside the
container by opening device nodes.

The nodes use majors 240-254 ("local/experimental use": no driver is registered for them
here), created on the host in the rootfs and not listed in linux.devices (runtimes add no
allow rules for linux.devices entries: the spec only requires the nodes to exist, their
access is the allow list's business). Opening such a node gives ENXIO when
the device cgroup allows the access (the kernel checks the cgroup first, then finds no
driver) and EPERM when it denies it. Rules are chosen so that cgroup v1 (devices.allow/deny
exceptions) and cgroup v2 (an eBPF program, last match wins) give the same answer."""

import os
import stat

from harness import Skip, expect_eq
from registry import check
from checks_cgroups import cg_path

PROBE = r'''
probe() {  # probe PATH MODE: prints PATH:MODE:ENXIO|EPERM|ok|other
  if [ "$2" = r ]; then out=$(cat "$1" 2>&1 </dev/null); else out=$( (: > "$1") 2>&1); fi
  rc=$?
  case "$out" in
    *"not permitted"*) res=EPERM ;;
    *"No such device"*) res=ENXIO ;;
    *) if [ $rc = 0 ]; then res=ok; else res="other($out)"; fi ;;
  esac
  echo "$1:$2:$res"
}
'''


def nodes(b, specs):
    """Creates device nodes in the rootfs: specs = [(name, 'c'|'b', major, minor)]."""
    d = os.path.join(b.rootfs, "cdev")
    os.makedirs(d, exist_ok=True)
    for name, typ, ma, mi in specs:
        mode = (stat.S_IFCHR if typ == "c" else stat.S_IFBLK) | 0o666
        os.mknod(os.path.join(d, name), mode, os.makedev(ma, mi))
        os.chmod(os.path.join(d, name), 0o666)


def probe(ctx, rules, specs, accesses, caps=None, extra=""):
    """Runs the probe for [(node name, 'r'|'w')] with these device rules (after the fixture's
    deny-all) and returns {(name, mode): result}."""
    b = ctx.bundle()
    if b.rootfs and os.statvfs(b.rootfs).f_flag & os.ST_NODEV:
        raise Skip("the bundle's filesystem is mounted nodev")
    nodes(b, specs)
    b.linux["resources"]["devices"] = [{"allow": False, "access": "rwm"}] + rules
    b.linux["cgroupsPath"] = cg_path(ctx, "dev")
    if caps:
        for k in ("bounding", "effective", "permitted"):
            b.process["capabilities"][k] = sorted(set(b.process["capabilities"][k]) | set(caps))
    script = PROBE + "".join(f"probe /cdev/{n} {m}\n" for n, m in accesses) + extra
    out = ctx.sh_ok(b, script)
    res = {}
    for line in out.splitlines():
        if line.startswith("/cdev/") and line.count(":") >= 2:
            p, m, r = line.split(":", 2)
            res[(p[len("/cdev/"):], m)] = r
        elif line.startswith("mknod:"):
            res[tuple(line.split(":")[1:3])] = line.split(":", 3)[3]
    return res


def expect_results(got, want):
    for k, v in want.items():
        expect_eq(got.get(k), v, f"open {k[1]} of /cdev/{k[0]}")


@check("linux.resources.devices.default-deny", "config-linux.md devices allow list: a device "
       "denied by the list (deny all) cannot be opened; the default devices still can")
def _(ctx):
    got = probe(ctx, [], [("c241_1", "c", 241, 1), ("b241_1", "b", 241, 1)],
                [("c241_1", "r"), ("c241_1", "w"), ("b241_1", "r")],
                extra="cat /dev/null && echo null-ok\n")
    expect_results(got, {("c241_1", "r"): "EPERM", ("c241_1", "w"): "EPERM",
                         ("b241_1", "r"): "EPERM"})


@check("linux.resources.devices.order", "config-linux.md devices: the runtime MUST apply "
       "entries in the listed order (allow then deny != deny then allow)")
def _(ctx):
    got = probe(ctx, [
        {"allow": True, "type": "c", "major": 241, "minor": 5, "access": "rw"},
        {"allow": False, "type": "c", "major": 241, "minor": 5, "access": "w"},
        {"allow": False, "type": "c", "major": 241, "minor": 6, "access": "w"},
        {"allow": True, "type": "c", "major": 241, "minor": 6, "access": "rw"},
    ], [("c241_5", "c", 241, 5), ("c241_6", "c", 241, 6)],
        [("c241_5", "r"), ("c241_5", "w"), ("c241_6", "r"), ("c241_6", "w")])
    expect_results(got, {("c241_5", "r"): "ENXIO", ("c241_5", "w"): "EPERM",
                         ("c241_6", "r"): "ENXIO", ("c241_6", "w"): "ENXIO"})


@check("linux.resources.devices.access", "config-linux.md devices access: r (read) and w "
       "(write) are granted separately")
def _(ctx):
    got = probe(ctx, [
        {"allow": True, "type": "c", "major": 241, "minor": 7, "access": "r"},
        {"allow": True, "type": "c", "major": 241, "minor": 8, "access": "w"},
    ], [("c241_7", "c", 241, 7), ("c241_8", "c", 241, 8)],
        [("c241_7", "r"), ("c241_7", "w"), ("c241_8", "r"), ("c241_8", "w")])
    expect_results(got, {("c241_7", "r"): "ENXIO", ("c241_7", "w"): "EPERM",
                         ("c241_8", "r"): "EPERM", ("c241_8", "w"): "ENXIO"})


@check("linux.resources.devices.mknod", "config-linux.md devices access: m grants mknod of "
       "the listed device")
def _(ctx):
    extra = "".join(
        f"if mknod /dev/{n} c 241 {mi} 2>/dev/null; then echo mknod:{n}:m:ok; else "
        f"echo mknod:{n}:m:failed; fi\n" for n, mi in (("m241_9", 9), ("m241_10", 10)))
    got = probe(ctx, [{"allow": True, "type": "c", "major": 241, "minor": 9, "access": "m"}],
                [], [], caps=["CAP_MKNOD"], extra=extra)
    expect_results(got, {("m241_9", "m"): "ok"})
    # runc and crun add "c *:* m" and "b *:* m" to every container: a device not listed may
    # still be created (only opening it is controlled), so this is informational
    ctx.notes.append(f"mknod of an unlisted device (c 241:10): {got.get(('m241_10', 'm'))}")


@check("linux.resources.devices.type", "config-linux.md devices type: c and b are distinct; an "
       "unset type means all (a)")
def _(ctx):
    got = probe(ctx, [
        {"allow": True, "type": "b", "major": 241, "minor": 11, "access": "rw"},
        {"allow": True, "type": "c", "major": 242, "minor": 11, "access": "rw"},
    ], [("c241_11", "c", 241, 11), ("b241_11", "b", 241, 11), ("c242_11", "c", 242, 11),
        ("b242_11", "b", 242, 11)],
        [("c241_11", "r"), ("b241_11", "r"), ("c242_11", "r"), ("b242_11", "r")])
    expect_results(got, {("c241_11", "r"): "EPERM", ("b241_11", "r"): "ENXIO",
                         ("c242_11", "r"): "ENXIO", ("b242_11", "r"): "EPERM"})
    got = probe(ctx, [{"allow": True, "access": "rwm"}],
                [("c243_1", "c", 243, 1), ("b243_1", "b", 243, 1)],
                [("c243_1", "w"), ("b243_1", "r")])
    expect_results(got, {("c243_1", "w"): "ENXIO", ("b243_1", "r"): "ENXIO"})


@check("linux.resources.devices.wildcards", "config-linux.md devices major/minor: unset "
       "means all (* in the filesystem API)")
def _(ctx):
    got = probe(ctx, [
        {"allow": True, "type": "c", "major": 244, "access": "r"},
        {"allow": True, "type": "c", "minor": 77, "access": "r"},
    ], [("c244_1", "c", 244, 1), ("c244_200", "c", 244, 200), ("c245_77", "c", 245, 77),
        ("c245_78", "c", 245, 78)],
        [("c244_1", "r"), ("c244_200", "r"), ("c245_77", "r"), ("c245_78", "r"),
         ("c244_1", "w")])
    expect_results(got, {("c244_1", "r"): "ENXIO", ("c244_200", "r"): "ENXIO",
                         ("c245_77", "r"): "ENXIO", ("c245_78", "r"): "EPERM",
                         ("c244_1", "w"): "EPERM"})

