"""garden-shim on a pure cgroup v2 host (the cgroup v2 guest: /sys/fs/cgroup is cgroup2
with every controller), over the HTTP API. What each test proves:
- limits reach the v2 files: memory.max, memory.swap.max 0 (Guardian's swap = limit; it was
  left unlimited on v2), cpu.weight from the spec's weight (the runtime's shares -> weight
  conversion), pids.max; the limits getters echo the spec;
- an OOM kill in the container is reported as Guardian reports it, "out of memory" in
  ContainerInfo's Events (it never was on v2: the memory cgroup was looked up in a v1
  hierarchy only);
- metrics come from the v2 files: MemoryStat in garden's names (rss = anon, cache = file,
  TotalUsageTowardLimit = memory.current - inactive_file, the limit from memory.max: all 0
  on v2 before), CPUStat from cpu.stat, PidStat from pids.current/pids.max;
- peas, placed as Guardian places them: one without limits (no OverrideContainerLimits)
  runs in a cgroup nested in the container's (made threaded: the container's cgroup has
  processes; it failed to start on v2) and the container's memory limit bounds it; one with
  limits, even empty ones, runs in a cgroup of its own beside the container's, held to
  exactly its own limits (an empty override was held to the container's); destroy leaves no
  cgroup behind.
Run by tests/vm in the cgroup v2 guest; it fails (never skips) on a host that is not pure
cgroup v2."""

import os
import time

from harness import ShimTestCase, cgroup_mounts, main

MiB = 1 << 20


def read(path):
    with open(path) as f:
        return f.read().strip()


def kv(path):
    return {k: int(v) for k, v in (line.split() for line in read(path).splitlines())}


