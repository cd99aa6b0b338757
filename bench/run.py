#!/usr/bin/env python3
"""Side-by-side timings of crunner, runc and crun on the busybox bundle.

    sudo python3 bench/run.py [-n 30] [--warmup 3] [--only crunner,runc]

Scenarios (the bundle's process.args = ["/bin/true"], terminal false):
  run     `RUNTIME run ID` (foreground, the container is deleted at exit)
  cycle   `create` + `start` + `delete --force` (three runtime invocations)
  cg-none, cg-limits   cgroup setup cost: `create` + `delete --force` of a bundle without
          linux.resources / with a typical set of limits and a devices list

Each iteration runs every runtime once per scenario, round-robin with a rotating first
runtime, so the runtimes share the same machine noise. Wall time is measured around spawn +
wait; os.wait4 gives each invocation's peak RSS (ru_maxrss of the runtime process, including
the children it reaped, e.g. runc's `runc init`). Prints per runtime the median and p90 wall
time and the peak RSS, then the median ratios crunner/runc and crunner/crun.

crunner: $CRUNNER or build/cmd/crunner/crunner. runc: `command -v runc`. crun runs in a
private mount namespace without the cgroup2 mount, because it refuses this hybrid-cgroup host
otherwise:  unshare -m sh -c 'umount /sys/fs/cgroup/unified && exec crun "$@"' crun --root R ...
A runtime that is missing is skipped with a message.
"""

import argparse
import json
import math
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.dirname(HERE)
MAKE_BUNDLE = os.path.join(SRC, "tests", "fixtures", "make-bundle.sh")
CRUN_WRAPPER = 'umount /sys/fs/cgroup/unified && exec crun "$@"'


class Runtime:
    def __init__(self, name, prefix, root):
        self.name = name
        self.prefix = prefix  # argv up to and including `--root R`
        self.root = root
        self.samples = {"run": [], "cycle": []}
        self.rss = {"run": 0, "cycle": 0}  # KiB
        self.exec_id = None  # the running container of the exec scenario

    def argv(self, *args):
        return self.prefix + list(args)


def find_runtimes(only, tmp):
    found, missing = [], []
    crunner = os.environ.get("CRUNNER") or os.path.join(SRC, "build", "cmd", "crunner",
                                                        "crunner")
    runc = shutil.which("runc") or "/usr/sbin/runc"
    crun = shutil.which("crun")
    cands = [("crunner", crunner if os.access(crunner, os.X_OK) else None, None),
             ("runc", runc if os.access(runc, os.X_OK) else None, None),
             ("crun", crun, "wrapper")]
    for name, path, mode in cands:
        if only and name not in only:
            continue
        if not path:
            missing.append(name)
            continue
        root = os.path.join(tmp, f"root-{name}")
        os.makedirs(root)
        if mode == "wrapper":
            if not shutil.which("unshare"):
                missing.append("crun (no unshare)")
                continue
            prefix = ["unshare", "-m", "sh", "-c", CRUN_WRAPPER, "crun", "--root", root]
        else:
            prefix = [path, "--root", root]
        found.append(Runtime(name, prefix, root))
    return found, missing


def build_helper(tmp):
    """Compiles bench/rusage_exec.c (see its comment for why it exists); None without cc."""
    cc = shutil.which("cc") or shutil.which("gcc")
    if not cc:
        return None
    out = os.path.join(tmp, "rusage_exec")
    p = subprocess.run([cc, "-O2", "-o", out, os.path.join(HERE, "rusage_exec.c")],
                       capture_output=True, text=True)
    return out if p.returncode == 0 else None


HELPER = None
CALL_TIMEOUT = int(os.environ.get("BENCH_CALL_TIMEOUT", "60"))


class Timeout(Exception):
    pass


def on_alarm(_sig, _frame):
    raise Timeout()


