#!/usr/bin/env python3
"""crunner-image against skopeo + umoci on the same multi-layer image, in one run.

    sudo python3 bench/image_pull.py [-n 5] [--big-mib 32]

Starts Debian's docker-registry on 127.0.0.1 (temp storage), builds the test image of
tests/image (busybox base, a crafted layer; no zstd layer: umoci 0.4 cannot unpack those) plus one layer of --big-mib MiB of
random data, pushes it with skopeo, then per iteration, interleaved:
  pull    `crunner-image create` into an empty store (fetch + verify + unpack + overlay mount)
  skopeo  `skopeo copy docker://... oci:DIR:t` + `umoci unpack --image DIR:t BUNDLE`
  cached  `crunner-image create` of the same image again (layers cached: rootfs only), ms
  raw     today's garden-shim raw-rootfs path for comparison: `cp -a` of the unpacked rootfs
Prints median and p90 wall times. Everything it starts or mounts is removed at the end.
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "image"))
import imagelib as L  # noqa: E402


def timed(args):
    t = time.monotonic()
    subprocess.run(args, check=True, capture_output=True)
    return time.monotonic() - t


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=5)
    ap.add_argument("--big-mib", type=int, default=32)
    a = ap.parse_args()
    env = L.Env("bench")
    try:
        layout = L.build_layout(env.tmp, zstd=False)
        big = os.path.join(env.tmp, "big.tar")
        with tarfile.open(big, "w") as t:
            data = os.path.join(env.tmp, "big.bin")
            with open(data, "wb") as f:
                f.write(os.urandom(a.big_mib << 20))
            t.add(data, arcname="big.bin")
            os.unlink(data)
        L.run(["umoci", "raw", "add-layer", "--image", layout + ":test", big])
        os.unlink(big)
        reg = env.registry("bench")
        reg.push(layout, "test", "bench/img:test")
        ref = "docker://%s/bench/img:test" % reg.host
        res = {"pull": [], "skopeo": [], "cached": [], "raw": []}
        for i in range(a.n):
            store = os.path.join(env.tmp, "s%d" % i)
            env.stores.append(store)
            L.run([L.IMAGE_BIN, "--store", store, "init-store"])
            res["pull"].append(timed([L.IMAGE_BIN, "--store", store, "create", "--insecure-registry", reg.host, ref, "a"]))
            oci, bundle = os.path.join(env.tmp, "oci%d" % i), os.path.join(env.tmp, "bundle%d" % i)
            t = time.monotonic()
            subprocess.run(["skopeo", "copy", "--quiet", "--src-tls-verify=false", ref, "oci:%s:t" % oci], check=True)
            subprocess.run(["umoci", "unpack", "--image", oci + ":t", bundle], check=True, capture_output=True)
            res["skopeo"].append(time.monotonic() - t)
            res["cached"].append(timed([L.IMAGE_BIN, "--store", store, "create", "--insecure-registry", reg.host, ref, "b"]))
            res["raw"].append(timed(["cp", "-a", os.path.join(bundle, "rootfs"), os.path.join(env.tmp, "raw%d" % i)]))
            L.run([L.IMAGE_BIN, "--store", store, "delete-store"])
            for p in (oci, bundle, os.path.join(env.tmp, "raw%d" % i)):
                shutil.rmtree(p)
        for k, v in res.items():
            v = sorted(v)
            p90 = v[min(len(v) - 1, int(round(0.9 * (len(v) - 1))))]
            print("%-7s median %8.1f ms   p90 %8.1f ms   (n=%d)" % (k, statistics.median(v) * 1000, p90 * 1000, len(v)))
        print("pull / (skopeo copy + umoci unpack): %.2f" % (statistics.median(res["pull"]) / statistics.median(res["skopeo"])))
    finally:
        env.close()


if __name__ == "__main__":
    main()
