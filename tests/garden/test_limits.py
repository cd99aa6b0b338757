"""garden-shim limits: disk limits really applied (a per-container writable layer on a
size-limited loop file system, scope total vs exclusive, inodes), each container's own
copy-on-write layer, DiskStat, bandwidth and networking refused instead of faked, the
limits getters marshalled like garden's Go structs, CPUEntitlement, MemoryStat fields."""

import os
import shutil
import subprocess

from harness import GardenError, ShimTestCase, loop_devices_backed_by, main, mounts_under

MiB = 1 << 20


def write_cmd(path, mib):
    # dd names the write error (ENOSPC); only the verdict otherwise.
    return ("if dd if=/dev/zero of=%s bs=1048576 count=%d 2>/tmp/dd.err; then echo ok; "
            "else cat /tmp/dd.err; echo failed; fi" % (path, mib))


class LimitsTest(ShimTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        # An image with 12 MiB of its own, so that scope total and exclusive differ.
        cls.big_image = os.path.join(cls.workdir, "big-image")
        subprocess.run(["cp", "-a", cls.rootfs, cls.big_image], check=True)
        with open(os.path.join(cls.big_image, "ballast"), "wb") as f:
            f.write(b"\1" * (12 * MiB))

    def assert_no_layer_left(self, h):
        d = os.path.join(self.shim.depot, "containers", h)
        self.assertEqual(mounts_under(d), [])
        self.assertEqual(loop_devices_backed_by(d), [])
        self.assertFalse(os.path.exists(d))

    def test_disk_limit_exclusive(self):
        h = self.create(limits={"disk_limits": {"byte_hard": 16 * MiB, "scope": 1}})
        self.assertEqual(self.client.limits(h, "disk"), {"byte_hard": 16 * MiB, "scope": 1})
        cdir = os.path.join(self.shim.depot, "containers", h)
        self.assertTrue(loop_devices_backed_by(cdir), "no loop file system for the limit")
        code, out, err = self.run_proc(h, "sh", "-c", write_cmd("/tmp/a", 8))
        self.assertEqual(out, "ok\n", err)
        m = self.client.metrics(h)["DiskStat"]
        self.assertGreaterEqual(m["ExclusiveBytesUsed"], 8 * MiB)
        self.assertLess(m["ExclusiveBytesUsed"], 9 * MiB)
        self.assertGreaterEqual(m["TotalBytesUsed"], m["ExclusiveBytesUsed"] + MiB)
        self.assertGreaterEqual(m["ExclusiveInodesUsed"], 1)
        self.assertGreater(m["TotalInodesUsed"], m["ExclusiveInodesUsed"])
        code, out, err = self.run_proc(h, "sh", "-c", write_cmd("/tmp/b", 12))
        self.assertIn("No space left on device", out)
        self.assertTrue(out.endswith("failed\n"), out)
        # Freed space is usable again.
        code, out, _ = self.run_proc(h, "sh", "-c", "rm /tmp/b /tmp/a && " + write_cmd("/tmp/c", 12))
        self.assertEqual(out, "ok\n")
        self.client.destroy(h)
        self.assert_no_layer_left(h)

    def test_layers_are_never_synced(self):
        """The container's writable layer is thrown away with it: its overlay is mounted
        volatile and its disk-limit ext4 nobarrier, so a destroy's unmount syncs nothing of
        the file system the depot is on (nor fsyncs the loop file)."""
        plain = self.create()
        limited = self.create(limits={"disk_limits": {"byte_hard": 8 * MiB, "scope": 1}})
        with open("/proc/self/mountinfo") as f:
            lines = [line.split() for line in f]
        opts = {}  # mount point -> (fs type, super options)
        for f in lines:
            sep = f.index("-")
            opts[f[4]] = (f[sep + 1], f[sep + 3].split(","))
        for h in (plain, limited):
            cdir = os.path.join(self.shim.depot, "containers", h)
            fstype, sopts = opts[os.path.join(cdir, "rootfs")]
            self.assertEqual(fstype, "overlay")
            self.assertTrue("volatile" in sopts or "fsync=volatile" in sopts, sopts)
        fstype, sopts = opts[os.path.join(self.shim.depot, "containers", limited, "layer")]
        self.assertEqual(fstype, "ext4")
        self.assertIn("nobarrier", sopts)
        # What the container writes is there until it goes.
        code, out, err = self.run_proc(limited, "sh", "-c", "echo kept > /tmp/f && cat /tmp/f")
        self.assertEqual((code, out), (0, "kept\n"), err)
        self.client.destroy(limited)
        self.assert_no_layer_left(limited)

    def test_stream_in_is_limited_too(self):
        import io
        import tarfile
        h = self.create(limits={"disk_limits": {"byte_hard": 8 * MiB, "scope": 1}})
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            info = tarfile.TarInfo("big")
            info.size = 16 * MiB
            tar.addfile(info, io.BytesIO(b"\0" * info.size))
        with self.assertRaises(GardenError) as cm:
            self.client.stream_in(h, "/tmp", buf.getvalue())
        self.assertEqual(cm.exception.status, 500)
        self.assertIn("No space left on device", cm.exception.message)

    def test_busy_limited_layer_goes_with_destroy(self):
        h = self.create(limits={"disk_limits": {"byte_hard": 8 * MiB, "scope": 1}})
        p = self.client.run(h, {"path": "sh", "args": ["-c", "cd /tmp && exec sleep 1000"]})
        self.addCleanup(p.close)
        self.client.destroy(h)
        self.assert_no_layer_left(h)

    def test_grace_time_reaps_a_limited_layer(self):
        h = self.create(grace_time=200 * 1000 * 1000,
                        limits={"disk_limits": {"byte_hard": 8 * MiB, "scope": 1}})
        d = os.path.join(self.shim.depot, "containers", h)
        for _ in range(400):
            if not os.path.exists(d):
                break
            os.system("sleep 0.05")
        self.assertNotIn(h, self.client.list())
        self.assert_no_layer_left(h)

    def test_concurrent_limited_creates(self):
        # Each takes its own loop device, raced for with LOOP_CTL_GET_FREE.
        import concurrent.futures
        specs = [{"handle": "crunner-test-par-disk-%d" % i,
                  "limits": {"disk_limits": {"byte_hard": 4 * MiB, "scope": 1}}} for i in range(4)]
        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            got = list(pool.map(self.client.create, specs))
        self.created.extend(got)
        devs = set()
        for h in got:
            ds = loop_devices_backed_by(os.path.join(self.shim.depot, "containers", h))
            self.assertEqual(len(ds), 1, h)
            devs.update(ds)
        self.assertEqual(len(devs), 4)
        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            list(pool.map(self.client.destroy, got))
        for h in got:
            self.assert_no_layer_left(h)

    def test_disk_limit_total_counts_the_image(self):
        rootfs = "raw://" + self.big_image
        t = self.create(rootfs=rootfs, limits={"disk_limits": {"byte_hard": 20 * MiB}})
        e = self.create(rootfs=rootfs, limits={"disk_limits": {"byte_hard": 20 * MiB, "scope": 1}})
        self.assertEqual(self.client.limits(t, "disk"), {"byte_hard": 20 * MiB})
        # total: 20 MiB - the image's 12+ MiB leaves less than 8 MiB.
        code, out, _ = self.run_proc(t, "sh", "-c", write_cmd("/tmp/a", 10))
        self.assertIn("No space left on device", out)
        self.assertTrue(out.endswith("failed\n"), out)
        code, out, _ = self.run_proc(t, "sh", "-c", "rm -f /tmp/a; " + write_cmd("/tmp/a", 3))
        self.assertEqual(out, "ok\n")
        # exclusive: the container's own 20 MiB.
        code, out, _ = self.run_proc(e, "sh", "-c", write_cmd("/tmp/a", 10))
        self.assertEqual(out, "ok\n")
        # The image is not the container's: it still reads it, writes go to its layer.
        code, out, _ = self.run_proc(t, "sh", "-c", "wc -c < /ballast")
        self.assertEqual(out.strip(), str(12 * MiB))
        # A total limit the image alone exceeds is refused, and leaves nothing behind.
        with self.assertRaises(GardenError) as cm:
            self.client.create({"handle": "crunner-test-small", "rootfs": rootfs,
                                "limits": {"disk_limits": {"byte_hard": 4 * MiB}}})
        self.assertEqual(cm.exception.status, 500)
        self.assertIn("rootfs", cm.exception.message)
        self.assertNotIn("crunner-test-small", self.client.list())
        self.assert_no_layer_left("crunner-test-small")

    def test_inode_limit(self):
        h = self.create(limits={"disk_limits": {"inode_hard": 300, "byte_hard": 8 * MiB,
                                                "scope": 1}})
        self.assertEqual(self.client.limits(h, "disk"),
                         {"inode_hard": 300, "byte_hard": 8 * MiB, "scope": 1})
        code, out, _ = self.run_proc(
            h, "sh", "-c",
            "i=0; while [ $i -lt 2000 ] && touch /tmp/f$i 2>/dev/null; do i=$((i+1)); done; "
            "echo $i; touch /tmp/last 2>&1")
        lines = out.splitlines()
        n = int(lines[0])
        # ext4 rounds the inode table up to whole blocks and keeps 11 for itself.
        self.assertGreater(n, 250)
        self.assertLess(n, 330)
        self.assertIn("No space left on device", out)

    def test_soft_limits_are_recorded(self):
        h = self.create(limits={"disk_limits": {"byte_soft": 8 * MiB, "byte_hard": 16 * MiB,
                                                "inode_soft": 500, "inode_hard": 1000,
                                                "scope": 1}})
        self.assertEqual(self.client.limits(h, "disk"),
                         {"byte_soft": 8 * MiB, "byte_hard": 16 * MiB, "inode_soft": 500,
                          "inode_hard": 1000, "scope": 1})

    def test_bad_disk_limits(self):
        # Wrong JSON types and ranges are malformed requests (400); values the shim cannot
        # apply are Guardian's 500.
        for dl, status in (({"byte_hard": -1}, 400), ({"scope": 2}, 500), ({"byte_hard": "x"}, 400),
                           ({"byte_hard": 1024}, 500)):
            with self.assertRaises(GardenError) as cm:
                self.client.create({"handle": "crunner-test-baddisk", "limits": {"disk_limits": dl}})
            self.assertEqual(cm.exception.status, status, dl)
            self.assertEqual(cm.exception.type, "", dl)
            self.assertNotIn("crunner-test-baddisk", self.client.list())
            self.assert_no_layer_left("crunner-test-baddisk")

    def test_each_container_has_its_own_layer(self):
        a = self.create()
        b = self.create()
        code, out, _ = self.run_proc(a, "sh", "-c", "echo mine > /etc/only-a; rm /bin/true; echo ok")
        self.assertEqual(out, "ok\n")
        code, out, _ = self.run_proc(b, "sh", "-c", "ls /etc/only-a 2>&1; ls /bin/true")
        self.assertIn("No such file", out)
        self.assertIn("/bin/true", out)
        self.assertFalse(os.path.exists(os.path.join(self.rootfs, "etc/only-a")))
        self.assertTrue(os.path.lexists(os.path.join(self.rootfs, "bin/true")))
        # Unlimited layers are measured too.
        code, out, _ = self.run_proc(a, "sh", "-c", write_cmd("/tmp/x", 2))
        m = self.client.metrics(a)["DiskStat"]
        self.assertGreaterEqual(m["ExclusiveBytesUsed"], 2 * MiB)
        self.assertGreaterEqual(m["ExclusiveInodesUsed"], 3)  # /etc, only-a, the whiteout, x
        self.client.destroy(a)
        self.assert_no_layer_left(a)

    def test_bandwidth_limits_refused_not_faked(self):
        with self.assertRaises(GardenError) as cm:
            self.client.create({"handle": "crunner-test-bw",
                                "limits": {"bandwidth_limits": {"rate": 1000, "burst": 2000}}})
        self.assertEqual(cm.exception.status, 500)
        self.assertEqual(cm.exception.message,
                         "network: networking is disabled (--disable-networking)")
        self.assertNotIn("crunner-test-bw", self.client.list())
        # No limit asked for (zeros, as the Go client sends by default): fine.
        h = self.create(limits={"bandwidth_limits": {"rate": 0, "burst": 0}})
        self.assertEqual(self.client.limits(h, "bandwidth"), {})

    def test_network_refused_not_faked(self):
        with self.assertRaises(GardenError) as cm:
            self.client.create({"handle": "crunner-test-net", "network": "10.254.0.0/30"})
        self.assertIn("networking is disabled", cm.exception.message)
        self.assertNotIn("crunner-test-net", self.client.list())
        self.create(network="")

    def test_limits_getters_marshal_like_go(self):
        h = self.create(limits={"cpu_limits": {"weight": 256, "limit_in_shares": 0},
                                "memory_limits": {"limit_in_bytes": 0},
                                "disk_limits": {"scope": 0, "byte_hard": 0}})
        self.assertEqual(self.client.limits(h, "cpu"), {"weight": 256})
        self.assertEqual(self.client.limits(h, "memory"), {})
        self.assertEqual(self.client.limits(h, "disk"), {})
        self.assertEqual(self.client.limits(h, "bandwidth"), {})
        for d in self.container_cgroup_dirs(h):
            f = os.path.join(d, "cpu.shares")
            if os.path.exists(f):
                with open(f) as fh:
                    self.assertEqual(int(fh.read()), 256)
        # Garden has no pid limits getter.
        status, _, _ = self.client.raw("GET", "/containers/%s/limits/pid" % h)
        self.assertEqual(status, 500)

    def test_cpu_entitlement(self):
        h = self.create(limits={"memory_limits": {"limit_in_bytes": 1 << 30}})
        m = self.client.metrics(h)
        # 1 GiB of memory entitles to one CPU: entitlement == age.
        self.assertGreater(m["Age"], 0)
        self.assertEqual(m["CPUEntitlement"], m["Age"])
        h2 = self.create(limits={"memory_limits": {"limit_in_bytes": 256 << 20}})
        m = self.client.metrics(h2)
        self.assertAlmostEqual(m["CPUEntitlement"], m["Age"] // 4, delta=1)

    def test_memory_stat_fields(self):
        h = self.create()
        ms = self.client.metrics(h)["MemoryStat"]
        # Exactly garden's ContainerMemoryStat.
        self.assertEqual(set(ms), {
            "active_anon", "active_file", "cache", "hierarchical_memory_limit", "inactive_anon",
            "inactive_file", "mapped_file", "pgfault", "pgmajfault", "pgpgin", "pgpgout", "rss",
            "total_active_anon", "total_active_file", "total_cache", "total_inactive_anon",
            "total_inactive_file", "total_mapped_file", "total_pgfault", "total_pgmajfault",
            "total_pgpgin", "total_pgpgout", "total_rss", "total_unevictable", "unevictable",
            "swap", "hierarchical_memsw_limit", "total_swap", "TotalUsageTowardLimit"})
        self.assertEqual(ms["TotalUsageTowardLimit"],
                         ms["total_rss"] + max(0, ms["total_cache"] - ms["total_inactive_file"]))
        m = self.client.metrics(h)
        self.assertEqual(set(m), {"MemoryStat", "CPUStat", "DiskStat", "NetworkStat", "PidStat",
                                  "Age", "CPUEntitlement"})
        self.assertEqual(set(m["DiskStat"]), {"TotalBytesUsed", "TotalInodesUsed",
                                              "ExclusiveBytesUsed", "ExclusiveInodesUsed"})
        self.assertEqual(set(m["CPUStat"]), {"Usage", "User", "System"})
        self.assertEqual(set(m["PidStat"]), {"Current", "Max"})


if __name__ == "__main__":
    main()
