"""garden-shim restart: containers and running processes survive a killed shim, and a
client re-attaches to a process after the restart without losing its output."""

import os
import subprocess

from harness import ShimTestCase, loop_devices_backed_by, main, mounts_under, pid_alive


class RestartTest(ShimTestCase):
    def test_restart_keeps_containers_and_processes(self):
        h = self.create(handle="crunner-test-restart", properties={"k": "v"})
        p = self.client.run(h, {"path": "sh",
                                "args": ["-c", "echo before; read x; echo after $x; exit 5"]},
                            stdout=False, stderr=False)
        pid = p.id
        out_file = os.path.join(self.shim.depot, "containers", h, "processes", pid, "stdout")
        for _ in range(500):
            if os.path.exists(out_file) and os.path.getsize(out_file) > 0:
                break
            os.system("sleep 0.01")
        sups = self.supervisor_pids(h)
        lost = self.create(handle="crunner-test-lost")
        self.shim.kill()
        # The runtime forgets one container behind the shim's back (as after a reboot).
        subprocess.run([self.runtime, "--root", os.path.join(self.shim.depot, "runtime"),
                        "delete", "--force", lost], check=True)
        p.close()
        for s in sups:
            self.assertTrue(pid_alive(s), "supervisor died with the shim")
        # A create the killed shim never finished is undone at start-up.
        half = os.path.join(self.shim.depot, "containers", "crunner-test-half")
        os.makedirs(half)
        with open(os.path.join(half, "meta.json"), "w") as f:
            f.write('{"handle": "crunner-test-half", "ready": false}')
        type(self).client = self.client = self.shim.start()
        self.assertFalse(os.path.exists(half))
        self.assertNotIn("crunner-test-half", self.client.list())
        self.assertEqual(self.client.list({"k": "v"}), [h])
        self.assertEqual(self.client.info(h)["State"], "active")
        self.assertEqual(self.client.info(lost)["State"], "stopped")
        a = self.client.attach(h, pid)
        a.write_stdin("x\n")
        self.assertEqual(a.read_stream("stdout"), b"before\nafter x\n")
        self.assertEqual(a.wait(), 5)
        code, out, _ = self.run_proc(h, "echo", "still")
        self.assertEqual(out, "still\n")

    def test_destroyed_trees_left_in_the_trash_go_at_start(self):
        # destroy renames the container's tree into <depot>/trash and deletes it in the
        # background; what a killed shim left there is deleted by the next start.
        h = self.create(handle="crunner-test-trash")
        cdir = os.path.join(self.shim.depot, "containers", h)
        self.client.destroy(h)
        self.assertFalse(os.path.exists(cdir))
        left = os.path.join(self.shim.depot, "trash", "crunner-test-trash.left")
        os.makedirs(os.path.join(left, "layer", "upper", "etc"))
        with open(os.path.join(left, "meta.json"), "w") as f:
            f.write("{}")
        self.shim.kill()
        type(self).client = self.client = self.shim.start()
        self.assertEqual(os.listdir(os.path.join(self.shim.depot, "trash")), [])

    def test_restart_keeps_the_container_layer(self):
        h = self.create(handle="crunner-test-layer",
                        limits={"disk_limits": {"byte_hard": 8 << 20, "scope": 1}})
        code, out, _ = self.run_proc(h, "sh", "-c", "echo kept > /etc/kept && echo ok")
        self.assertEqual(out, "ok\n")
        cdir = os.path.join(self.shim.depot, "containers", h)
        self.shim.kill()
        type(self).client = self.client = self.shim.start()
        # The layer (overlay and loop file system) survived the shim; limits still apply.
        code, out, _ = self.run_proc(h, "cat", "/etc/kept")
        self.assertEqual(out, "kept\n")
        self.assertEqual(self.client.limits(h, "disk"), {"byte_hard": 8 << 20, "scope": 1})
        code, out, _ = self.run_proc(
            h, "sh", "-c", "dd if=/dev/zero of=/tmp/big bs=1048576 count=16 2>&1; true")
        self.assertIn("No space left on device", out)
        self.assertGreater(self.client.metrics(h)["DiskStat"]["ExclusiveBytesUsed"], 4 << 20)
        self.client.destroy(h)
        self.assertEqual(mounts_under(cdir), [])
        self.assertEqual(loop_devices_backed_by(cdir), [])
        self.assertFalse(os.path.exists(cdir))


if __name__ == "__main__":
    main()