def spawn(argv, cwd):
    """Runs argv; returns (rc, seconds, peak RSS KiB of the runtime process, output tail).
    The wall time is taken around spawn + os.wait4 of our child; the peak RSS is the
    runtime's own ru_maxrss from wait4 in the rusage_exec helper (or, without a C compiler,
    our child's, which then includes Python's pages)."""
    err = tempfile.TemporaryFile()
    r = w = None
    if HELPER:
        r, w = os.pipe()
        argv = [HELPER, str(w)] + argv
    t0 = time.perf_counter()
    p = subprocess.Popen(argv, cwd=cwd, stdin=subprocess.DEVNULL, stdout=err, stderr=err,
                         pass_fds=(w,) if w is not None else (), start_new_session=True)
    signal.alarm(CALL_TIMEOUT)  # a hung runtime must not hang the benchmark
    try:
        _pid, status, ru = os.wait4(p.pid, 0)
    except Timeout:
        os.killpg(p.pid, signal.SIGKILL)
        os.wait4(p.pid, 0)
        if w is not None:
            os.close(w)
            os.close(r)
        err.close()
        return -1, 0.0, 0, f"no exit within {CALL_TIMEOUT}s (killed)"
    finally:
        signal.alarm(0)
    dt = time.perf_counter() - t0
    p.returncode = os.waitstatus_to_exitcode(status)
    rss = ru.ru_maxrss
    if HELPER:
        os.close(w)
        with os.fdopen(r) as f:
            text = f.read().strip()
        rss = int(text) if text.isdigit() else 0
    err.seek(0)
    tail = err.read().decode(errors="replace").strip()[-300:]  # stdout + stderr
    err.close()
    return p.returncode, dt, rss, tail


class BenchError(Exception):
    pass


def one(rt, scenario, bundle, seq):
    cid = f"bench-{rt.name}-{os.getpid()}-{seq}"
    if scenario == "run":
        rc, dt, rss, err = spawn(rt.argv("run", "--bundle", bundle, cid), bundle)
        if rc != 0:
            spawn(rt.argv("delete", "--force", cid), bundle)
            raise BenchError(f"{rt.name} run exited {rc}: {err}")
        return dt, rss
    total, peak = 0.0, 0
    for step in (["create", "--bundle", bundle, cid], ["start", cid],
                 ["delete", "--force", cid]):
        rc, dt, rss, err = spawn(rt.argv(*step), bundle)
        total += dt
        peak = max(peak, rss)
        if rc != 0:
            spawn(rt.argv("delete", "--force", cid), bundle)
            raise BenchError(f"{rt.name} {step[0]} exited {rc}: {err}")
    return total, peak


# ---- cgroup setup cost: create + delete --force, without and with limits ------------------
# (see bench/README.md "cgroup setup"). The bundle runs /bin/true but is never started: the
# time is the runtime's create (cgroup mkdir + writes + init) and delete (kill + rmdir).
CG_SCENARIOS = ("cg-none", "cg-limits")


def blkio_weight_works():
    """True when a new cgroup here has the plain weight file (v1 blkio.weight of CFQ, v2
    io.weight), which all three runtimes write (crun does not fall back to BFQ's
    blkio.bfq.weight): probed with a crunner-test- cgroup that is removed at once."""
    v1 = os.path.isdir("/sys/fs/cgroup/blkio")
    parent = "/sys/fs/cgroup/blkio" if v1 else "/sys/fs/cgroup"
    probe = os.path.join(parent, f"crunner-test-bench-probe-{os.getpid()}")
    try:
        os.mkdir(probe)
    except OSError:
        return False
    try:
        return os.path.exists(os.path.join(probe, "blkio.weight" if v1 else "io.weight"))
    finally:
        os.rmdir(probe)


