#!/usr/bin/python3
"""One Kubernetes pod's life through containerd's CRI, runc vs crunner, interleaved.

    sudo /usr/bin/python3 bench/cri_pod.py [-n 20] [--warmup 2] [--report bench/results/cri_pod.md]

The CRI suite's world (tests/cri/crienv.py): a private containerd with its CRI plugin and
the runtime handlers `runc` and crunner's (registered as docs/callers/kubernetes.md says),
bridge CNI, in a network namespace and a private mount namespace of its own. One cycle is
what the kubelet does for a one-container pod:

    start: RunPodSandbox (pause container + CNI) + CreateContainer + StartContainer
    stop:  StopContainer (SIGTERM, the container's trap exits 0) + RemoveContainer
           + StopPodSandbox + RemovePodSandbox

timed from the client (gRPC round trips included). Between the two phases, untimed, the
suite waits for the container's "ready" log line (its TERM trap is set). Every iteration
runs one cycle per handler, the first handler alternating, so both see the same machine.
Debian's python3 (grpcio). Prints medians, p10-p90 and min-max per phase, the load average
before and after, and with --report writes them as markdown.
"""

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(SOURCE_DIR, "tests", "cri"))
BUILD = os.environ.get("CRUNNER_BUILD_DIR") or os.path.join(SOURCE_DIR, "build")
CRUNNER = os.environ.get("CRUNNER") or os.path.join(BUILD, "cmd", "crunner", "crunner")

TERM_OK = ["sh", "-c", "trap 'exit 0' TERM; echo ready; sleep 3600 & wait"]
PHASES = ("start", "stop", "total")


def cycle(cases, env, handler, i):
    ctx = cases.Ctx(env, handler)
    t0 = time.perf_counter()
    pod = ctx.pod("bench%d" % i)
    cid = pod.container("c", TERM_OK)
    t1 = time.perf_counter()
    cases.wait_for("the container's trap", lambda: "ready" in pod.log("c"), step=0.01)
    t2 = time.perf_counter()
    env.cri.StopContainer(container_id=cid, timeout=10)
    env.cri.RemoveContainer(container_id=cid)
    env.cri.StopPodSandbox(pod_sandbox_id=pod.id)
    env.cri.RemovePodSandbox(pod_sandbox_id=pod.id)
    t3 = time.perf_counter()
    pod.removed = True
    ctx.close()  # checks the pod's cgroups are gone
    left = env.cri.ListContainers(filter={"pod_sandbox_id": pod.id}).containers
    assert not left, "the container outlived its pod"
    return {"start": (t1 - t0) * 1000, "stop": (t3 - t2) * 1000, "total": (t1 - t0 + t3 - t2) * 1000}


def inner(tmp, cgroup_root, n, warmup, out):
    import cases
    import crienv
    env = crienv.Env(tmp, CRUNNER, cgroup_root)
    result = {"mntns": os.stat("/proc/self/ns/mnt").st_ino}
    try:
        env.start()
        handlers = ["runc", env.crunner_handler]
        samples = {h: {p: [] for p in PHASES} for h in handlers}
        result["load_before"] = os.getloadavg()
        for i in range(warmup + n):
            for h in (handlers if i % 2 == 0 else handlers[::-1]):
                s = cycle(cases, env, h, i)
                if i >= warmup:
                    for p in PHASES:
                        samples[h][p].append(s[p])
        result["load_after"] = os.getloadavg()
        result["samples"] = {("crunner" if h != "runc" else h): v for h, v in samples.items()}
        result["versions"] = {
            "containerd": subprocess.run(["containerd", "--version"], capture_output=True, text=True).stdout.split()[2],
            "runc": subprocess.run([crienv.RUNC, "--version"], capture_output=True, text=True).stdout.split()[2],
            "crunner": " ".join(subprocess.run([CRUNNER, "--version"], capture_output=True,
                                               text=True).stdout.splitlines()[:2]).replace("crunner version ", ""),
        }
    finally:
        if env.cri:
            env.remove_all_pods()
        env.stop()
        json.dump(result, open(out, "w"))


def pct(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, max(0, round(q * (len(xs) - 1))))]


def summarize(result, n, warmup):
    s = result["samples"]
    lines = ["| phase | runtime | median ms | p10-p90 ms | min-max ms |", "|---|---|---:|---:|---:|"]
    for p in PHASES:
        for h in ("runc", "crunner"):
            xs = s[h][p]
            lines.append("| %s | %s | %.1f | %.1f-%.1f | %.1f-%.1f |" % (
                p, h, statistics.median(xs), pct(xs, 0.1), pct(xs, 0.9), min(xs), max(xs)))
    ratios = ["%s %.2f" % (p, statistics.median(s["crunner"][p]) / statistics.median(s["runc"][p])) for p in PHASES]
    lb, la = result["load_before"], result["load_after"]
    head = [
        "%d measured cycles per runtime (+%d warm-up), interleaved, the first runtime alternating; "
        "one containerd, one client." % (n, warmup),
        "",
        "Versions: containerd %s, runc %s, crunner %s." % (
            result["versions"]["containerd"], result["versions"]["runc"], result["versions"]["crunner"]),
        "",
        "Load average (1/5/15 min) before: %.2f %.2f %.2f, after: %.2f %.2f %.2f (2 cores)." % (tuple(lb) + tuple(la)),
        "",
    ]
    return head + lines + ["", "crunner/runc, ratio of medians: " + ", ".join(ratios) + "."]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-n", type=int, default=20, help="measured cycles per runtime")
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--report", help="write the summary as markdown to this file")
    ap.add_argument("--inner", nargs=3, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.inner:
        inner(a.inner[0], a.inner[1], a.n, a.warmup, a.inner[2])
        return 0
    import crienv
    iso = crienv.Isolation("crunner-cri-bench-%d" % os.getpid())
    out = os.path.join(iso.tmp, "bench.json")
    try:
        iso.run([sys.executable, "-u", os.path.abspath(__file__), "-n", str(a.n), "--warmup", str(a.warmup),
                 "--inner", iso.tmp, iso.cgroup_root, out], timeout=3600)
        result = json.load(open(out))
        iso.mntns = result["mntns"]
    finally:
        problems = [(name, detail) for name, ok, detail in iso.close() if not ok]
    if problems:
        print("left behind:", problems)
        return 1
    lines = summarize(result, a.n, a.warmup)
    print("\n".join(lines))
    if a.report:
        commit = subprocess.run(["git", "-C", SOURCE_DIR, "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True).stdout.strip()
        title = "# bench/cri_pod.py: one CRI pod cycle, runc vs crunner (%s, %s UTC)" % (
            commit, datetime.datetime.utcnow().strftime("%Y-%m-%d %H:%M"))
        host = "Host: %s CPUs, kernel %s, cgroup v1 + unified (hybrid)." % (os.cpu_count(), platform.release())
        body = [title, "", host,
                "", __doc__.split("\n\n", 2)[2].strip(), ""] + lines
        with open(a.report, "w") as f:
            f.write("\n".join(body) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
