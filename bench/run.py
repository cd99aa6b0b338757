#!/usr/bin/env python3
"""Side-by-side timings of crunner, runc and crun (and the bare floor) on the busybox bundle.

    sudo python3 bench/run.py [-n 30] [--warmup 3] [--only crunner,crun] [--report DIR]

Method (printed at the top of every run): the whole benchmark runs in ONE private mount
namespace (it re-executes itself under `unshare -m --propagation private`). On a hybrid
cgroup host the cgroup2 mount at /sys/fs/cgroup/unified is unmounted in that namespace only,
so crun (which refuses hybrid hosts) runs unwrapped and all runtimes see the same cgroup v1
layout; the state roots sit on a tmpfs there (as /run does on most hosts). Every iteration
runs each runtime once per scenario, round-robin with a rotating first runtime, so all see the
same machine noise; warm-up iterations are not recorded.

Scenarios (the bundle's process.args = ["/bin/true"], terminal false):
  run     `RUNTIME run ID` (foreground; the container is deleted at exit); the floor is
          `unshare -pfmnuiC --mount-proc chroot ROOTFS /bin/true` (the same namespaces,
          nothing else: no cgroups, no pivot_root, no /dev, no state)
  cycle   `create` + `start` + `delete --force` (three invocations, times summed)
  exec    `exec ID /bin/true` into a running container (one per runtime)
  cg-none, cg-limits   `create` + `delete --force` without / with a typical set of limits
  garden  (--garden) garden-shim create+run+destroy against the same work done with crunner
          directly, and 20 concurrent clients (bench/garden_overhead.py)

Wall time and peak RSS come from bench/rusage_exec.c (fork -> wait4 of the runtime process;
ru_maxrss includes the descendants it reaped, e.g. runc's `runc init`, the container's
process). Prints per runtime median / p90 / min, then ratios of medians. --report DIR writes
report.md, chart.svg (bench/chart.py) and samples.json there.
"""

import argparse
import datetime
import json
import math
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import chart  # noqa: E402

MAKE_BUNDLE = os.path.join(SRC, "tests", "fixtures", "make-bundle.sh")
NS_MARK = "CRUNNER_BENCH_PRIVATE_NS"
FLOOR = "floor"


class Runtime:
    def __init__(self, name, path, root):
        self.name = name
        self.path = path
        self.root = root
        self.samples = {}
        self.rss = {}  # KiB
        self.cpu = {}  # seconds per sample
        self.exec_id = None

    def argv(self, *args):
        return [self.path, "--root", self.root] + list(args)

    def add(self, scenario, dt, rss, cpu):
        self.samples.setdefault(scenario, []).append(dt)
        self.cpu.setdefault(scenario, []).append(cpu)
        self.rss[scenario] = max(self.rss.get(scenario, 0), rss)


def enter_private_namespace():
    """Re-executes this script in a private mount namespace (once)."""
    if os.environ.get(NS_MARK):
        return
    unshare = shutil.which("unshare")
    if not unshare:
        sys.exit("bench: needs unshare (util-linux)")
    env = dict(os.environ, **{NS_MARK: "1"})
    os.execve(unshare, [unshare, "-m", "--propagation", "private", sys.executable,
                        os.path.abspath(__file__)] + sys.argv[1:], env)


def mounts():
    out = {}
    with open("/proc/self/mountinfo") as f:
        for line in f:
            a = line.split()
            sep = a.index("-")
            out[a[4]] = a[sep + 1]
    return out


def prepare_namespace(tmp):
    """Inside our namespace: one cgroup layout for all, a tmpfs for the state roots.
    Returns the sentence describing the cgroup layout."""
    m = mounts()
    layout = {"cgroup2": "cgroup v2 (unified)"}.get(m.get("/sys/fs/cgroup"), "cgroup v1")
    if m.get("/sys/fs/cgroup") == "tmpfs" and m.get("/sys/fs/cgroup/unified") == "cgroup2":
        subprocess.run(["umount", "/sys/fs/cgroup/unified"], check=True)
        layout = ("cgroup v1 (hybrid host: its cgroup2 mount /sys/fs/cgroup/unified removed in "
                  "the bench's private mount namespace only)")
    state = os.path.join(tmp, "state")
    os.makedirs(state)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "mode=0700", "bench-state", state], check=True)
    return layout, state


