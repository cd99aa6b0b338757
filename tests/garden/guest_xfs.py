"""garden-shim's disk limits through crunner-image as its image plugins, with their stores on
an XFS with project quotas (the XFS guest of tests/vm), over the HTTP API: Cloud Foundry's
Garden acceptance specs for limits.disk (garden-integration-tests, "LimitDisk"), with its
sizes. What each test proves:
- scope total: the image's bytes count (7 MiB fit under 10 MiB, 9 MiB do not); metrics report
  a total above the exclusive bytes by the image's size, for an unprivileged and a privileged
  container;
- scope exclusive: only the container's own writes count (9 MiB fit, 11 do not);
- an image with pre-existing users (alice, bob): each is held to the container's limit, and
  they share it (bob's 3 MiB fail after alice's 8);
- a privileged container: root and a user made in the container are held to it;
- metrics: exclusive and total bytes grow by what a process wrote (+3 MiB, +13 MiB, within
  1 MiB), as the acceptance suite's DiskStat table checks;
- a rootfs larger than a total limit fails the create clearly (the plugin's message), leaving
  no container and no image;
- two containers with the same limit each get their own quota;
- peas: a process with its own image in a container with a disk limit writes under the
  container's limit (its image joins the container's project quota): pea and container
  share it, and the container's metrics count the pea's bytes.
A write past a quota fails with ENOSPC ("No space left on device": XFS's errno for project
quotas) while the store's file system has room. The image is a tar archive of the busybox
rootfs built on the host (tests/image/guest_xfs.py's make_image_tar). Run by tests/vm in the
XFS guest; it fails (never skips) where the XFS it needs is missing."""

import importlib.util
import os
import subprocess
import sys
import tempfile

from harness import SOURCE_DIR, GardenError, ShimTestCase, main

# tests/image/guest_xfs.py: the image and mount helpers (loaded by path: same file name).
sys.path.insert(0, os.path.join(SOURCE_DIR, "tests", "image"))
_spec = importlib.util.spec_from_file_location(
    "image_guest_xfs", os.path.join(SOURCE_DIR, "tests", "image", "guest_xfs.py"))
G = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(G)

IMAGE_BIN = os.environ.get("CRUNNER_IMAGE", "")
MiB = 1 << 20


def dd(path, mb):
    return ["-c", "dd if=/dev/zero of=%s bs=1M count=%d conv=fsync" % (path, mb)]


