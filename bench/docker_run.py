#!/usr/bin/env python3
"""`docker run --rm busybox true` under runc and under crunner, interleaved, on one dockerd.

    sudo python3 bench/docker_run.py [-n 30] [--warmup 3] [--report FILE]

One private dockerd (Debian's docker.io 20.10 and the containerd it starts) inside a network
and mount namespace made for the run, exactly as the Docker suite starts it
(tests/callers/dockerd.py: crunner registered by docs/callers/docker.md's daemon.json snippet,
the tree's binary). Each iteration times one `docker run --rm --runtime R` per runtime, the
first runtime alternating, so both see the same machine noise; warm-up iterations are not
recorded. The time is the client's wall clock, fork to exit: API calls, containerd, the
runc-v2 shim, the runtime's create/start/delete, the container, and the removal.
Prints (and with --report writes as markdown) medians, p10/p90, min/max, the ratio of the
medians, and the load average before and after.
"""

import argparse
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "callers"))
import callers as C  # noqa: E402
from dockerd import IMAGE, Dockerd  # noqa: E402

RUNTIMES = ("runc", "crunner")


def once(d, rt):
    argv = d.client_argv("run", "--rm", "--runtime", rt, IMAGE, "true")
    t0 = time.monotonic()
    p = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    secs = time.monotonic() - t0
    if p.returncode != 0:
        raise RuntimeError(f"docker run --runtime {rt}: {p.stderr.decode()}")
    return secs * 1000


def measure(d, n, warmup):
    samples = {rt: [] for rt in RUNTIMES}
    for i in range(warmup + n):
        order = RUNTIMES if i % 2 == 0 else RUNTIMES[::-1]
        for rt in order:
            ms = once(d, rt)
            if i >= warmup:
                samples[rt].append(ms)
    return samples


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def report(samples, n, load0, load1, versions):
    med = {rt: statistics.median(samples[rt]) for rt in RUNTIMES}
    lines = [
        "# `docker run --rm busybox true`: runc vs crunner",
        "",
        f"{versions}. One dockerd, {n} measured iterations (after warm-up), each running both "
        "runtimes, the first alternating. Client wall clock, ms.",
        "",
        "| runtime | median | p10 | p90 | min | max |",
        "|---|---|---|---|---|---|",
    ]
    for rt in RUNTIMES:
        xs = samples[rt]
        lines.append(f"| {rt} | {med[rt]:.0f} | {pct(xs, 10):.0f} | {pct(xs, 90):.0f} | "
                     f"{min(xs):.0f} | {max(xs):.0f} |")
    lines += ["", f"crunner / runc (medians): {med['crunner'] / med['runc']:.2f} "
              f"({med['runc'] - med['crunner']:+.0f} ms per container in crunner's favour)",
              "", f"Load average (1 min) before / after: {load0} / {load1} on "
              f"{os.cpu_count()} CPUs."]
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--report", help="write the markdown report here")
    a = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("docker_run.py: run as root")
    C.teardown_on_signals()
    tmp = C.make_tmpdir("dockerbench")
    name = os.path.basename(tmp)
    sandbox = d = None
    try:
        sandbox = C.Sandbox()
        d = Dockerd(sandbox, tmp, "/" + name)
        d.start()
        d.load_busybox(tmp)
        rc, out, _ = d.docker("version", "--format", "{{.Server.Version}}")
        ver = subprocess.run([C.RUNC, "--version"], capture_output=True, text=True).stdout
        versions = (f"Docker {out.strip()} (docker.io), runc {ver.split()[2]}, "
                    f"crunner {_crunner_version()}, cgroup v1 (hybrid host)")
        load0 = os.getloadavg()[0]
        samples = measure(d, a.n, a.warmup)
        load1 = os.getloadavg()[0]
        text = report(samples, a.n, f"{load0:.1f}", f"{load1:.1f}", versions)
        print(text)
        if a.report:
            with open(a.report, "w") as f:
                f.write(text)
    finally:
        if d and d.proc:
            d.remove_all()
            d.stop()
        if sandbox:
            sandbox.close()
        C.remove_cgroups(name)
        subprocess.run(["rm", "-rf", tmp])


def _crunner_version():
    out = subprocess.run([C.CRUNNER, "--version"], capture_output=True, text=True).stdout
    return out.split()[2] if len(out.split()) > 2 else "?"


if __name__ == "__main__":
    main()