def find_runtimes(only, state):
    found, missing = [], []
    crunner = os.environ.get("CRUNNER") or os.path.join(SRC, "build", "cmd", "crunner",
                                                        "crunner")
    cands = [("crunner", crunner if os.access(crunner, os.X_OK) else None),
             ("runc", shutil.which("runc") or ("/usr/sbin/runc" if os.access(
                 "/usr/sbin/runc", os.X_OK) else None)),
             ("crun", shutil.which("crun"))]
    for name, path in cands:
        if only and name not in only:
            continue
        if not path:
            missing.append(name)
            continue
        root = os.path.join(state, f"root-{name}")
        os.makedirs(root)
        found.append(Runtime(name, path, root))
    return found, missing


def build_helper(tmp):
    cc = shutil.which("cc") or shutil.which("gcc")
    if not cc:
        sys.exit("bench: needs a C compiler for bench/rusage_exec.c")
    out = os.path.join(tmp, "rusage_exec")
    subprocess.run([cc, "-O2", "-o", out, os.path.join(HERE, "rusage_exec.c")], check=True)
    return out


HELPER = None
CALL_TIMEOUT = int(os.environ.get("BENCH_CALL_TIMEOUT", "60"))


class Timeout(Exception):
    pass


def on_alarm(_sig, _frame):
    raise Timeout()


def spawn(argv, cwd):
    """Runs argv through rusage_exec; returns (rc, wall s, peak RSS KiB, cpu s, output tail)."""
    err = tempfile.TemporaryFile()
    r, w = os.pipe()
    p = subprocess.Popen([HELPER, str(w)] + argv, cwd=cwd, stdin=subprocess.DEVNULL,
                         stdout=err, stderr=err, pass_fds=(w,), start_new_session=True)
    os.close(w)
    signal.alarm(CALL_TIMEOUT)  # a hung runtime must not hang the benchmark
    try:
        _pid, status, _ru = os.wait4(p.pid, 0)
    except Timeout:
        os.killpg(p.pid, signal.SIGKILL)
        os.wait4(p.pid, 0)
        os.close(r)
        err.close()
        return -1, 0.0, 0, 0.0, f"no exit within {CALL_TIMEOUT}s (killed)"
    finally:
        signal.alarm(0)
    with os.fdopen(r) as f:
        fields = f.read().split()
    rss, wall, cpu = (int(x) for x in fields) if len(fields) == 3 else (0, 0, 0)
    err.seek(0)
    tail = err.read().decode(errors="replace").strip()[-300:]
    err.close()
    return os.waitstatus_to_exitcode(status), wall / 1e9, rss, cpu / 1e9, tail


class BenchError(Exception):
    pass


def one(rt, scenario, bundle, seq):
    """One measured unit of `scenario`; returns (wall s, peak RSS KiB, cpu s)."""
    cid = f"bench-{rt.name}-{os.getpid()}-{seq}"
    if rt.name == FLOOR:
        argv = ["unshare", "-pfmnuiC", "--mount-proc", "chroot",
                os.path.join(bundle, "rootfs"), "/bin/true"]
        rc, dt, rss, cpu, err = spawn(argv, bundle)
        if rc != 0:
            raise BenchError(f"floor exited {rc}: {err}")
        return dt, rss, cpu
    if scenario == "run":
        steps = [["run", "--bundle", bundle, cid]]
    elif scenario == "cycle":
        steps = [["create", "--bundle", bundle, cid], ["start", cid], ["delete", "--force", cid]]
    else:  # cg-none, cg-limits
        steps = [["create", "--bundle", bundle, cid], ["delete", "--force", cid]]
    total, peak, cpu_total = 0.0, 0, 0.0
    for step in steps:
        rc, dt, rss, cpu, err = spawn(rt.argv(*step), bundle)
        total += dt
        cpu_total += cpu
        peak = max(peak, rss)
        if step[0] == "create" and scenario.startswith("cg-"):
            rt.last_create = dt
        if rc != 0:
            spawn(rt.argv("delete", "--force", cid), bundle)
            raise BenchError(f"{rt.name} {step[0]} ({scenario}) exited {rc}: {err}")
    return total, peak, cpu_total


# ---- cgroup setup cost: create + delete --force, without and with limits ------------------
CG_SCENARIOS = ("cg-none", "cg-limits")


def blkio_weight_works():
    """True when a new cgroup here has the plain weight file (v1 blkio.weight of CFQ, v2
    io.weight), which all three runtimes write; probed with a crunner-test- cgroup."""
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


