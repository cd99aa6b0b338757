"""garden-shim's image plugin flags (--image-plugin, --privileged-image-plugin and their
--*-extra-arg), against image_plugin_double.py, a double of GrootFS's CLI that records its
argv: exactly what garden-shim passes on create/destroy/metrics, how it merges the plugin's
runtime spec fragment into the bundle, its errors, and processes with their own image
(peas)."""

import glob
import json
import os
import shutil
import subprocess
import sys
import time

from harness import GardenError, ShimTestCase, main, mounts_under, pid_alive, session_keyrings

DOUBLE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "image_plugin_double.py")
MAPPINGS = ["--uid-mapping", "0:4294967294:1", "--gid-mapping", "0:4294967294:1",
            "--uid-mapping", "1:1:4294967293", "--gid-mapping", "1:1:4294967293"]


class ImagePluginTest(ShimTestCase):
    @classmethod
    def setUpClass(cls):
        # The double's stores live in a directory of their own; --base names a link to the
        # harness's busybox rootfs, made once that exists (the plugin runs only later).
        cls.stores = "/tmp/crunner-test-imgplug-%d" % os.getpid()
        cls.ustore = os.path.join(cls.stores, "unpriv")
        cls.pstore = os.path.join(cls.stores, "priv")
        cls.base_link = os.path.join(cls.stores, "base")
        shutil.rmtree(cls.stores, ignore_errors=True)
        os.makedirs(cls.stores)
        os.chmod(cls.stores, 0o755)
        cls.addClassCleanup(shutil.rmtree, cls.stores, True)
        cls.shim_extra = [
            "--image-plugin", DOUBLE,
            "--image-plugin-extra-arg=--store=" + cls.ustore,
            "--image-plugin-extra-arg", "--base=" + cls.base_link,
            "--privileged-image-plugin", DOUBLE,
            "--privileged-image-plugin-extra-arg=--store=" + cls.pstore,
            "--privileged-image-plugin-extra-arg=--base=" + cls.base_link,
        ]
        super().setUpClass()
        os.symlink(cls.rootfs, cls.base_link)

    def calls(self, store, cmd=None):
        path = os.path.join(store, "calls.log")
        if not os.path.exists(path):
            return []
        with open(path) as f:
            out = [json.loads(line)["argv"] for line in f if line.strip()]
        if cmd is None:
            return out
        return [a for a in out if cmd in a]

    def last_call(self, store, cmd):
        c = self.calls(store, cmd)
        self.assertTrue(c, "no %s call in %s" % (cmd, store))
        return c[-1]

    def extra(self, store):
        return ["--store=" + store, "--base=" + self.base_link]

    def sh(self, handle, script, **kw):
        return self.run_proc(handle, "sh", "-c", script, **kw)

    # --- containers -------------------------------------------------------------------

    def test_create_passes_guardians_argv_and_merges_the_spec(self):
        h = self.create(handle="imgplug-c1", env=["SPEC_VAR=from-spec", "IMAGE_VAR=spec-wins"],
                        image={"uri": "docker://registry.example:5000/busybox#1.36",
                               "username": "alice", "password": "s3cret pass"},
                        limits={"disk_limits": {"byte_hard": 50 << 20, "scope": 1}})
        self.assertEqual(self.last_call(self.ustore, "create"), self.extra(self.ustore) + [
            "create"] + MAPPINGS + [
            "--disk-limit-size-bytes", str(50 << 20), "--exclude-image-from-quota",
            "--username", "alice", "--password", "s3cret pass",
            "docker://registry.example:5000/busybox:1.36", h])
        self.assertEqual(self.calls(self.pstore, "create"), [])
        # The container's root is the plugin's, with the plugin's mount; its env is the
        # image's, then the spec's.
        code, out, _ = self.sh(h, "cat /etc/image-handle /image-mount/from-plugin; env")
        self.assertEqual(code, 0)
        lines = out.splitlines()
        self.assertEqual(lines[:2], [h, "mounted by the plugin"])
        env = lines[2:]
        self.assertIn("SPEC_VAR=from-spec", env)
        self.assertIn("IMAGE_URI=docker://registry.example:5000/busybox:1.36", env)
        # The spec's value of a variable the image sets wins (it comes later).
        self.assertIn("IMAGE_VAR=spec-wins", env)
        self.assertNotIn("IMAGE_VAR=from-image", env)
        # The image mount is read-only as the plugin asked.
        code, _, err = self.sh(h, "touch /image-mount/x")
        self.assertNotEqual(code, 0)
        rootfs = os.path.join(self.ustore, "images", h, "rootfs")
        self.assertTrue(os.path.isdir(rootfs))
        self.client.destroy(h)
        self.created.remove(h)
        # Destroy deletes the image with both plugins, as Guardian does.
        self.assertEqual(self.last_call(self.ustore, "delete"),
                         self.extra(self.ustore) + ["delete", h])
        self.assertEqual(self.last_call(self.pstore, "delete"),
                         self.extra(self.pstore) + ["delete", h])
        self.assertFalse(os.path.exists(rootfs))
        self.assertFalse(os.path.exists(os.path.join(self.shim.depot, "containers", h)))

    def test_privileged_container_uses_the_privileged_plugin(self):
        h = self.create(handle="imgplug-priv", privileged=True, rootfs="docker:///busybox",
                        limits={"disk_limits": {"byte_hard": 10 << 20}})
        self.assertEqual(self.last_call(self.pstore, "create"), self.extra(self.pstore) + [
            "create", "--disk-limit-size-bytes", str(10 << 20), "docker:///busybox", h])
        self.assertEqual([c for c in self.calls(self.ustore, "create") if h in c], [])
        code, out, _ = self.sh(h, "cat /etc/image-handle")
        self.assertEqual((code, out.strip()), (0, h))

    def test_raw_rootfs_does_not_call_the_plugin(self):
        before = len(self.calls(self.ustore))
        h = self.create(handle="imgplug-raw", rootfs="raw://" + self.rootfs)
        code, out, _ = self.sh(h, "test -e /etc/image-handle || echo builtin")
        self.assertEqual((code, out.strip()), (0, "builtin"))
        self.assertEqual(len(self.calls(self.ustore)), before)
        m = self.client.metrics(h)  # the built-in layer's usage, no plugin stats
        self.assertEqual(len(self.calls(self.ustore)), before)
        self.assertIn("DiskStat", m)

    def test_default_rootfs_goes_to_the_plugin(self):
        h = self.create(handle="imgplug-default")
        self.assertEqual(self.last_call(self.ustore, "create")[-2:], [self.rootfs, h])

    def test_image_uri_and_rootfs_together_refused(self):
        with self.assertRaises(GardenError) as e:
            self.create(handle="imgplug-both", rootfs="/x", image={"uri": "docker:///busybox"})
        self.assertEqual(e.exception.message, "Cannot provide both Image.URI and RootFSPath")
        self.assertNotIn("imgplug-both", self.client.list())

    def assert_refused(self, uri, message):
        h = "imgplug-bad-" + uri.rsplit("/", 1)[-1]
        with self.assertRaises(GardenError) as e:
            self.create(handle=h, image={"uri": uri})
        self.assertEqual(e.exception.message, message)
        self.assertNotIn(h, self.client.list())
        self.assertFalse(os.path.exists(os.path.join(self.shim.depot, "containers", h)))
        # Guardian's create clean-up deletes the image whatever failed.
        self.assertEqual(self.last_call(self.ustore, "delete")[-1], h)
        self.assertFalse(os.path.exists(os.path.join(self.ustore, "images", h)))
        # The handle is free again.
        self.assertEqual(self.create(handle=h, image={"uri": "docker:///busybox"}), h)

    def test_plugin_failure_is_the_error(self):
        self.assert_refused("docker:///fail",
                            "running image plugin create: image not found: exit status 1")
        self.assert_refused("docker:///stderr-fail",
                            "running image plugin create: registry said no: exit status 3")

    def test_malformed_plugin_output_refused(self):
        self.assert_refused("docker:///malformed",
                            "parsing image plugin create: not json: expected a JSON object")
        self.assert_refused("docker:///relative", self._relative_message())
        self.assert_refused("docker:///huge",
                            "running image plugin create: output exceeds 1048576 bytes")
        missing = os.path.join(self.ustore, "images", "imgplug-bad-nodir", "missing")
        self.assert_refused("docker:///nodir",
                            "image plugin create: root path `%s` is not a directory" % missing)

    def _relative_message(self):
        # The message quotes the plugin's stdout (one line), then says what is wrong.
        out = json.dumps({
            "root": {"path": "relative/rootfs"},
            "process": {"env": ["IMAGE_VAR=from-image", "IMAGE_URI=docker:///relative",
                                "PATH=/usr/sbin:/usr/bin:/sbin:/bin"]},
            "mounts": [{"destination": "/image-mount", "type": "bind",
                        "source": os.path.join(self.ustore, "images", "imgplug-bad-relative",
                                               "shared"),
                        "options": ["bind", "ro"]}]})
        return ("parsing image plugin create: " + out +
                ": root.path `relative/rootfs` is not an absolute path without `..`")

    def test_metrics_disk_stat_from_plugin_stats(self):
        h = self.create(handle="imgplug-stats", image={"uri": "docker:///busybox"})
        with open(os.path.join(self.ustore, "stats-" + h), "w") as f:
            f.write("123456789 4242")
        m = self.client.metrics(h)
        self.assertEqual(self.last_call(self.ustore, "stats"),
                         self.extra(self.ustore) + ["stats", h])
        self.assertEqual(m["DiskStat"], {"TotalBytesUsed": 123456789, "TotalInodesUsed": 0,
                                         "ExclusiveBytesUsed": 4242, "ExclusiveInodesUsed": 0})
        bulk = self.client.bulk_metrics([h])
        self.assertEqual(bulk[h]["Metrics"]["DiskStat"]["TotalBytesUsed"], 123456789)
        with open(os.path.join(self.ustore, "stats-" + h), "w") as f:
            f.write("bad")
        with self.assertRaises(GardenError) as e:
            self.client.metrics(h)
        self.assertTrue(e.exception.message.startswith(
            'parsing stats: {"disk_usage":{"total_bytes_used":"lots"}}: '), e.exception.message)

    def test_failed_image_delete_keeps_the_container(self):
        h = self.create(handle="imgplug-busy", image={"uri": "docker:///busybox"})
        busy = os.path.join(self.ustore, "busy-" + h)
        open(busy, "w").close()
        with self.assertRaises(GardenError) as e:
            self.client.destroy(h)
        self.assertEqual(e.exception.message, "running image plugin destroy: deleting image: "
                         "device or resource busy: exit status 1")
        self.assertIn(h, self.client.list())
        os.unlink(busy)
        self.client.destroy(h)
        self.created.remove(h)
        self.assertNotIn(h, self.client.list())
        self.assertFalse(os.path.exists(os.path.join(self.ustore, "images", h)))

    # --- peas -------------------------------------------------------------------------

    def pea_cgroup(self, h, pid):
        """The memory cgroup of a pea that shares its container's limits (nested)."""
        mem = [d for d in self.container_cgroup_dirs(h) if "/sys/fs/cgroup/memory/" in d]
        self.assertEqual(len(mem), 1, self.container_cgroup_dirs(h))
        return os.path.join(mem[0], "pea-" + pid)

    def own_pea_cgroup(self, h, pid):
        """The memory cgroup of a pea that overrides its container's limits (beside it)."""
        ctr = os.path.dirname(self.pea_cgroup(h, pid))
        return os.path.join(os.path.dirname(ctr), "peas@" + h, pid)

    def runtime_ids(self, root):
        r = subprocess.run([self.runtime, "--root", root, "list", "-q"], check=True,
                           stdout=subprocess.PIPE, text=True)
        return r.stdout.split()

    def test_pea_runs_in_its_own_rootfs_sharing_the_containers_namespaces(self):
        h = self.create(handle="imgplug-pea", env=["CONTAINER_VAR=1"])
        nss = "for n in net mnt pid uts user; do readlink /proc/self/ns/$n; done"
        _, ctr_ns, _ = self.sh(h, nss)
        script = ("cat /etc/image-handle; hostname; cat /proc/1/cmdline; echo; " + nss +
                  "; pwd; id -u; env; exit 7")
        p = self.client.run(h, {"id": "pea-1", "path": "sh", "args": ["-c", script],
                                "env": ["PEA_VAR=from-spec"],
                                "image": {"uri": "docker:///busybox", "username": "bob",
                                          "password": "pw"}})
        out = p.read_stream("stdout").decode()
        self.assertEqual(p.wait(), 7, out)
        self.assertEqual(self.last_call(self.ustore, "create"), self.extra(self.ustore) + [
            "create"] + MAPPINGS + ["--username", "bob", "--password", "pw",
                                    "docker:///busybox", "pea-1"])
        lines = out.splitlines()
        self.assertEqual(lines[0], "pea-1")  # the pea's own rootfs
        self.assertEqual(lines[1], h)  # the container's uts namespace
        self.assertEqual(lines[2].split("\0")[0], "/tmp/garden-init")  # its pid namespace
        ns, want = lines[3:8], ctr_ns.split()
        self.assertEqual(ns[0], want[0])  # network shared
        self.assertNotEqual(ns[1], want[1])  # mount namespace its own
        self.assertEqual(ns[2:], want[2:])  # pid, uts, user shared
        self.assertEqual(lines[8:10], ["/", "0"])
        env = lines[10:]
        self.assertIn("IMAGE_VAR=from-image", env)
        self.assertIn("PEA_VAR=from-spec", env)
        self.assertNotIn("CONTAINER_VAR=1", env)
        # Gone with its process: image deleted (both plugins), runtime container, cgroup.
        self.assertEqual(self.last_call(self.ustore, "delete"),
                         self.extra(self.ustore) + ["delete", "pea-1"])
        self.assertEqual(self.last_call(self.pstore, "delete")[-1], "pea-1")
        self.assertFalse(os.path.exists(os.path.join(self.ustore, "images", "pea-1")))
        peas_root = os.path.join(self.shim.depot, "containers", h, "peas")
        self.assertEqual(self.runtime_ids(peas_root), [])
        self.assertFalse(os.path.exists(self.pea_cgroup(h, "pea-1")))

    def test_pea_limits_and_raw_image(self):
        h = self.create(handle="imgplug-pealim")
        p = self.client.run(h, {"id": "lim", "path": "sh",
                                "args": ["-c", "echo up; cat /etc/image-handle; sleep 600"],
                                "image": {"uri": "raw://" + self.rootfs},
                                "limits": {"memory_limits": {"limit_in_bytes": 64 << 20}}})
        p.read_until("stdout", b"up\n")
        cg = self.own_pea_cgroup(h, "lim")
        with open(os.path.join(cg, "memory.limit_in_bytes")) as f:
            self.assertEqual(int(f.read()), 64 << 20)
        self.assertIn("lim", self.client.info(h)["ProcessIDs"])
        p.signal(kill=True)
        self.assertEqual(p.wait(), 137)
        self.assertFalse(os.path.exists(cg))
        self.assertEqual([c for c in self.calls(self.ustore, "create") if "lim" in c], [])
        # The raw image was only a lower layer: the runtime's mount points (garden-init,
        # the device nodes bound from the host) went to the pea's own overlay, which is gone.
        self.assertEqual(os.listdir(os.path.join(self.rootfs, "dev")), [])
        self.assertFalse(os.path.exists(os.path.join(self.rootfs, "tmp", "garden-init")))
        self.assertEqual(mounts_under(os.path.join(self.shim.depot, "containers", h, "processes")),
                         [])

    def test_pea_cgroup_placement_follows_override_container_limits(self):
        # Guardian (rundmc/peas): a pea without OverrideContainerLimits shares its container's
        # limits; one with it, even empty, is held to exactly its own (fixed: an empty or
        # larger override stayed nested under the container's memory limit).
        h = self.create(handle="imgplug-peaovr",
                        limits={"memory_limits": {"limit_in_bytes": 32 << 20}})
        image = {"uri": "raw://" + self.rootfs}

        def pea(pid, mib, limits=None):
            kw = {} if limits is None else {"limits": limits}
            code, out, err = self.sh(h, "grep :memory: /proc/self/cgroup; "
                                     "dd if=/dev/zero of=/dev/null bs=%dM count=1" % mib,
                                     id=pid, image=image, **kw)
            return code, out + err

        # No override: nested in the container's cgroup, OOM-killed at the container's 32 MiB.
        code, out = pea("shared", 64)
        self.assertEqual(code, 137, out)
        self.assertIn("/%s/pea-shared\n" % h, out)
        # An empty override: a cgroup outside the container's, without a memory limit.
        code, out = pea("free", 64, {})
        self.assertEqual(code, 0, out)
        self.assertIn("/peas@%s/free\n" % h, out)
        # A memory limit of its own, above the container's: held to exactly that.
        mine = {"memory_limits": {"limit_in_bytes": 96 << 20}}
        self.assertEqual(pea("own-under", 64, mine)[0], 0)
        code, out = pea("own-over", 128, mine)
        self.assertEqual(code, 137, out)
        p = self.client.run(h, {"id": "own-run", "path": "sh", "image": image, "limits": mine,
                                "args": ["-c", "echo up; exec sleep 600"]})
        p.read_until("stdout", b"up\n")
        with open(os.path.join(self.own_pea_cgroup(h, "own-run"), "memory.limit_in_bytes")) as f:
            self.assertEqual(int(f.read()), 96 << 20)
        # Destroy (a pea still running) leaves no cgroup in any hierarchy.
        dirs = self.container_cgroup_dirs(h)
        self.client.destroy(h)
        self.created.remove(h)
        p.close()
        for d in dirs:
            for gone in (d, os.path.join(os.path.dirname(d), "peas@" + h)):
                self.assertFalse(os.path.exists(gone), gone)

    def test_pea_gets_no_session_keyring(self):
        # Guardian's peas are runc containers started with --no-new-keyring too.
        h = self.create(handle="imgplug-peakeys")
        p = self.client.run(h, {"id": "peakeys-1", "path": "sh",
                                "args": ["-c", "echo up; exec sleep 600"],
                                "image": {"uri": "raw://" + self.rootfs}})
        p.read_until("stdout", b"up\n")
        self.assertEqual([k for k in session_keyrings() if "peakeys-1" in k or h in k], [])
        p.signal(kill=True)
        self.assertEqual(p.wait(), 137)

    def test_pea_bundle_carries_the_containers_id_mappings(self):
        # runc refuses a user namespace (joined by path or not) without uid/gid mappings:
        # a pea's bundle carries the container's (fixed: they were dropped).
        h = self.create(handle="imgplug-peamaps")
        p = self.client.run(h, {"id": "peamaps-1", "path": "sh",
                                "args": ["-c", "echo up; exec sleep 600"],
                                "image": {"uri": "raw://" + self.rootfs}})
        p.read_until("stdout", b"up\n")
        cdir = os.path.join(self.shim.depot, "containers", h)
        with open(os.path.join(cdir, "config.json")) as f:
            ctr = json.load(f)["linux"]
        with open(os.path.join(cdir, "processes", "peamaps-1", "config.json")) as f:
            pea = json.load(f)["linux"]
        self.assertIn({"type": "user", "path": "/proc/%d/ns/user" % self.init_pid(h)},
                      pea["namespaces"])
        self.assertTrue(ctr["uidMappings"])
        self.assertEqual(pea.get("uidMappings"), ctr["uidMappings"])
        self.assertEqual(pea.get("gidMappings"), ctr["gidMappings"])
        p.signal(kill=True)
        self.assertEqual(p.wait(), 137)

    def test_metrics_answer_for_a_running_pea(self):
        # Guardian's peas are containers of the runtime: Metrics and BulkMetrics answer for
        # a pea's id while it runs (fixed: "unknown handle").
        h = self.create(handle="imgplug-peamet")
        p = self.client.run(h, {"id": "peamet-1", "path": "sh",
                                "args": ["-c", "echo up; exec sleep 600"],
                                "image": {"uri": "raw://" + self.rootfs}})
        p.read_until("stdout", b"up\n")
        m = self.client.metrics("peamet-1")
        self.assertEqual(m["PidStat"]["Current"], 1, m)
        self.assertGreater(m["MemoryStat"]["TotalUsageTowardLimit"], 0, m)
        b = self.client.bulk_metrics(["peamet-1", h])
        self.assertIsNone(b["peamet-1"]["Err"], b)
        self.assertEqual(b["peamet-1"]["Metrics"]["PidStat"]["Current"], 1, b)
        self.assertIsNone(b[h]["Err"], b)
        p.signal(kill=True)
        self.assertEqual(p.wait(), 137)
        with self.assertRaises(GardenError) as e:
            self.client.metrics("peamet-1")
        self.assertEqual(e.exception.status, 404)

    def init_pid(self, h):
        with open(os.path.join(self.shim.depot, "containers", h, "init.pid")) as f:
            return int(f.read().strip())

    def test_pea_errors(self):
        h = self.create(handle="imgplug-peaerr")
        with self.assertRaises(GardenError) as e:
            self.client.run(h, {"id": "bad", "path": "true",
                                "image": {"uri": "docker:///fail"}}).wait()
        self.assertEqual(e.exception.message, "creating-volume: running image plugin create: "
                         "image not found: exit status 1")
        with self.assertRaises(GardenError) as e:
            self.client.run(h, {"id": "no/slash", "path": "true",
                                "image": {"uri": "docker:///busybox"}}).wait()
        # A pea whose executable is missing: its image goes again.
        with self.assertRaises(GardenError) as e:
            self.client.run(h, {"id": "noexec", "path": "/no/such/binary",
                                "image": {"uri": "docker:///busybox"}}).wait()
        self.assertEqual(e.exception.type, "ExecutableNotFoundError")
        self.assertEqual(self.last_call(self.ustore, "delete")[-1], "noexec")
        self.assertFalse(os.path.exists(os.path.join(self.ustore, "images", "noexec")))
        self.assertFalse(os.path.exists(
            os.path.join(self.shim.depot, "containers", h, "processes", "noexec")))

    def test_pea_attach_after_shim_restart(self):
        h = self.create(handle="imgplug-pearestart")
        p = self.client.run(h, {"id": "waiter", "path": "sh",
                                "args": ["-c", "echo ready; read x; echo got $x; exit 3"],
                                "image": {"uri": "docker:///busybox"}})
        p.read_until("stdout", b"ready\n")
        self.shim.kill()
        p.close()
        type(self).client = self.client = self.shim.start()
        a = self.client.attach(h, "waiter")
        a.write_stdin("hello\n")
        out = a.read_stream("stdout")
        self.assertEqual(a.wait(), 3)
        self.assertIn(b"got hello", out)
        self.assertEqual(self.last_call(self.ustore, "delete")[-1], "waiter")
        self.assertFalse(os.path.exists(os.path.join(self.ustore, "images", "waiter")))

    def test_destroy_takes_running_peas_along(self):
        h = self.create(handle="imgplug-peadestroy")
        p = self.client.run(h, {"id": "sleeper", "path": "sh",
                                "args": ["-c", "echo up; exec sleep 600"],
                                "image": {"uri": "docker:///busybox"}})
        p.read_until("stdout", b"up\n")
        sups = self.supervisor_pids(h)
        self.client.destroy(h)
        self.created.remove(h)
        for s in sups:
            self.assertFalse(pid_alive(s))
        self.assertFalse(os.path.exists(os.path.join(self.ustore, "images", "sleeper")))
        self.assertFalse(os.path.exists(os.path.join(self.shim.depot, "containers", h)))
        self.assertFalse(os.path.exists(self.pea_cgroup(h, "sleeper")))


if __name__ == "__main__":
    main()
