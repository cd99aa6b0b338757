"""crunner-image's disk limits on a kernel with XFS project quotas (the XFS guest of tests/vm:
xfs.ko loaded, an XFS with prjquota mounted at $CRUNNER_GUEST_XFS). What each case proves:
- a store on that XFS: `create --disk-limit-size-bytes` (exclusive with
  --exclude-image-from-quota, and total) gives the image dir a project quota; inside a real
  crunner container a dd past the limit fails, as root and as a non-root user of the image,
  while a write under it succeeds (XFS reports an exceeded project quota as ENOSPC, "No space
  left on device", not EDQUOT: the file system itself has hundreds of MiB free); the total scope counts
  the image's layers (9 MiB fit exclusive, not total, under a 10 MiB limit); `stats` reports
  exclusive bytes equal to `du` of the image dir and total = exclusive + `du` of its layers;
  a limit smaller than the image is refused and leaves nothing; delete drops the quota;
- a store that is a plain directory (tmpfs here): `init-store --store-size-bytes` makes a
  sparse XFS file beside it, loop-mounted with prjquota on the store (as GrootFS does), and
  limits bite there too (an image mapped for a user namespace, in a user-namespaced
  container); delete-store unmounts it and frees the loop device;
- without project quotas a limit stays a clear error that leaves nothing: a plain-directory
  store, and an XFS mounted without prjquota.
The image is a tar archive of the busybox rootfs tests/fixtures/make-bundle.sh built on the
host (CRUNNER_FIXTURE_CACHE), with users alice (1001) and bob (1002). Run by tests/vm in the
XFS guest; it fails (never skips) where the XFS it needs is missing."""

import io
import json
import os
import shutil
import subprocess
import sys
import tarfile

import imagelib as L
from imagelib import case, check, eq

MiB = 1 << 20
FIXTURE = os.path.join(os.environ.get("CRUNNER_FIXTURE_CACHE", "/tmp/crunner-fixture-cache"), "rootfs")


def mount_of(path):
    """(fstype, super options) of the mount at path, or None."""
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            if fields[4] == path:
                sep = fields.index("-")
                return fields[sep + 1], fields[sep + 3]
    return None


def du(path):
    """Bytes allocated under path on its own file system (du -s -x -B1)."""
    return int(L.run(["du", "-s", "-x", "-B1", path]).stdout.split()[0])


def make_image_tar(tmp):
    """The fixture rootfs as one tar layer, plus alice and bob with home dirs of their own."""
    path = os.path.join(tmp, "busybox.tar")
    with tarfile.open(path, "w") as t:
        for name in sorted(os.listdir(FIXTURE)):
            if name != "etc":
                t.add(os.path.join(FIXTURE, name), arcname=name)
        t.add(os.path.join(FIXTURE, "etc"), arcname="etc", recursive=False)
        for name in sorted(os.listdir(os.path.join(FIXTURE, "etc"))):
            p = os.path.join(FIXTURE, "etc", name)
            with open(p, "rb") as f:
                data = f.read()
            if name == "passwd":
                data += b"alice:x:1001:1001::/home/alice:/bin/sh\nbob:x:1002:1002::/home/bob:/bin/sh\n"
            elif name == "group":
                data += b"alice:x:1001:\nbob:x:1002:\n"
            ti = t.gettarinfo(p, arcname="etc/" + name)
            ti.size = len(data)
            t.addfile(ti, io.BytesIO(data))
        for uid, user in ((1001, "alice"), (1002, "bob")):
            ti = tarfile.TarInfo("home/" + user)
            ti.type, ti.mode, ti.uid, ti.gid = tarfile.DIRTYPE, 0o755, uid, uid
            t.addfile(ti)
    return path