def make_bundle(path, *args, resources=None):
    subprocess.run(["bash", MAKE_BUNDLE, path, *args], check=True, stdout=subprocess.DEVNULL)
    if resources is not None:
        with open(os.path.join(path, "config.json")) as f:
            cfg = json.load(f)
        cfg["linux"]["resources"] = resources
        with open(os.path.join(path, "config.json"), "w") as f:
            json.dump(cfg, f, indent=2)
    return path


def cgroup_bundles(tmp):
    mib = 1024 * 1024
    limits = {"memory": {"limit": 256 * mib, "reservation": 128 * mib, "swap": 512 * mib},
              "cpu": {"shares": 512, "quota": 50000, "period": 100000},
              "pids": {"limit": 1024},
              "devices": [{"allow": False, "access": "rwm"},
                          {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rwm"},
                          {"allow": True, "type": "c", "major": 1, "minor": 5, "access": "rwm"},
                          {"allow": True, "type": "c", "major": 136, "access": "rwm"},
                          {"allow": True, "type": "c", "major": 5, "minor": 1, "access": "rwm"},
                          {"allow": True, "type": "b", "major": 7, "access": "r"}]}
    if blkio_weight_works():
        limits["blockIO"] = {"weight": 500}
    print("# cgroup scenarios: cg-limits = " + ", ".join(sorted(limits)), flush=True)
    return {"cg-none": make_bundle(os.path.join(tmp, "cg-none"), "/bin/true", resources={}),
            "cg-limits": make_bundle(os.path.join(tmp, "cg-limits"), "/bin/true",
                                     resources=limits)}


def pct(values, q):
    """Nearest-rank percentile."""
    s = sorted(values)
    k = max(0, min(len(s) - 1, math.ceil(q / 100 * len(s)) - 1))
    return s[k]


def bench_exec(runtimes, broken, args, tmp):
    """One `sleep` container per runtime (run -d); `exec ID /bin/true` round-robin."""
    bundle = make_bundle(os.path.join(tmp, "bundle-exec"), "sleep", "3600")
    live = []
    for rt in runtimes:
        if rt.name in broken or rt.name == FLOOR:
            continue
        cid = f"bench-exec-{rt.name}-{os.getpid()}"
        rc, _, _, _, err = spawn(rt.argv("run", "-d", "--bundle", bundle, cid), bundle)
        if rc != 0:
            print(f"exec: dropping {rt.name}: run -d exited {rc}: {err}", flush=True)
            spawn(rt.argv("delete", "--force", cid), bundle)
            continue
        rt.exec_id = cid
        live.append(rt)
    try:
        for it in range(args.warmup + args.n):
            k = it % max(1, len(live))
            for rt in live[k:] + live[:k]:
                if rt.exec_id is None:
                    continue
                rc, dt, rss, cpu, err = spawn(rt.argv("exec", rt.exec_id, "/bin/true"), bundle)
                if rc != 0:
                    print(f"exec: dropping {rt.name}: exec exited {rc}: {err}", flush=True)
                    spawn(rt.argv("delete", "--force", rt.exec_id), bundle)
                    rt.exec_id = None
                    continue
                if it >= args.warmup:
                    rt.add("exec", dt, rss, cpu)
    finally:
        for rt in live:
            if rt.exec_id:
                spawn(rt.argv("delete", "--force", rt.exec_id), bundle)


SCENARIO_TITLES = {
    "run": "run /bin/true",
    "cycle": "create + start + delete --force",
    "exec": "exec ID /bin/true",
    "cg-none": "create + delete --force, no linux.resources",
    "cg-limits": "create + delete --force, typical limits",
}


def summarize(runtimes):
    """{scenario: {runtime: {median_ms, p90_ms, min_ms, cpu_ms, rss_mib, n}}}"""
    out = {}
    for rt in runtimes:
        for sc, s in rt.samples.items():
            if not s:
                continue
            out.setdefault(sc, {})[rt.name] = {
                "median_ms": statistics.median(s) * 1e3, "p90_ms": pct(s, 90) * 1e3,
                "min_ms": min(s) * 1e3,
                "cpu_ms": statistics.median(rt.cpu.get(sc, [0])) * 1e3,
                "rss_mib": rt.rss.get(sc, 0) / 1024, "n": len(s)}
    return out


def ratios(summary):
    """Lines "crunner/X scenario ratio" for every pair present."""
    lines = []
    for sc in ("run", "cycle", "exec", "cg-none", "cg-limits"):
        row = summary.get(sc, {})
        a = row.get("crunner")
        if not a:
            continue
        for other in ("crun", "runc", FLOOR):
            b = row.get(other)
            if b:
                lines.append((f"crunner/{other}", sc, a["median_ms"] / b["median_ms"]))
    rss = summary.get("run", {})
    for other in ("crun", "runc"):
        if rss.get("crunner") and rss.get(other) and rss[other]["rss_mib"]:
            lines.append((f"crunner/{other}", "peak RSS (run)",
                          rss["crunner"]["rss_mib"] / rss[other]["rss_mib"]))
    return lines


def print_report(summary, args):
    for sc, title in SCENARIO_TITLES.items():
        row = summary.get(sc)
        if not row:
            continue
        print(f"\n{title} ({args.n} iterations)")
        print(f"  {'runtime':10} {'median ms':>10} {'p90 ms':>9} {'min ms':>9} {'cpu ms':>8} "
              f"{'peak RSS MiB':>13}")
        for name, v in row.items():
            print(f"  {name:10} {v['median_ms']:10.2f} {v['p90_ms']:9.2f} {v['min_ms']:9.2f} "
                  f"{v['cpu_ms']:8.2f} {v['rss_mib']:13.2f}")
    print("\nratios of medians (< 1: crunner is faster / smaller)")
    for pair, sc, r in ratios(summary):
        print(f"  {pair:14} {sc:16} {r:.2f}")


def run_garden(args, tmp):
    """bench/garden_overhead.py in a subprocess (it starts a garden-shim); its JSON."""
    out = os.path.join(tmp, "garden.json")
    crunner = os.environ.get("CRUNNER") or os.path.join(SRC, "build", "cmd", "crunner",
                                                        "crunner")
    env = dict(os.environ, GARDEN_RUNTIME=crunner)
    p = subprocess.run([sys.executable, os.path.join(HERE, "garden_overhead.py"),
                        "-n", str(args.garden_n), "--clients", str(args.clients),
                        "--json", out], env=env)
    if p.returncode != 0:  # errors of concurrent clients are results too: keep them
        print(f"garden: garden_overhead.py exited {p.returncode}", flush=True)
    if not os.path.exists(out):
        return None
    with open(out) as f:
        return json.load(f)


def write_report(directory, summary, garden, method, args):
    os.makedirs(directory, exist_ok=True)
    when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    commit = subprocess.run(["git", "-C", SRC, "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True).stdout.strip() or "unknown"
    with open(os.path.join(directory, "samples.json"), "w") as f:
        json.dump({"method": method, "summary": summary, "garden": garden}, f, indent=2)
    chart.write_svg(os.path.join(directory, "chart.svg"), summary, garden,
                    f"crunner {commit}, {when}, {args.n} interleaved iterations")
    md = [f"# bench/run.py report: crunner {commit}, {when}", "",
          f"Host: {platform.node()} ({os.cpu_count()} CPUs), kernel {platform.release()}.", "",
          "**Method.** " + method, "", "![medians](chart.svg)", ""]
    for sc, title in SCENARIO_TITLES.items():
        row = summary.get(sc)
        if not row:
            continue
        md += [f"## {title}", "", "| runtime | median ms | p90 ms | min ms | cpu ms | peak RSS MiB |",
               "|---|---:|---:|---:|---:|---:|"]
        for name, v in row.items():
            md.append(f"| {name} | {v['median_ms']:.2f} | {v['p90_ms']:.2f} | {v['min_ms']:.2f} "
                      f"| {v['cpu_ms']:.2f} | {v['rss_mib']:.2f} |")
        md.append("")
    md += ["## Ratios of medians (< 1: crunner is faster / smaller)", "", "| pair | scenario | ratio |",
           "|---|---|---:|"]
    md += [f"| {p} | {sc} | {r:.2f} |" for p, sc, r in ratios(summary)]
    md.append("")
    if garden:
        md += ["## garden-shim", "", garden.get("method", ""), "",
               "| measure | value |", "|---|---:|"]
        for k, v in garden.items():
            if k != "method":
                md.append(f"| {k} | {v:.2f} |" if isinstance(v, float) else f"| {k} | {v} |")
        md.append("")
    with open(os.path.join(directory, "report.md"), "w") as f:
        f.write("\n".join(md))
    print(f"\nreport: {os.path.join(directory, 'report.md')}", flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", type=int, default=30, help="measured iterations (default 30)")
    ap.add_argument("--warmup", type=int, default=3, help="warm-up iterations (default 3)")
    ap.add_argument("--only", default="", help="comma-separated runtimes (crunner,runc,crun)")
    ap.add_argument("--no-floor", action="store_true", help="skip the bare floor")
    ap.add_argument("--json", metavar="FILE", help="also write the summary as JSON")
    ap.add_argument("--exec-only", action="store_true", help="only the exec scenario")
    ap.add_argument("--no-exec", action="store_true", help="skip the exec scenario")
    ap.add_argument("--no-cgroups", action="store_true", help="skip cg-none / cg-limits")
    ap.add_argument("--garden", action="store_true",
                    help="also garden-shim vs crunner directly (bench/garden_overhead.py)")
    ap.add_argument("--garden-n", type=int, default=30, help="garden iterations (default 30)")
    ap.add_argument("--clients", type=int, default=20, help="concurrent garden clients")
    ap.add_argument("--report", metavar="DIR", help="write report.md + chart.svg there")
    args = ap.parse_args()
    if os.geteuid() != 0:
        ap.error("needs root")
    enter_private_namespace()

    tmp = tempfile.mkdtemp(prefix="crunner-bench-")
    state = None
    try:
        layout, state = prepare_namespace(tmp)
        only = {x for x in args.only.split(",") if x}
        runtimes, missing = find_runtimes(only, state)
        for m in missing:
            print(f"skipping {m}: not found", flush=True)
        if not runtimes:
            print("no runtime to benchmark")
            return 1
        global HELPER
        signal.signal(signal.SIGALRM, on_alarm)
        HELPER = build_helper(tmp)
        bundle = make_bundle(os.path.join(tmp, "bundle"), "/bin/true")
        method = (f"one private mount namespace for the whole run (unshare -m); {layout}; "
                  f"every runtime invoked directly (no wrapper), state roots on a tmpfs; "
                  f"busybox bundle running /bin/true; {args.warmup} warm-up + {args.n} "
                  f"measured iterations, interleaved round-robin with a rotating first "
                  f"runtime; wall time = fork to wait4 of the runtime process; peak RSS = "
                  f"its ru_maxrss (descendants included); floor = unshare -pfmnuiC "
                  f"--mount-proc chroot ROOTFS /bin/true.")
        print("# method: " + method, flush=True)
        print("# runtimes: " + ", ".join(f"{rt.name} ({rt.path})" for rt in runtimes),
              flush=True)
        if not args.no_floor and not args.exec_only:
            runtimes.append(Runtime(FLOOR, "unshare", ""))
        scenarios = ["run", "cycle"] + ([] if args.no_cgroups else list(CG_SCENARIOS))
        bundles = {"run": bundle, "cycle": bundle}
        if not args.no_cgroups:
            bundles.update(cgroup_bundles(tmp))
        seq = 0
        broken = {}
        for it in range(0 if args.exec_only else args.warmup + args.n):
            measured = it >= args.warmup
            k = it % len(runtimes)
            order = runtimes[k:] + runtimes[:k]  # rotate who goes first
            for scenario in scenarios:
                for rt in order:
                    if rt.name in broken or (rt.name == FLOOR and scenario != "run"):
                        continue
                    seq += 1
                    try:
                        dt, rss, cpu = one(rt, scenario, bundles[scenario], seq)
                    except BenchError as e:
                        broken[rt.name] = str(e)
                        print(f"dropping {rt.name}: {e}", flush=True)
                        continue
                    if measured:
                        rt.add(scenario, dt, rss, cpu)
                        if scenario.startswith("cg-"):
                            rt.samples.setdefault(scenario + "/create", []).append(rt.last_create)
        if not args.no_exec:
            bench_exec(runtimes, broken, args, tmp)
        summary = summarize([rt for rt in runtimes if rt.name not in broken])
        print_report(summary, args)
        garden = run_garden(args, tmp) if args.garden else None
        if args.json:
            with open(args.json, "w") as f:
                json.dump({"method": method, "summary": summary, "garden": garden}, f, indent=2)
        if args.report:
            write_report(args.report, summary, garden, method, args)
    finally:
        if state:
            subprocess.run(["umount", "-l", state], stderr=subprocess.DEVNULL)
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
