#!/usr/bin/env python3
"""garden-shim overhead and concurrency.

    sudo bench/garden_overhead.py [-n 30] [--clients 20] [--json FILE]

1. create + run(echo hi) + destroy through the shim, against the same work done by calling
   the runtime directly (`run --detach` of the shim's own bundle config, `exec --process`
   echo, `delete --force`), interleaved one shim iteration / one direct iteration; medians
   and their ratio. The shim's figure also includes what only it does: the per-container
   rootfs layer (overlay), the depot records, the dadoo process supervisor, HTTP.
   --baseline-shim B (an A/B of two shim builds): a second shim, B (its garden-dadoo and
   garden-init beside it), on a depot of its own, timed in the same loop: one iteration of
   each shim, then one direct, so both ratios come from one interleaved run.
2. --clients concurrent clients (threads, one connection per call), each doing
   create + run(echo) + destroy --per-client times: errors (must be 0), throughput
   (containers per second) and the median latency of one create+run+destroy.

Runtime: GARDEN_RUNTIME (as for the garden tests; bench/run.py passes crunner).
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests",
                                "garden"))
from harness import Shim, ShimTestCase, cleanup_workdir  # noqa: E402
from garden_client import Client  # noqa: E402


def shim_once(client, handle):
    """One create + run + destroy; the seconds each of the three took."""
    t0 = time.monotonic()
    h = client.create({"handle": handle})
    t1 = time.monotonic()
    p = client.run(h, {"path": "echo", "args": ["hi"]})
    out = p.read_stream("stdout")
    p.read_stream("stderr")
    rc = p.wait()
    t2 = time.monotonic()
    client.destroy(h)
    t3 = time.monotonic()
    if out != b"hi\n" or rc != 0:
        raise RuntimeError(f"{handle}: echo gave {out!r}, status {rc}")
    return t1 - t0, t2 - t1, t3 - t2


def direct_setup():
    """The shim's bundle config for a container, rewritten to run from the image directly."""
    client = ShimTestCase.client
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
    config["root"]["path"] = ShimTestCase.rootfs
    with open(os.path.join(bundle, "config.json"), "w") as f:
        json.dump(config, f)
    pfile = os.path.join(bundle, "process.json")
    with open(pfile, "w") as f:
        json.dump(dict(config["process"], args=["echo", "hi"], cwd="/"), f)
    return bundle, root, pfile