def cgroup_bundles(tmp):
    """{scenario: bundle}: cg-none has no linux.resources at all (the runtimes' default device
    rules still apply); cg-limits has a typical set of limits and a devices list."""
    out = {}
    for scenario in CG_SCENARIOS:
        b = os.path.join(tmp, scenario)
        subprocess.run(["bash", MAKE_BUNDLE, b, "/bin/true"], check=True,
                       stdout=subprocess.DEVNULL)
        with open(os.path.join(b, "config.json")) as f:
            cfg = json.load(f)
        res = {}
        if scenario == "cg-limits":
            mib = 1024 * 1024
            res = {"memory": {"limit": 256 * mib, "reservation": 128 * mib, "swap": 512 * mib},
                   "cpu": {"shares": 512, "quota": 50000, "period": 100000},
                   "pids": {"limit": 1024},
                   "devices": [{"allow": False, "access": "rwm"},
                               {"allow": True, "type": "c", "major": 1, "minor": 3,
                                "access": "rwm"},
                               {"allow": True, "type": "c", "major": 1, "minor": 5,
                                "access": "rwm"},
                               {"allow": True, "type": "c", "major": 136, "access": "rwm"},
                               {"allow": True, "type": "c", "major": 5, "minor": 1,
                                "access": "rwm"},
                               {"allow": True, "type": "b", "major": 7, "access": "r"}]}
            if blkio_weight_works():
                res["blockIO"] = {"weight": 500}
        cfg["linux"]["resources"] = res
        with open(os.path.join(b, "config.json"), "w") as f:
            json.dump(cfg, f, indent=2)
        out[scenario] = b
    print("# cgroup scenarios: cg-limits = " + ", ".join(
        sorted(k for k in cfg["linux"]["resources"])), flush=True)
    return out


def one_cgroup(rt, bundle, seq, measured):
    """create + delete --force; also keeps the create time alone (runc's delete --force of a
    created container waits ~100 ms for the init, which would hide the setup cost)."""
    cid = f"bench-{rt.name}-{os.getpid()}-{seq}"
    total, peak = 0.0, 0
    for step in (["create", "--bundle", bundle, cid], ["delete", "--force", cid]):
        rc, dt, rss, err = spawn(rt.argv(*step), bundle)
        total += dt
        peak = max(peak, rss)
        if step[0] == "create" and measured:
            rt.samples.setdefault(os.path.basename(bundle) + "/create", []).append(dt)
        if rc != 0:
            spawn(rt.argv("delete", "--force", cid), bundle)
            raise BenchError(f"{rt.name} {step[0]} ({os.path.basename(bundle)}) exited {rc}: "
                             f"{err}")
    return total, peak


def report_cgroups(runtimes, broken, args):
    ok = [rt for rt in runtimes if rt.name not in broken and rt.samples.get("cg-none")]
    med = {}
    print(f"\ncgroup setup: create + delete --force ({args.n} iterations)")
    print(f"  {'runtime':10} {'scenario':10} {'median ms':>10} {'p90 ms':>9} {'min ms':>9} "
          f"{'create alone, median ms':>24}")
    for rt in ok:
        for sc in CG_SCENARIOS:
            s = rt.samples[sc]
            med[(rt.name, sc)] = statistics.median(s)
            med[(rt.name, sc + "/create")] = statistics.median(rt.samples[sc + "/create"])
            print(f"  {rt.name:10} {sc:10} {med[(rt.name, sc)] * 1e3:10.2f} "
                  f"{pct(s, 90) * 1e3:9.2f} {min(s) * 1e3:9.2f} "
                  f"{med[(rt.name, sc + '/create')] * 1e3:24.2f}")
    for rt in ok:
        d = (med[(rt.name, "cg-limits")] - med[(rt.name, "cg-none")]) * 1e3
        print(f"  {rt.name:10} cost of the limits (median difference): {d:+.2f} ms")
    for other in ("runc", "crun"):
        for sc in CG_SCENARIOS + tuple(x + "/create" for x in CG_SCENARIOS):
            a, b = med.get(("crunner", sc)), med.get((other, sc))
            val = f"{a / b:.2f}" if a and b else "n/a (missing runtime)"
            print(f"  crunner/{other:5} {sc:17} {val}")