class CgroupV2Test(ShimTestCase):
    @classmethod
    def setUpClass(cls):
        mounts = cgroup_mounts()
        assert [m for m in mounts if m[0] == "/sys/fs/cgroup" and m[1] is None] and \
            all(m[1] is None for m in mounts), "this suite needs a pure cgroup v2 host"
        super().setUpClass()

    def cgroup(self, handle):
        dirs = self.container_cgroup_dirs(handle)
        self.assertEqual(len(dirs), 1, dirs)
        return dirs[0]

    def test_limits_reach_the_v2_files(self):
        h = self.create(handle="v2-limits",
                        limits={"memory_limits": {"limit_in_bytes": 64 * MiB},
                                "cpu_limits": {"weight": 512},
                                "pid_limits": {"max": 50}})
        cg = self.cgroup(h)
        self.assertEqual(int(read(cg + "/memory.max")), 64 * MiB)
        self.assertEqual(read(cg + "/memory.swap.max"), "0")
        self.assertEqual(int(read(cg + "/cpu.weight")), 1 + ((512 - 2) * 9999) // 262142)
        self.assertEqual(read(cg + "/pids.max"), "50")
        self.assertEqual(self.client.limits(h, "memory"), {"limit_in_bytes": 64 * MiB})
        self.assertEqual(self.client.limits(h, "cpu"), {"weight": 512})
        # pids.max bites: a fork bomb stops at the limit, the container survives it.
        self.run_proc(h, "sh", "-c", "for i in $(seq 60); do sleep 600 & done 2>/dev/null")
        self.assertLessEqual(int(read(cg + "/pids.current")), 50)
        self.assertGreaterEqual(kv(cg + "/pids.events")["max"], 1)

    def test_oom_kill_is_an_event(self):
        h = self.create(handle="v2-oom", limits={"memory_limits": {"limit_in_bytes": 32 * MiB}})
        self.assertEqual(self.client.info(h)["Events"], [])
        code, _, _ = self.run_proc(h, "dd", "if=/dev/zero", "of=/dev/null", "bs=64M", "count=1")
        self.assertEqual(code, 137)  # SIGKILL from the kernel's OOM killer
        self.assertGreaterEqual(kv(self.cgroup(h) + "/memory.events")["oom_kill"], 1)
        self.assertEqual(self.client.info(h)["Events"], ["out of memory"])
        self.assertEqual(self.client.bulk_info([h])[h]["Info"]["Events"], ["out of memory"])
        # The container lives on.
        self.assertEqual(self.run_proc(h, "true")[0], 0)

    def test_metrics_from_the_v2_files(self):
        h = self.create(handle="v2-metrics",
                        limits={"memory_limits": {"limit_in_bytes": 128 * MiB},
                                "pid_limits": {"max": 40}})
        cg = self.cgroup(h)
        # 24 MiB of anonymous memory: dd's buffer, held while dd blocks on a pipe nobody
        # reads; and some CPU time.
        p = self.client.run(h, {"path": "sh", "args": [
            "-c", "i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done; "
                  "dd if=/dev/zero bs=24M count=1 2>/dev/null | sleep 600"]})
        deadline = time.monotonic() + 120
        while kv(cg + "/memory.stat")["anon"] < 24 * MiB and time.monotonic() < deadline:
            time.sleep(0.2)
        m = self.client.metrics(h)
        mem = m["MemoryStat"]
        stat = kv(cg + "/memory.stat")
        current = int(read(cg + "/memory.current"))
        self.assertGreater(mem["rss"], 20 * MiB)
        self.assertEqual(mem["rss"], mem["total_rss"])
        self.assertAlmostEqual(mem["rss"], stat["anon"], delta=2 * MiB)
        self.assertAlmostEqual(mem["cache"], stat["file"], delta=2 * MiB)
        self.assertAlmostEqual(mem["TotalUsageTowardLimit"], current - stat["inactive_file"],
                               delta=2 * MiB)
        self.assertGreater(mem["TotalUsageTowardLimit"], 20 * MiB)
        self.assertEqual(mem["hierarchical_memory_limit"], 128 * MiB)
        cpu = kv(cg + "/cpu.stat")
        self.assertGreater(m["CPUStat"]["Usage"], 0)
        self.assertLessEqual(m["CPUStat"]["Usage"], cpu["usage_usec"] * 1000)
        self.assertGreater(m["CPUStat"]["User"], 0)
        self.assertEqual(m["PidStat"]["Max"], 40)
        self.assertEqual(m["PidStat"]["Current"], int(read(cg + "/pids.current")))
        self.assertGreaterEqual(m["PidStat"]["Current"], 4)  # garden-init, sh, dd, sleep
        bulk = self.client.bulk_metrics([h])[h]
        self.assertIsNone(bulk["Err"])
        self.assertGreater(bulk["Metrics"]["MemoryStat"]["TotalUsageTowardLimit"], 20 * MiB)
        p.signal(kill=True)
        p.wait()

    def test_peas_and_destroy_leave_no_cgroup(self):
        h = self.create(handle="v2-peas", limits={"memory_limits": {"limit_in_bytes": 48 * MiB}})
        cg = self.cgroup(h)
        parent = os.path.dirname(cg)
        image = {"uri": "raw://" + self.rootfs}
        # A pea without limits: a cgroup nested in the container's (threaded: the container's
        # has processes), bounded by the container's memory limit.
        code, out, err = self.run_proc(h, "sh", "-c", "cat /proc/self/cgroup; "
                                       "dd if=/dev/zero of=/dev/null bs=64M count=1",
                                       id="nested", image=image)
        self.assertEqual(code, 137, out + err)
        self.assertTrue(out.strip().endswith("/%s/pea-nested" % h), out)
        # An empty override (Guardian's OverrideContainerLimits{}): beside the container's
        # cgroup, not held to its memory limit.
        code, out, err = self.run_proc(h, "sh", "-c", "cat /proc/self/cgroup; "
                                       "dd if=/dev/zero of=/dev/null bs=64M count=1",
                                       id="free", image=image, limits={})
        self.assertEqual(code, 0, out + err)
        self.assertTrue(out.strip().endswith("/peas@%s/free" % h), out)
        # A pea with limits of its own: a cgroup beside the container's, with its limit.
        p = self.client.run(h, {"id": "own", "path": "sh", "args": ["-c", "echo up; sleep 600"],
                                "image": image,
                                "limits": {"memory_limits": {"limit_in_bytes": 16 * MiB}}})
        p.read_until("stdout", b"up\n")
        own = os.path.join(parent, "peas@" + h, "own")
        self.assertEqual(int(read(own + "/memory.max")), 16 * MiB)
        self.client.destroy(h)
        self.created.remove(h)
        for gone in (cg, own, os.path.dirname(own)):
            self.assertFalse(os.path.exists(gone), gone)
        self.assertEqual([d for d in os.listdir(parent) if os.path.isdir(os.path.join(parent, d))],
                         [])


if __name__ == "__main__":
    main()