def direct_once(rt, bundle, root, pfile, cid):
    """run -d + exec + delete --force; the seconds each of the three took."""
    t0 = time.monotonic()
    subprocess.run([rt, "--root", root, "run", "--detach", "--bundle", bundle, cid], check=True,
                   stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    t1 = time.monotonic()
    out = subprocess.run([rt, "--root", root, "exec", "--process", pfile, cid], check=True,
                         capture_output=True).stdout
    t2 = time.monotonic()
    subprocess.run([rt, "--root", root, "delete", "--force", cid], check=True)
    t3 = time.monotonic()
    if out != b"hi\n":
        raise RuntimeError(f"direct {cid}: echo gave {out!r}")
    return t1 - t0, t2 - t1, t3 - t2


def start_baseline(path):
    """A second shim from another build, beside the first: its own depot and cgroup parent.
    It is started through `sh -c` with the argv the harness gives ours, our binary swapped
    for path (the harness's wrap)."""
    workdir = os.path.join(ShimTestCase.workdir, "baseline")
    os.makedirs(workdir)
    shim = Shim(workdir, ShimTestCase.rootfs, ShimTestCase.cgroup_parent + "-b",
                wrap=["sh", "-c", 'shift; exec "$0" "$@"', os.path.abspath(path)])
    ShimTestCase.addClassCleanup(cleanup_workdir, workdir, shim, ShimTestCase.runtime,
                                 shim.cgroup_parent)
    return shim.start()


def summary(runs):
    """The median of the per-iteration sums, and of each of create, run, destroy (ms)."""
    return (statistics.median(sum(x) for x in runs) * 1e3,
            [statistics.median(x[k] for x in runs) * 1e3 for k in range(3)])


def concurrent(port, clients, per_client):
    errors, lat = [], []
    lock = threading.Lock()

    def worker(k):
        c = Client(port=port)
        for i in range(per_client):
            t = time.monotonic()
            try:
                shim_once(c, f"crunner-test-bench-c{k}-{i}")
                with lock:
                    lat.append(time.monotonic() - t)
            except Exception as e:  # noqa: BLE001 - every failure is counted
                with lock:
                    errors.append(f"client {k} #{i}: {e}")

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(clients)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.monotonic() - t0
    return errors, lat, wall


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", type=int, default=30, help="iterations of each (default 30)")
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--clients", type=int, default=20, help="concurrent clients (default 20)")
    ap.add_argument("--per-client", type=int, default=3, help="containers per client")
    ap.add_argument("--json", metavar="FILE", help="write the results as JSON")
    ap.add_argument("--baseline-shim", metavar="PATH",
                    help="A/B: another garden-shim binary, timed interleaved with this one")
    args = ap.parse_args()
    result = {}
    try:
        ShimTestCase.setUpClass()
        client, rt = ShimTestCase.client, ShimTestCase.runtime
        bundle, root, pfile = direct_setup()
        base = start_baseline(args.baseline_shim) if args.baseline_shim else None
        shim_s, direct_s, base_s = [], [], []
        for i in range(args.warmup + args.n):
            ds = shim_once(client, f"crunner-test-bench-{i}")
            db = shim_once(base, f"crunner-test-base-{i}") if base else None
            dd = direct_once(rt, bundle, root, pfile, f"crunner-test-direct-{i}")
            if i >= args.warmup:
                shim_s.append(ds)
                direct_s.append(dd)
                if base:
                    base_s.append(db)
        shim_ms = statistics.median(sum(x) for x in shim_s) * 1e3
        direct_ms = statistics.median(sum(x) for x in direct_s) * 1e3
        # Per call: what the shim adds to the runtime's own work (the median of each).
        calls = {}
        for k, name in enumerate(("create", "run", "destroy")):
            sm = statistics.median(x[k] for x in shim_s) * 1e3
            dm = statistics.median(x[k] for x in direct_s) * 1e3
            calls[name] = (sm, dm)
        errors, lat, wall = concurrent(ShimTestCase.shim.port, args.clients, args.per_client)
        done = len(lat)
        # The runtime as the report may name it: relative to the repository (a report
        # names no path outside it), else its name.
        repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        rt_name = os.path.relpath(rt, repo) if rt.startswith(repo + "/") else os.path.basename(rt)
        result = {
            "method": (f"runtime {rt_name}; {args.n} interleaved iterations (after {args.warmup} "
                       f"warm-up) of garden-shim create + run(echo hi) + destroy and of the "
                       f"same container driven with the runtime directly (run --detach, exec "
                       f"--process echo, delete --force; the image directory as rootfs, so "
                       f"the shim's figure also holds its overlay layer, depot and dadoo); "
                       f"then {args.clients} concurrent clients x {args.per_client} "
                       f"create+run+destroy each."),
            "shim_ms": shim_ms, "direct_ms": direct_ms, "shim/direct": shim_ms / direct_ms,
            "shim-direct_ms": shim_ms - direct_ms,
            "create_ms (shim, run -d)": "%.1f, %.1f" % calls["create"],
            "run_ms (shim, exec)": "%.1f, %.1f" % calls["run"],
            "destroy_ms (shim, delete --force)": "%.1f, %.1f" % calls["destroy"],
            "clients": args.clients, "concurrent_done": done,
            "concurrent_errors": len(errors),
            "throughput_per_s": done / wall if wall > 0 else 0.0,
            "concurrent_median_ms": statistics.median(lat) * 1e3 if lat else 0.0,
        }
        print(f"garden-shim create+run+destroy: median {shim_ms:.1f} ms; crunner directly "
              f"(run -d + exec + delete): {direct_ms:.1f} ms; ratio {shim_ms / direct_ms:.2f}")
        for name, (sm, dm) in calls.items():
            print(f"  {name:8s} shim {sm:6.1f} ms, direct {dm:6.1f} ms (+{sm - dm:.1f})")
        if base_s:
            base_ms, base_calls = summary(base_s)
            result["baseline_shim_ms"] = base_ms
            result["baseline/direct"] = base_ms / direct_ms
            print(f"baseline shim ({args.baseline_shim}): median {base_ms:.1f} ms; ratio "
                  f"{base_ms / direct_ms:.2f} (this shim {shim_ms / direct_ms:.2f}); create "
                  f"{base_calls[0]:.1f}, run {base_calls[1]:.1f}, destroy {base_calls[2]:.1f} ms")
        print(f"{args.clients} concurrent clients: {done} done, {len(errors)} errors, "
              f"{result['throughput_per_s']:.1f} containers/s, median latency "
              f"{result['concurrent_median_ms']:.0f} ms")
        for e in errors[:5]:
            print("  error: " + e)
    finally:
        try:
            if getattr(ShimTestCase, "client", None) is not None:
                ShimTestCase.tearDownClass()
        finally:
            ShimTestCase.doClassCleanups()
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)
    return 0 if result and result["concurrent_errors"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
