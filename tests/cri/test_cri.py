#!/usr/bin/python3
"""Kubernetes CRI suite: crunner as a containerd runtime handler, next to runc.

A private containerd (Debian's, with its CRI plugin) gets two runtime handlers, `runc` and
crunner's (registered as docs/callers/kubernetes.md says), and a CRI client of our own
(cri_client.py) does what the kubelet does. Every case runs once per handler; a case that
passes with runc must pass with crunner. The table of both columns and a closing
`N passed, N failed` line end the run.

Two processes: this one (the "outer") makes a network namespace, runs itself again inside it
(`nsenter --net=`) and inside a new private mount namespace (the "inner", which starts
containerd and runs the cases), then checks that nothing is left: no process of the inner's
mount namespace, no mount, netns, cgroup, link or firewall rule in the host's.
"""

import json
import os
import subprocess
import sys
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

SOURCE_DIR = os.environ.get("CRUNNER_SOURCE_DIR") or os.path.dirname(os.path.dirname(HERE))
BUILD = os.environ.get("CRUNNER_BUILD_DIR") or os.path.join(SOURCE_DIR, "build")
CRUNNER = os.environ.get("CRUNNER") or os.path.join(BUILD, "cmd", "crunner", "crunner")


# ------------------------------------------------------------------------------------------
# outer: namespaces, then the leftover checks
# ------------------------------------------------------------------------------------------

def outer():
    results = {"pass": 0, "fail": 0}

    def check(name, ok, detail=""):
        results["pass" if ok else "fail"] += 1
        print(("PASS " if ok else "FAIL ") + name + ("" if ok else ": " + str(detail)))

    if os.geteuid() != 0:
        check("runs as root", False, "the CRI suite needs root")
        print("%d passed, %d failed" % (results["pass"], results["fail"]))
        return 1
    import crienv
    iso = crienv.Isolation("crunner-cri-%d" % os.getpid())
    try:
        rc = iso.run([sys.executable, "-u", os.path.abspath(__file__), "--inner", iso.tmp, iso.cgroup_root],
                     timeout=1500)
        try:
            inner = json.load(open(os.path.join(iso.tmp, "result.json")))
            iso.mntns = inner["mntns"]
            results["pass"] += inner["pass"]
            results["fail"] += inner["fail"]
        except (OSError, ValueError) as e:
            check("the inner run reported its results", False, "exit %d, %s" % (rc, e))
    finally:
        for name, ok, detail in iso.close(keep=bool(os.environ.get("CRI_KEEP"))):
            check(name, ok, detail)
    print("%d passed, %d failed" % (results["pass"], results["fail"]))
    return 1 if results["fail"] else 0


# ------------------------------------------------------------------------------------------
# inner: containerd, the cases, the table
# ------------------------------------------------------------------------------------------

def inner(tmp, cgroup_root):
    import crienv
    import cases

    state = {"pass": 0, "fail": 0, "mntns": os.stat("/proc/self/ns/mnt").st_ino}

    def check(name, ok, detail=""):
        state["pass" if ok else "fail"] += 1
        print(("PASS " if ok else "FAIL ") + name + ("" if ok else ": " + str(detail)))

    env = crienv.Env(tmp, CRUNNER, cgroup_root)
    table = []
    t0 = time.monotonic()
    try:
        env.start()
        print("containerd ready with handlers %s (%.1f s)" % (", ".join(env.handlers), time.monotonic() - t0))
        table = cases.run_all(env, jobs=int(os.environ.get("CRI_JOBS", "3")))
        for row in table:
            for h in ("runc", "crunner"):
                check("%s [%s]" % (row["case"], h), row[h]["ok"], row[h].get("detail", ""))
    except Exception:
        check("setup", False, traceback.format_exc() + "\ncontainerd log:\n" + env.log_tail())
    finally:
        try:
            if env.cri:
                env.remove_all_pods()
                for h, root in env.state_roots.items():
                    d = os.path.join(root, "k8s.io")
                    # container ids only: crunner keeps its seccomp cache in "@seccomp-cache"
                    left = [n for n in os.listdir(d) if not n.startswith("@")] if os.path.isdir(d) else []
                    check("no %s container state is left" % h, not left, left)
        except Exception:
            check("remove every pod", False, traceback.format_exc())
        shims = env.stop()
        check("every shim exits with containerd", not shims, shims)
        mounts = [l.split()[4] for l in open("/proc/self/mountinfo") if tmp in l.split()[4]]
        check("no mount is left under the suite's directory", not mounts, mounts)
        for m in reversed(mounts):
            subprocess.run(["umount", "-l", m])
    print_table(table)
    print("inner run: %.0f s" % (time.monotonic() - t0))
    json.dump(state, open(os.path.join(tmp, "result.json"), "w"))
    return 0


def print_table(table):
    if not table:
        return
    w = max(len(r["case"]) for r in table)
    print()
    print("%-*s  %-10s  %-10s" % (w, "CRI case", "runc", "crunner"))
    for r in table:
        def cell(x):
            return ("pass" if x["ok"] else "FAIL") + (" (%s)" % x["note"] if x.get("note") else "")
        print("%-*s  %-10s  %-10s" % (w, r["case"], cell(r["runc"]), cell(r["crunner"])))
    print()


if __name__ == "__main__":
    if len(sys.argv) >= 4 and sys.argv[1] == "--inner":
        sys.exit(inner(sys.argv[2], sys.argv[3]))
    sys.exit(outer())
