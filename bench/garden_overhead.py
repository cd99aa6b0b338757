#!/usr/bin/env python3
"""garden-shim overhead: create + run(echo) + destroy through the shim, against the same
work done by calling the runtime directly (run --detach of the same bundle, exec echo,
delete --force). Prints per-iteration means and the shim's overhead ratio.

usage: sudo bench/garden_overhead.py [N]   (env GARDEN_RUNTIME, GARDEN_SHIM as for the tests)
"""

import json
import os
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "garden"))
from harness import ShimTestCase  # noqa: E402


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    try:
        ShimTestCase.setUpClass()
        client, rt = ShimTestCase.client, ShimTestCase.runtime
        t0 = time.monotonic()
        for i in range(n):
            h = client.create({"handle": "crunner-test-bench-%d" % i})
            p = client.run(h, {"path": "echo", "args": ["hi"]})
            assert p.read_stream("stdout") == b"hi\n"
            p.read_stream("stderr")
            assert p.wait() == 0
            client.destroy(h)
        shim = (time.monotonic() - t0) / n

        # The same bundle, driven directly.
        h = client.create({"handle": "crunner-test-bench-src"})
        depot = ShimTestCase.shim.depot
        with open(os.path.join(depot, "containers", h, "config.json")) as f:
            config = json.load(f)
        client.destroy(h)
        bundle = os.path.join(ShimTestCase.workdir, "direct")
        root = os.path.join(ShimTestCase.workdir, "direct-root")
        os.makedirs(bundle)
        for name in ("hosts", "resolv.conf"):
            open(os.path.join(bundle, name), "w").close()
        for m in config["mounts"]:
            if m["destination"] in ("/etc/hosts", "/etc/resolv.conf"):
                m["source"] = os.path.join(bundle, os.path.basename(m["destination"]))
        config["linux"]["cgroupsPath"] = ShimTestCase.cgroup_parent + "/direct"
        # The shim's rootfs was the container's own overlay layer (gone with it): the
        # direct runs use the image itself, so the shim's figure includes its layer.
        config["root"]["path"] = ShimTestCase.rootfs
        with open(os.path.join(bundle, "config.json"), "w") as f:
            json.dump(config, f)
        proc = json.dumps(dict(config["process"], args=["echo", "hi"], cwd="/"))
        pfile = os.path.join(bundle, "process.json")
        with open(pfile, "w") as f:
            f.write(proc)
        t0 = time.monotonic()
        for i in range(n):
            cid = "crunner-test-direct-%d" % i
            subprocess.run([rt, "--root", root, "run", "--detach", "--bundle", bundle, cid],
                           check=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
            out = subprocess.run([rt, "--root", root, "exec", "--process", pfile, cid],
                                 check=True, capture_output=True).stdout
            assert out == b"hi\n", out
            subprocess.run([rt, "--root", root, "delete", "--force", cid], check=True)
        direct = (time.monotonic() - t0) / n
        print("runtime %s, %d iterations" % (rt, n))
        print("through garden-shim: %.1f ms per create+run+destroy" % (shim * 1000))
        print("runtime directly:    %.1f ms per run -d+exec+delete" % (direct * 1000))
        print("shim overhead ratio: %.2fx (the shim also mounts a per-container overlay)"
              % (shim / direct))
    finally:
        try:
            if getattr(ShimTestCase, "client", None) is not None:
                ShimTestCase.tearDownClass()
        finally:
            # The harness's class cleanup: shim by pid, mounts, loop devices, cgroups, dirs.
            ShimTestCase.doClassCleanups()


if __name__ == "__main__":
    main()