class Bundles:
    """config.json of make-bundle.sh once; each container gets a copy naming its rootfs."""

    def __init__(self, tmp):
        self.tmp = tmp
        self.n = 0
        tpl = os.path.join(tmp, "tpl")
        L.run(["bash", L.MAKE_BUNDLE, tpl])
        self.config = json.load(open(os.path.join(tpl, "config.json")))
        shutil.rmtree(tpl)

    def run(self, rootfs, script, user=(0, 0), userns=False):
        self.n += 1
        b = os.path.join(self.tmp, "bundle-%d" % self.n)
        os.makedirs(b)
        cfg = json.loads(json.dumps(self.config))
        cfg["root"] = {"path": rootfs, "readonly": False}
        cfg["process"]["args"] = ["sh", "-c", script]
        cfg["process"]["user"] = {"uid": user[0], "gid": user[1]}
        if userns:
            cfg["linux"]["namespaces"].append({"type": "user"})
            cfg["linux"]["uidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
            cfg["linux"]["gidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
            cfg["mounts"] = [m for m in cfg["mounts"] if m["destination"] not in ("/sys", "/sys/fs/cgroup")]
        json.dump(cfg, open(os.path.join(b, "config.json"), "w"))
        cid = "guest-xfs-%d-%d" % (os.getpid(), self.n)
        root = os.path.join(self.tmp, "crunner-root")
        p = L.run([L.CRUNNER, "--root", root, "run", "--bundle", b, cid], check=False, timeout=120)
        L.run([L.CRUNNER, "--root", root, "delete", "--force", cid], check=False)
        shutil.rmtree(b)
        return p


def hit(p, store):
    """The container's dd failed on the project quota: ENOSPC (XFS's errno for project
    quotas) while the store's file system has room to spare."""
    st = os.statvfs(store)
    return p.returncode != 0 and "No space left on device" in p.stderr and st.f_bavail * st.f_frsize > 100 * MiB


def dd(path, mb):
    return "dd if=/dev/zero of=%s bs=1M count=%d conv=fsync" % (path, mb)


def setup(env):
    xfs = os.environ.get("CRUNNER_GUEST_XFS", "")
    m = mount_of(xfs) if xfs else None
    if not (m and m[0] == "xfs" and "prjquota" in m[1]):
        raise AssertionError("this suite needs an XFS mounted with prjquota in $CRUNNER_GUEST_XFS "
                             "(the XFS guest of tests/vm), got %r at %r" % (m, xfs))
    if not os.path.isfile(os.path.join(FIXTURE, "bin", "busybox")):
        raise AssertionError("no fixture rootfs at %s (built on the host by make-bundle.sh)" % FIXTURE)
    xstore = os.path.join(xfs, "store-%d" % os.getpid())
    env.stores.append(xstore)
    env.image("init-store", store=xstore)
    return {"tar": make_image_tar(env.tmp), "xstore": xstore, "bundles": Bundles(env.tmp)}


@case
def store_on_xfs(env, ctx):
    xs, tar, b = ctx["xstore"], ctx["tar"], ctx["bundles"]
    # Exclusive: the image's own bytes do not count; 9 MiB fit under 10 MiB, 11 do not.
    env.image("create", "--disk-limit-size-bytes", str(10 * MiB), "--exclude-image-from-quota", tar, "ex", store=xs)
    rootfs = os.path.join(xs, "images", "ex", "rootfs")
    p = b.run(rootfs, dd("/root/fits", 9))
    check("exclusive 10 MiB: 9 MiB fit (the image does not count)", p.returncode == 0, p.stderr)
    p = b.run(rootfs, "rm /root/fits; " + dd("/root/test", 11))
    check("exclusive 10 MiB: dd of 11 MiB fails (ENOSPC) in a crunner container",
          hit(p, xs), p.stdout + p.stderr)
    b.run(rootfs, "rm /root/test")
    p = b.run(rootfs, dd("/home/alice/a", 8), user=(1001, 1001))
    check("the image's user alice writes 8 MiB", p.returncode == 0, p.stderr)
    p = b.run(rootfs, dd("/home/bob/b", 3), user=(1002, 1002))
    check("the limit is the image's, whoever writes: bob's 3 MiB after alice's 8 fail (ENOSPC)",
          hit(p, xs), p.stdout + p.stderr)
    # stats: exclusive = what the quota counts = du of the image dir (the overlay's upper and
    # work dirs, image.json); total adds the layers'.
    s = json.loads(env.image("stats", "ex", store=xs).stdout)["disk_usage"]
    img = os.path.join(xs, "images", "ex")
    layers = json.load(open(os.path.join(img, "image.json")))["layers"]
    base = sum(du(os.path.join(xs, "layers", l, "diff")) for l in layers)
    print("INFO stats %s, du of the image dir %d, of its layers %d" % (s, du(img), base))
    check("stats: exclusive bytes = du of the image dir (within 64 KiB)",
          abs(s["exclusive_bytes_used"] - du(img)) <= 64 << 10 and s["exclusive_bytes_used"] >= 9 * MiB, str(s))
    check("stats: total = exclusive + du of the image's layers (within 64 KiB)",
          abs(s["total_bytes_used"] - s["exclusive_bytes_used"] - base) <= 64 << 10, str(s))

    # Total: the layers count, so 7 MiB fit under 10 MiB but 9 do not.
    env.image("create", "--disk-limit-size-bytes", str(10 * MiB), tar, "tot", store=xs)
    rootfs = os.path.join(xs, "images", "tot", "rootfs")
    p = b.run(rootfs, dd("/root/test", 7))
    check("total 10 MiB: 7 MiB fit", p.returncode == 0, p.stderr)
    p = b.run(rootfs, "rm /root/test; " + dd("/root/test", 9))
    check("total 10 MiB: 9 MiB fail (ENOSPC) (the image's ~2 MiB count)",
          hit(p, xs), p.stdout + p.stderr)
    p = env.image("create", "--disk-limit-size-bytes", str(1 * MiB), tar, "small", store=xs, check=False)
    check("total: a limit smaller than the image is refused, saying so",
          p.returncode == 1 and "disk limit is smaller than volume size" in p.stdout, p.stdout)
    check("... and leaves nothing", not os.path.exists(os.path.join(xs, "images", "small")))
    proj = L.run(["xfs_io", "-c", "lsproj", img]).stdout.split()[-1]
    limits = lambda: L.run(["xfs_quota", "-x", "-c", "quota -p -N -b %s" % proj,
                            os.environ["CRUNNER_GUEST_XFS"]], check=False).stdout.split()[2:4]
    eq("the image's project has its limit (xfs_quota: soft, hard KiB)", limits(), ["10240", "10240"])
    env.image("delete", "ex", store=xs)
    check("delete drops the image's project quota", limits() in ([], ["0", "0"]), str(limits()))
    env.image("delete", "tot", store=xs)


@case
def plain_directory_store_gets_a_loop_xfs(env, ctx):
    store = os.path.join(env.tmp, "store-loop")
    env.stores.append(store)
    env.image("init-store", "--store-size-bytes", str(320 * MiB), store=store)
    m = mount_of(store)
    check("init-store --store-size-bytes: an XFS with prjquota mounted on the store",
          m is not None and m[0] == "xfs" and "prjquota" in m[1], str(m))
    backing = store + ".backing-store"
    check("backed by a sparse file beside it", os.path.isfile(backing) and
          os.stat(backing).st_blocks * 512 < os.stat(backing).st_size // 4, backing)
    maps = ["--uid-mapping", "0:100000:65536", "--gid-mapping", "0:100000:65536"]
    env.image("create", *maps, "--disk-limit-size-bytes", str(10 * MiB), "--exclude-image-from-quota",
              ctx["tar"], "m1", store=store)
    rootfs = os.path.join(store, "images", "m1", "rootfs")
    p = ctx["bundles"].run(rootfs, dd("/root/fits", 9) + " && rm /root/fits && " + dd("/root/test", 11),
                           userns=True)
    check("a mapped image in a user-namespaced container: 9 MiB fit, 11 fail (ENOSPC)",
          hit(p, store) and p.stderr.count("No space") == 1, p.stdout + p.stderr)
    s = json.loads(env.image("stats", "m1", store=store).stdout)["disk_usage"]
    check("its stats: exclusive at the limit", 9 * MiB <= s["exclusive_bytes_used"] <= 10 * MiB, str(s))
    env.image("delete-store", store=store)
    check("delete-store unmounts and removes the loop XFS", not os.path.exists(store) and
          not os.path.exists(backing) and mount_of(store) is None)
    eq("no loop device left", L.run(["losetup", "-j", backing]).stdout, "")


@case
def without_project_quotas_a_limit_is_a_clear_error(env, ctx):
    plain = os.path.join(env.tmp, "store-plain")
    env.stores.append(plain)
    env.image("init-store", store=plain)
    p = env.image("create", "--disk-limit-size-bytes", str(10 * MiB), ctx["tar"], "p1", store=plain, check=False)
    check("a store on tmpfs: refused, naming XFS", p.returncode == 1 and
          "disk limits need a store on XFS with project quotas" in p.stdout, p.stdout)
    eq("... leaving no image", os.listdir(os.path.join(plain, "images")), [])
    # An XFS mounted without prjquota: project ids can be set, but nothing would enforce them.
    img = os.path.join(env.tmp, "noquota.img")
    mnt = os.path.join(env.tmp, "noquota")
    os.makedirs(mnt)
    with open(img, "wb") as f:
        f.truncate(300 * MiB)
    L.run(["mkfs.xfs", "-q", img])
    L.run(["mount", "-t", "xfs", "-o", "loop", img, mnt])
    try:
        store = os.path.join(mnt, "store")
        env.image("init-store", store=store)
        p = env.image("create", "--disk-limit-size-bytes", str(10 * MiB), ctx["tar"], "nq", store=store, check=False)
        check("an XFS without prjquota: refused, saying so", p.returncode == 1 and "prjquota" in p.stdout, p.stdout)
        eq("... leaving no image", os.listdir(os.path.join(store, "images")), [])
        env.image("delete-store", store=store)
    finally:
        L.run(["umount", mnt])
        os.unlink(img)


if __name__ == "__main__":
    L.main(setup)