def pct(values, q):
    """Nearest-rank percentile."""
    s = sorted(values)
    k = max(0, min(len(s) - 1, math.ceil(q / 100 * len(s)) - 1))
    return s[k]


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", type=int, default=30, help="measured iterations (default 30)")
    ap.add_argument("--warmup", type=int, default=3, help="warm-up iterations (default 3)")
    ap.add_argument("--only", default="", help="comma-separated runtimes (crunner,runc,crun)")
    ap.add_argument("--json", metavar="FILE", help="also write the raw samples as JSON")
    ap.add_argument("--exec-only", action="store_true", help="only the exec scenario")
    ap.add_argument("--no-exec", action="store_true", help="skip the exec scenario")
    args = ap.parse_args()
    if os.geteuid() != 0:
        ap.error("needs root")

    tmp = tempfile.mkdtemp(prefix="crunner-bench-")
    try:
        only = {x for x in args.only.split(",") if x}
        runtimes, missing = find_runtimes(only, tmp)
        for m in missing:
            print(f"skipping {m}: not found", flush=True)
        if not runtimes:
            print("no runtime to benchmark")
            return 1
        global HELPER
        signal.signal(signal.SIGALRM, on_alarm)
        HELPER = build_helper(tmp)
        if not HELPER:
            print("warning: no C compiler for bench/rusage_exec.c: peak RSS includes "
                  "Python's own pages", flush=True)
        bundle = os.path.join(tmp, "bundle")
        subprocess.run(["bash", MAKE_BUNDLE, bundle, "/bin/true"], check=True)
        cg_bundles = cgroup_bundles(tmp)
        print(f"# {len(runtimes)} runtimes, {args.warmup} warm-up + {args.n} measured "
              f"iterations, bundle {bundle} (/bin/true)", flush=True)
        seq = 0
        broken = {}
        for it in range(0 if args.exec_only else args.warmup + args.n):
            measured = it >= args.warmup
            k = it % len(runtimes)
            order = runtimes[k:] + runtimes[:k]  # rotate who goes first
            for scenario in ("run", "cycle") + CG_SCENARIOS:
                for rt in order:
                    if rt.name in broken:
                        continue
                    seq += 1
                    try:
                        if scenario in cg_bundles:
                            dt, rss = one_cgroup(rt, cg_bundles[scenario], seq, measured)
                        else:
                            dt, rss = one(rt, scenario, bundle, seq)
                    except BenchError as e:
                        broken[rt.name] = str(e)
                        print(f"dropping {rt.name}: {e}", flush=True)
                        continue
                    if measured:
                        rt.samples.setdefault(scenario, []).append(dt)
                        rt.rss[scenario] = max(rt.rss.get(scenario, 0), rss)
        if not args.exec_only:
            report(runtimes, broken, args)
            report_cgroups(runtimes, broken, args)
        if not args.no_exec:
            bench_exec(runtimes, broken, args, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


def report(runtimes, broken, args):
    ok = [rt for rt in runtimes if rt.name not in broken and rt.samples["run"]]
    med = {}
    for scenario, title in (("run", "run /bin/true"),
                            ("cycle", "create + start + delete --force")):
        print(f"\n{title} ({args.n} iterations)")
        print(f"  {'runtime':10} {'median ms':>10} {'p90 ms':>9} {'min ms':>9} "
              f"{'peak RSS MiB':>13}")
        for rt in ok:
            s = rt.samples[scenario]
            m = statistics.median(s)
            med[(rt.name, scenario)] = m
            print(f"  {rt.name:10} {m * 1e3:10.2f} {pct(s, 90) * 1e3:9.2f} {min(s) * 1e3:9.2f} "
                  f"{rt.rss[scenario] / 1024:13.1f}")
    print("\nratios of medians (< 1 means crunner is faster)")
    for other in ("runc", "crun"):
        for scenario in ("run", "cycle"):
            a, b = med.get(("crunner", scenario)), med.get((other, scenario))
            val = f"{a / b:.2f}" if a and b else "n/a (missing runtime)"
            print(f"  crunner/{other:5} {scenario:6} {val}")
    rss_line = []
    for other in ("runc", "crun"):
        a = next((rt.rss["run"] for rt in ok if rt.name == "crunner"), 0)
        b = next((rt.rss["run"] for rt in ok if rt.name == other), 0)
        rss_line.append(f"crunner/{other} {a / b:.2f}" if a and b else f"crunner/{other} n/a")
    print("  peak RSS (run): " + ", ".join(rss_line))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({rt.name: {"samples_s": rt.samples, "peak_rss_kib": rt.rss}
                       for rt in ok}, f, indent=2)



# ---- exec: `exec ID /bin/true` into one running container per runtime ----------------------
def bench_exec(runtimes, broken, args, tmp):
    """Starts one `sleep` container per runtime (run -d), then times `exec ID /bin/true`
    round-robin like the other scenarios; the containers are force-deleted at the end."""
    bundle = os.path.join(tmp, "bundle-exec")
    subprocess.run(["bash", MAKE_BUNDLE, bundle, "sleep", "3600"], check=True,
                   stdout=subprocess.DEVNULL)
    live = []
    for rt in runtimes:
        if rt.name in broken:
            continue
        cid = f"bench-exec-{rt.name}-{os.getpid()}"
        rc, _, _, err = spawn(rt.argv("run", "-d", "--bundle", bundle, cid), bundle)
        if rc != 0:
            print(f"exec: dropping {rt.name}: run -d exited {rc}: {err}", flush=True)
            spawn(rt.argv("delete", "--force", cid), bundle)
            continue
        rt.exec_id = cid
        rt.samples["exec"], rt.rss["exec"] = [], 0
        live.append(rt)
    try:
        for it in range(args.warmup + args.n):
            k = it % max(1, len(live))
            for rt in live[k:] + live[:k]:
                if rt.exec_id is None:
                    continue
                rc, dt, rss, err = spawn(rt.argv("exec", rt.exec_id, "/bin/true"), bundle)
                if rc != 0:
                    print(f"exec: dropping {rt.name}: exec exited {rc}: {err}", flush=True)
                    spawn(rt.argv("delete", "--force", rt.exec_id), bundle)
                    rt.exec_id = None
                    continue
                if it >= args.warmup:
                    rt.samples["exec"].append(dt)
                    rt.rss["exec"] = max(rt.rss["exec"], rss)
    finally:
        for rt in live:
            if rt.exec_id:
                spawn(rt.argv("delete", "--force", rt.exec_id), bundle)
    ok = [rt for rt in live if rt.exec_id and rt.samples["exec"]]
    print(f"\nexec ID /bin/true into a running container ({args.n} iterations)")
    print(f"  {'runtime':10} {'median ms':>10} {'p90 ms':>9} {'min ms':>9} {'peak RSS MiB':>13}")
    med = {}
    for rt in ok:
        v = rt.samples["exec"]
        med[rt.name] = statistics.median(v)
        print(f"  {rt.name:10} {med[rt.name] * 1e3:10.2f} {pct(v, 90) * 1e3:9.2f} "
              f"{min(v) * 1e3:9.2f} {rt.rss['exec'] / 1024:13.1f}")
    for other in ("runc", "crun"):
        a, b = med.get("crunner"), med.get(other)
        print(f"  crunner/{other:5} exec   " + (f"{a / b:.2f}" if a and b else "n/a"))
    if args.json and args.exec_only:  # otherwise report() writes every scenario
        with open(args.json, "w") as f:
            json.dump({rt.name: {"samples_s": {"exec": rt.samples["exec"]},
                                 "peak_rss_kib": {"exec": rt.rss["exec"]}} for rt in ok}, f,
                      indent=2)


if __name__ == "__main__":
    sys.exit(main())