class DiskLimits(ShimTestCase):
    @classmethod
    def setUpClass(cls):
        xfs = os.environ.get("CRUNNER_GUEST_XFS", "")
        m = G.mount_of(xfs) if xfs else None
        assert m and m[0] == "xfs" and "prjquota" in m[1], \
            "this suite needs an XFS mounted with prjquota in $CRUNNER_GUEST_XFS, got %r" % (m,)
        assert IMAGE_BIN, "CRUNNER_IMAGE is not set"
        cls.tmp = tempfile.mkdtemp(prefix="crunner-test-gxfs-")
        os.chmod(cls.tmp, 0o711)
        cls.addClassCleanup(subprocess.run, ["rm", "-rf", cls.tmp])
        cls.tar = G.make_image_tar(cls.tmp)
        cls.stores = {k: os.path.join(xfs, "garden-%s-%d" % (k, os.getpid())) for k in ("unpriv", "priv")}
        for s in cls.stores.values():
            cls.addClassCleanup(subprocess.run, [IMAGE_BIN, "--store", s, "delete-store"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            subprocess.run([IMAGE_BIN, "--store", s, "init-store"], check=True)
        cls.shim_extra = [
            "--image-plugin", IMAGE_BIN, "--image-plugin-extra-arg=--store=" + cls.stores["unpriv"],
            "--privileged-image-plugin", IMAGE_BIN,
            "--privileged-image-plugin-extra-arg=--store=" + cls.stores["priv"],
        ]
        super().setUpClass()

    def limited(self, handle, mb, scope, privileged=False):
        return self.create(handle=handle, image={"uri": self.tar}, privileged=privileged,
                           limits={"disk_limits": {"byte_soft": mb * MiB, "byte_hard": mb * MiB,
                                                   "scope": scope}})

    def sh(self, h, args, user="root", **kw):
        return self.run_proc(h, "sh", *args, user=user, **kw)

    def assertFits(self, r):
        self.assertEqual(r[0], 0, r[2])

    def assertHitsQuota(self, r, store="unpriv"):
        code, _, err = r
        self.assertNotEqual(code, 0, err)
        self.assertIn("No space left on device", err)
        st = os.statvfs(self.stores[store])
        self.assertGreater(st.f_bavail * st.f_frsize, 100 * MiB)  # the quota, not a full disk

    def disk(self, h):
        return self.client.metrics(h)["DiskStat"]

    def images(self, store):
        r = subprocess.run([IMAGE_BIN, "--store", self.stores[store], "list"], check=True,
                           stdout=subprocess.PIPE, text=True)
        return [os.path.basename(l) for l in r.stdout.split() if l.startswith("/")]

    def test_scope_total(self):
        for privileged in (False, True):
            h = self.limited("gxfs-total-%d" % privileged, 10, 0, privileged)
            d = self.disk(h)
            self.assertGreater(d["TotalBytesUsed"], d["ExclusiveBytesUsed"])
            # The image (busybox) is about 2 MiB.
            self.assertTrue(1 * MiB < d["TotalBytesUsed"] - d["ExclusiveBytesUsed"] < 3 * MiB, d)
        self.assertFits(self.sh(h, dd("/root/test", 7)))
        self.assertHitsQuota(self.sh(h, ["-c", "rm /root/test; " + dd("/root/test", 9)[1]]),
                             "priv")
        h = "gxfs-total-0"
        self.assertFits(self.sh(h, dd("/root/test", 7)))
        self.assertHitsQuota(self.sh(h, ["-c", "rm /root/test; " + dd("/root/test", 9)[1]]))

    def test_scope_exclusive(self):
        h = self.limited("gxfs-excl", 10, 1)
        self.assertFits(self.sh(h, dd("/root/test", 9)))  # fails with the total scope
        self.assertHitsQuota(self.sh(h, ["-c", "rm /root/test; " + dd("/root/test", 11)[1]]))

    def test_pre_existing_users(self):
        h = self.limited("gxfs-users", 10, 1)
        self.assertHitsQuota(self.sh(h, dd("/home/bob/test", 11), user="bob"))
        self.assertFits(self.sh(h, ["-c", "rm /home/bob/test"], user="bob"))
        self.assertHitsQuota(self.sh(h, dd("/home/alice/test", 11), user="alice"))
        self.assertFits(self.sh(h, dd("/home/alice/test", 8), user="alice"))
        self.assertHitsQuota(self.sh(h, dd("/home/bob/test", 3), user="bob"))

    def test_privileged(self):
        h = self.limited("gxfs-priv", 10, 1, privileged=True)
        self.assertIn(h, self.images("priv"))
        self.assertHitsQuota(self.sh(h, dd("/root/test", 11)), "priv")
        # A user made in the container (Debian's busybox has no adduser: root writes it).
        self.assertFits(self.sh(h, ["-c", "rm /root/test && echo carol:x:1003:1003::/home/carol:/bin/sh "
                                          ">> /etc/passwd && mkdir /home/carol && chown 1003:1003 /home/carol"]))
        self.assertHitsQuota(self.sh(h, dd("/home/carol/test", 11), user="carol"), "priv")

    def test_metrics(self):
        h = self.limited("gxfs-metrics", 100, 0)
        before = self.disk(h)
        self.assertFits(self.sh(h, dd("/home/alice/some-file", 3), user="alice"))
        after3 = self.disk(h)
        self.assertFits(self.sh(h, dd("/home/alice/another-file", 10), user="alice"))
        after13 = self.disk(h)
        for k in ("ExclusiveBytesUsed", "TotalBytesUsed"):
            self.assertAlmostEqual(after3[k], before[k] + 3 * MiB, delta=MiB)
            self.assertAlmostEqual(after13[k], before[k] + 13 * MiB, delta=MiB)
        bulk = self.client.bulk_metrics([h])[h]
        self.assertIsNone(bulk["Err"])
        self.assertAlmostEqual(bulk["Metrics"]["DiskStat"]["ExclusiveBytesUsed"],
                               after13["ExclusiveBytesUsed"], delta=MiB)

    def test_rootfs_larger_than_the_limit(self):
        with self.assertRaises(GardenError) as e:
            self.limited("gxfs-toobig", 1, 0)
        self.assertIn("disk limit is smaller than volume size", e.exception.message)
        self.assertNotIn("gxfs-toobig", self.client.list())
        self.assertNotIn("gxfs-toobig", self.images("unpriv"))

    def test_each_container_has_its_own_quota(self):
        a = self.limited("gxfs-own-a", 12, 1)
        b = self.limited("gxfs-own-b", 12, 1)
        self.assertFits(self.sh(a, dd("/home/alice/some-file", 10), user="alice"))
        self.assertFits(self.sh(b, dd("/home/alice/some-file", 10), user="alice"))

    def test_peas_share_the_container_limit(self):
        h = self.limited("gxfs-peas", 10, 1)
        image = {"uri": self.tar}
        p = self.client.run(h, {"id": "gxfs-pea", "path": "sh", "image": image,
                                "args": ["-c", dd("/root/pea", 6)[1] + " && echo written && sleep 600"]})
        p.read_until("stdout", b"written\n")
        self.assertGreaterEqual(self.disk(h)["ExclusiveBytesUsed"], 6 * MiB)
        self.assertHitsQuota(self.sh(h, dd("/root/test", 5)))  # 6 + 5 > 10
        p.signal(kill=True)
        p.wait()
        # Alone, a pea is held to the container's limit too.
        self.assertFits(self.sh(h, ["-c", "rm -f /root/test"]))
        self.assertHitsQuota(self.run_proc(h, "sh", *dd("/root/pea", 11), image=image, id="gxfs-pea2"))
        # The pea images are gone with their processes; the container keeps its own.
        self.assertEqual([i for i in self.images("unpriv") if i.startswith("gxfs-pea")], [h])


if __name__ == "__main__":
    main()
