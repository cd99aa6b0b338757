#!/usr/bin/env python3
"""crunner vs crun vs runc (and the bare floor) on the busybox bundle: wall time, CPU, peak
RSS, machine-independent counts, crunner's --debug phases, and a verdict per goal.

    sudo python3 bench/run.py [-n 30] [--warmup 3] [--only crunner,crun] [--report DIR]

Method (printed at the top of every run): the whole benchmark runs in ONE private mount
namespace (it re-executes itself under `unshare -m --propagation private`). On a hybrid
cgroup host the cgroup2 mount at /sys/fs/cgroup/unified is unmounted in that namespace only,
so crun (which refuses hybrid hosts) runs unwrapped and all runtimes see the same cgroup v1
layout; the state roots sit on a tmpfs there (as /run does on most hosts).

Scenarios: run (`RUNTIME run ID` of /bin/true), cycle (`create` + `start` + `delete --force`)
and exec (`exec ID /bin/true` into a running `sleep`), each plain, with Docker's default
seccomp profile in the bundle (+seccomp: bench/fixtures/docker-default-seccomp.json, written
by bench/docker_seccomp.py) and with typical limits (+limits: memory, cpu, pids, devices,
blkio where the host has the plain weight file). The floor is `unshare -pfmnuiC --mount-proc
chroot ROOTFS /bin/true`: the same namespaces and nothing else.

Passes, in this order (counts and phases are never timed):
  timing    every iteration runs each runtime once per scenario, round-robin with a rotating
            first runtime, so all see the same machine noise; warm-up iterations are not
            recorded. bench/measure.c runs a unit's commands (fork to reaping, per command),
            reaps what they leave behind (a subreaper) and reports the rusage of all of it.
  counts    --counts K runs per unit with perf counters (measure.c --count: syscalls,
            processes, threads, execs, page faults, context switches) and one strace -f run
            (syscalls by name, bytes read from /proc and /sys, cgroup writes, messages between
            the runtime's processes); medians of the K runs.
  phases    --phases N runs per scenario of crunner --debug, each phase summed over the N runs.
Then one verdict line per goal (issue 26). --report DIR writes report.md, chart.svg and
samples.json there.
"""

import argparse
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
import counts  # noqa: E402
import report  # noqa: E402

MAKE_BUNDLE = os.path.join(SRC, "tests", "fixtures", "make-bundle.sh")
DOCKER_SECCOMP = os.path.join(HERE, "fixtures", "docker-default-seccomp.json")
NS_MARK = "CRUNNER_BENCH_PRIVATE_NS"
FLOOR = "floor"
BASELINE = "crunner-base"
KINDS = ("run", "cycle", "exec")
VARIANTS = ("", "+seccomp", "+limits")
CALL_TIMEOUT = int(os.environ.get("BENCH_CALL_TIMEOUT", "60"))


class Runtime:
    def __init__(self, name, path, root):
        self.name = name
        self.path = path
        self.root = root
        self.samples = {}  # scenario -> [measure.c result]
        self.counts = {}  # scenario -> [measure.c --count result]
        self.strace = {}  # scenario -> counts.StraceCounts.as_dict()
        self.phases = {}  # scenario -> {phase: [ms per run]}
        self.live = {}  # variant -> id of its running `sleep` (exec scenarios)

    def argv(self, *args):
        return [self.path, "--root", self.root] + list(args)


class BenchError(Exception):
    pass


class Timeout(Exception):
    pass


def on_alarm(_sig, _frame):
    raise Timeout()


# ---- the private namespace, runtimes, bundles ---------------------------------------------
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
    Returns the sentence describing the cgroup layout, and the state directory."""
    m = mounts()
    layout = {"cgroup2": "cgroup v2 (unified)"}.get(m.get("/sys/fs/cgroup"), "cgroup v1")
    if m.get("/sys/fs/cgroup") == "tmpfs" and m.get("/sys/fs/cgroup/unified") == "cgroup2":
        subprocess.run(["umount", "/sys/fs/cgroup/unified"], check=True)
        layout = ("cgroup v1 (hybrid host: its cgroup2 mount /sys/fs/cgroup/unified removed in "
                  "the bench's private mount namespace only)")
    # The counting pass's tracepoints (syscalls, processes, execs): tracefs mounted in this
    # namespace when the host has none (without it every such count read 0).
    if not os.path.isdir("/sys/kernel/tracing/events") and os.path.isdir("/sys/kernel/tracing"):
        subprocess.run(["mount", "-t", "tracefs", "tracefs", "/sys/kernel/tracing"], check=True)
    state = os.path.join(tmp, "state")
    os.makedirs(state)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "mode=0700", "bench-state", state], check=True)
    return layout, state


def find_runtimes(only, state, baseline=None):
    found, missing = [], []
    crunner = os.environ.get("CRUNNER") or os.path.join(SRC, "build", "cmd", "crunner",
                                                        "crunner")
    cands = [("crunner", os.path.abspath(crunner) if os.access(crunner, os.X_OK) else None),
             ("runc", shutil.which("runc") or ("/usr/sbin/runc" if os.access(
                 "/usr/sbin/runc", os.X_OK) else None)),
             ("crun", shutil.which("crun"))]
    if baseline:  # an A/B run: another crunner binary, timed interleaved with this one
        cands.insert(1, (BASELINE, os.path.abspath(baseline) if os.access(baseline, os.X_OK)
                         else None))
    for name, path in cands:
        if only and name not in only and name != BASELINE:
            continue
        if not path:
            missing.append(name)
            continue
        if name in ("crunner", BASELINE):
            evict_page_cache(path)
        root = os.path.join(state, f"root-{name}")
        os.makedirs(root)
        found.append(Runtime(name, path, root))
    return found, missing


def evict_page_cache(path):
    """Drops a binary's cached pages, so that an A/B pair starts alike: how the page cache was
    filled (a linker's or cp's writes, or readahead) sets the folio sizes a fault maps, which
    shows in the peak RSS."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        os.fdatasync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def build_helper(tmp):
    cc = shutil.which("cc") or shutil.which("gcc")
    if not cc:
        sys.exit("bench: needs a C compiler for bench/measure.c")
    out = os.path.join(tmp, "measure")
    subprocess.run([cc, "-O2", "-o", out, os.path.join(HERE, "measure.c")], check=True)
    return out


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


def typical_limits():
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
    return limits


def make_bundle(path, args, variant, limits):
    subprocess.run(["bash", MAKE_BUNDLE, path, *args], check=True, stdout=subprocess.DEVNULL)
    cfg_path = os.path.join(path, "config.json")
    with open(cfg_path) as f:
        cfg = json.load(f)
    if variant == "+seccomp":
        with open(DOCKER_SECCOMP) as f:
            cfg["linux"]["seccomp"] = json.load(f)["seccomp"]
    elif variant == "+limits":
        cfg["linux"]["resources"] = limits
    with open(cfg_path, "w") as f:
        json.dump(cfg, f, indent=2)
    return path


def make_bundles(tmp, variants):
    """{(kind, variant): bundle}: /bin/true for run and cycle, `sleep 3600` for exec."""
    limits = typical_limits()
    print("# +limits: " + ", ".join(sorted(limits)), flush=True)
    out = {}
    for v in variants:
        one = make_bundle(os.path.join(tmp, "bundle" + v), ["/bin/true"], v, limits)
        out[("run", v)] = out[("cycle", v)] = one
        out[("exec", v)] = make_bundle(os.path.join(tmp, "bundle-sleep" + v),
                                       ["sleep", "3600"], v, limits)
    return out


# ---- running one unit ----------------------------------------------------------------------
HELPER = None


def call(argv, cwd):
    """Runs argv (measure.c, maybe under strace); returns (rc, measure.c's result dict or None,
    output tail). A runtime that hangs is killed after CALL_TIMEOUT seconds."""
    r, w = os.pipe()
    argv = [str(w) if a == "{fd}" else a for a in argv]
    err = tempfile.TemporaryFile()
    p = subprocess.Popen(argv, cwd=cwd, stdin=subprocess.DEVNULL, stdout=err, stderr=err,
                         pass_fds=(w,), start_new_session=True)
    os.close(w)
    signal.alarm(CALL_TIMEOUT)  # a hung runtime must not hang the benchmark
    try:
        with os.fdopen(r) as f:
            text = f.read()
        p.wait()
    except Timeout:
        os.killpg(p.pid, signal.SIGKILL)
        p.wait()
        err.close()
        return -1, None, f"no exit within {CALL_TIMEOUT}s (killed)"
    finally:
        signal.alarm(0)
    err.seek(0)
    tail = err.read().decode(errors="replace").strip()[-300:]
    err.close()
    try:
        result = json.loads(text)
    except ValueError:
        result = None
    return p.returncode, result, tail


def steps(rt, kind, bundle, cid, debug_log=None):
    """The commands of one unit; with debug_log, crunner's --debug lines of command i go to
    debug_log.i."""
    if rt.name == FLOOR:
        return [[shutil.which("unshare") or "unshare", "-pfmnuiC", "--mount-proc",
                 shutil.which("chroot") or "chroot", os.path.join(bundle, "rootfs"),
                 "/bin/true"]]
    words = COMMANDS[kind]
    out = []
    for i, word in enumerate(words):
        pre = ["--debug", "--log-format", "json", "--log", f"{debug_log}.{i}"] if debug_log else []
        if word in ("run", "create"):
            rest = ["--bundle", bundle, cid]
        elif word == "delete":
            rest = ["--force", cid]
        elif word == "exec":
            rest = [rt.live[variant_of(bundle)], "/bin/true"]
        else:
            rest = [cid]
        out.append(rt.argv(*pre, word, *rest))
    return out


COMMANDS = {"run": ["run"], "cycle": ["create", "start", "delete"], "exec": ["exec"]}


def variant_of(bundle):
    base = os.path.basename(bundle)
    return base[base.index("+"):] if "+" in base else ""


def measure_argv(unit, count=False):
    argv = [HELPER] + (["--count"] if count else []) + ["{fd}"]
    for i, s in enumerate(unit):
        argv += (["::"] if i else []) + s
    return argv


SEQ = [0]


def one(rt, kind, bundle, count=False, strace_log=None, debug_log=None):
    """Runs one unit; returns measure.c's result. Raises BenchError when a command fails."""
    SEQ[0] += 1
    cid = f"bench-{rt.name}-{os.getpid()}-{SEQ[0]}"
    argv = measure_argv(steps(rt, kind, bundle, cid, debug_log), count)
    if strace_log:
        argv = counts.strace_argv(strace_log) + argv
    rc, res, tail = call(argv, bundle)
    if rc != 0 or not res:
        if rt.name != FLOOR and kind != "exec":
            call(measure_argv([rt.argv("delete", "--force", cid)]), bundle)
        raise BenchError(f"{rt.name} {kind} exited {rc}: {tail}")
    return res


# ---- the passes ----------------------------------------------------------------------------
def scenario_list(args):
    kinds = [k for k in KINDS if k in args.kinds.split(",")]
    variants = ["" if v == "plain" else "+" + v for v in args.variants.split(",")]
    return [(k, v) for k in kinds for v in VARIANTS if v in variants], variants


def start_live(runtimes, bundles, variants, broken):
    """One running `sleep` per runtime and variant, for the exec scenarios."""
    for rt in runtimes:
        if rt.name == FLOOR or rt.name in broken:
            continue
        for v in variants:
            cid = f"bench-exec-{rt.name}{v.replace('+', '-')}-{os.getpid()}"
            b = bundles[("exec", v)]
            rt.live[v] = cid  # deleted at the end whatever happens
            rc, tail = run_detached(rt.argv("run", "-d", "--bundle", b, cid), b)
            if rc != 0:
                call(measure_argv([rt.argv("delete", "--force", cid)]), b)
                broken[rt.name] = f"run -d{v} exited {rc}: {tail}"
                print(f"dropping {rt.name}: {broken[rt.name]}", flush=True)
                break


def run_detached(argv, cwd):
    """`run -d`, not through measure.c (which would wait for the container to end); its
    output goes to a file (the container keeps the runtime's stdout and stderr)."""
    with tempfile.TemporaryFile() as err:
        try:
            rc = subprocess.run(argv, cwd=cwd, stdin=subprocess.DEVNULL, stdout=err, stderr=err,
                                timeout=CALL_TIMEOUT).returncode
        except subprocess.TimeoutExpired:
            rc = -1
        err.seek(0)
        return rc, err.read().decode(errors="replace").strip()[-300:]


def stop_live(runtimes):
    for rt in runtimes:
        for cid in rt.live.values():
            call(measure_argv([rt.argv("delete", "--force", cid)]), SRC)
        rt.live = {}


def runnable(rt, kind, variant, broken):
    if rt.name in broken:
        return False
    if rt.name == FLOOR:
        return kind == "run" and variant == ""
    return True


def timing_pass(runtimes, scenarios, bundles, args, broken):
    for it in range(args.warmup + args.n):
        k = it % len(runtimes)
        order = runtimes[k:] + runtimes[:k]  # rotate who goes first
        for kind, v in scenarios:
            for rt in order:
                if not runnable(rt, kind, v, broken):
                    continue
                try:
                    res = one(rt, kind, bundles[(kind, v)])
                except BenchError as e:
                    broken[rt.name] = str(e)
                    print(f"dropping {rt.name}: {e}", flush=True)
                    continue
                if it >= args.warmup:
                    rt.samples.setdefault(kind + v, []).append(res)
        if (it + 1) % 5 == 0:
            print(f"# timing: {it + 1}/{args.warmup + args.n} iterations", flush=True)


def count_pass(runtimes, scenarios, bundles, args, broken, tmp):
    use_strace = not args.no_strace and counts.have_strace()
    if not use_strace and not args.no_strace:
        print("# counts: strace not found: no syscalls by name", flush=True)
    for kind, v in scenarios:
        for rt in runtimes:
            if not runnable(rt, kind, v, broken):
                continue
            try:
                for _ in range(args.counts):
                    rt.counts.setdefault(kind + v, []).append(
                        one(rt, kind, bundles[(kind, v)], count=True))
                if use_strace:
                    log = os.path.join(tmp, "strace.log")
                    one(rt, kind, bundles[(kind, v)], strace_log=log)
                    rt.strace[kind + v] = counts.parse_strace_log(log)
                    os.unlink(log)
            except BenchError as e:
                broken[rt.name] = str(e)
                print(f"dropping {rt.name}: {e}", flush=True)
        print(f"# counts: {kind + v} done", flush=True)


def phase_pass(runtimes, scenarios, bundles, args, broken, tmp):
    """crunner --debug: each phase's duration, per run, prefixed by its command."""
    rt = next((r for r in runtimes if r.name == "crunner" and r.name not in broken), None)
    if not rt:
        return
    for kind, v in scenarios:
        acc = {}
        for _ in range(args.phases):
            log = os.path.join(tmp, "debug.log")
            try:
                one(rt, kind, bundles[(kind, v)], debug_log=log)
            except BenchError as e:
                print(f"phases: {e}", flush=True)
                break
            run = {}  # a phase that occurs twice in a command (cgroups) is summed
            for i, word in enumerate(COMMANDS[kind]):
                for name, ms in read_phases(f"{log}.{i}"):
                    run[f"{word}: {name}"] = run.get(f"{word}: {name}", 0.0) + ms
            for name, ms in run.items():
                acc.setdefault(name, []).append(ms)
        rt.phases[kind + v] = acc


def read_phases(log):
    """(phase, ms) of crunner's JSON --debug lines in log (removed)."""
    out = []
    try:
        with open(log) as f:
            for line in f:
                try:
                    j = json.loads(line)
                except ValueError:
                    continue
                if "phase" in j:
                    out.append((j["phase"], float(j["ms"])))
        os.unlink(log)
    except OSError:
        pass
    return out


# ---- summaries -----------------------------------------------------------------------------
def pct(values, q):
    """Nearest-rank percentile."""
    s = sorted(values)
    k = max(0, min(len(s) - 1, math.ceil(q / 100 * len(s)) - 1))
    return s[k]


def median_of(dicts, key):
    vals = [d[key] for d in dicts if key in d]
    return statistics.median(vals) if vals else None


def summarize(runtimes, scenarios):
    """{scenario: {runtime: {...}}}: wall (min, median, p90), CPU user/sys, peak RSS, the
    rusage counts of the timed runs, perf counts, strace counts, crunner's phases."""
    out = {}
    for kind, v in scenarios:
        sc = kind + v
        for rt in runtimes:
            s = rt.samples.get(sc)
            if not s:
                continue
            wall = [sum(r["wall_ns"]) / 1e6 for r in s]
            row = {"n": len(s), "median_ms": statistics.median(wall), "min_ms": min(wall),
                   "p90_ms": pct(wall, 90), "max_ms": max(wall),
                   "user_ms": median_of(s, "utime_ns") / 1e6,
                   "sys_ms": median_of(s, "stime_ns") / 1e6,
                   "rss_mib": max(r["maxrss_kib"] for r in s) / 1024,
                   "timed_minflt": median_of(s, "minflt"), "timed_nvcsw": median_of(s, "nvcsw")}
            row["cpu_ms"] = row["user_ms"] + row["sys_ms"]
            c = rt.counts.get(sc)
            if c:
                perf = [r["counts"] for r in c]
                row["counts"] = {k: median_of(perf, k) for k in perf[0]}
                row["counts"]["processes"] = row["counts"]["tasks"] - row["counts"]["threads"]
                row["counts"]["nvcsw"] = median_of(c, "nvcsw")
                row["counts"]["nivcsw"] = median_of(c, "nivcsw")
                row["counts_spread"] = {k: [min(p[k] for p in perf), max(p[k] for p in perf)]
                                        for k in ("syscalls", "minflt", "tasks")}
            if sc in rt.strace:
                row["strace"] = rt.strace[sc]
            if sc in rt.phases:
                row["phases"] = {p: {"median_ms": statistics.median(ms), "sum_ms": sum(ms),
                                     "runs": len(ms)} for p, ms in rt.phases[sc].items()}
            out.setdefault(sc, {})[rt.name] = row
    return out


def machine(load_before, load_after):
    model = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = 0
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem = int(line.split()[1]) // 1024
    return {"host": platform.node(), "cpu": model, "cpus": os.cpu_count(),
            "kernel": platform.release(), "mem_mib": mem,
            "load_before": load_before, "load_after": load_after}


def versions(runtimes):
    out = {}
    for rt in runtimes:
        if rt.name == FLOOR:
            continue
        p = subprocess.run([rt.path, "--version"], capture_output=True, text=True)
        out[rt.name] = (p.stdout.splitlines() or ["?"])[0].strip()
    return out


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


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", type=int, default=30, help="measured iterations (default 30)")
    ap.add_argument("--warmup", type=int, default=3, help="warm-up iterations (default 3)")
    ap.add_argument("--only", default="", help="comma-separated runtimes (crunner,runc,crun)")
    ap.add_argument("--no-floor", action="store_true", help="skip the bare floor")
    ap.add_argument("--kinds", default="run,cycle,exec", help="scenarios (default all)")
    ap.add_argument("--variants", default="plain,seccomp,limits",
                    help="bundle variants (default plain,seccomp,limits)")
    ap.add_argument("--counts", type=int, default=3,
                    help="perf-counted runs per unit (default 3; 0: no counting pass)")
    ap.add_argument("--no-strace", action="store_true", help="no strace pass")
    ap.add_argument("--phases", type=int, default=10,
                    help="crunner --debug runs per scenario (default 10; 0: none)")
    ap.add_argument("--json", metavar="FILE", help="also write the summary as JSON")
    ap.add_argument("--garden", action="store_true",
                    help="also garden-shim vs crunner directly (bench/garden_overhead.py)")
    ap.add_argument("--garden-n", type=int, default=30, help="garden iterations (default 30)")
    ap.add_argument("--clients", type=int, default=20, help="concurrent garden clients")
    ap.add_argument("--report", metavar="DIR", help="write report.md + chart.svg there")
    ap.add_argument("--baseline", metavar="CRUNNER",
                    help="A/B: another crunner binary (say main's), run as runtime "
                         f"{BASELINE} interleaved with the others; its ratio is printed")
    args = ap.parse_args()
    if os.geteuid() != 0:
        ap.error("needs root")
    return args


def main():
    args = parse_args()
    enter_private_namespace()
    tmp = tempfile.mkdtemp(prefix="crunner-bench-")
    state = None
    runtimes = []
    try:
        layout, state = prepare_namespace(tmp)
        only = {x for x in args.only.split(",") if x}
        runtimes, missing = find_runtimes(only, state, args.baseline)
        for m in missing:
            print(f"skipping {m}: not found", flush=True)
        if not runtimes:
            print("no runtime to benchmark")
            return 1
        global HELPER
        signal.signal(signal.SIGALRM, on_alarm)
        HELPER = build_helper(tmp)
        scenarios, variants = scenario_list(args)
        bundles = make_bundles(tmp, variants)
        method = report.method_text(layout, args)
        print("# method: " + method, flush=True)
        vers = versions(runtimes)
        print("# runtimes: " + ", ".join(f"{rt.name} ({rt.path}: {vers.get(rt.name)})"
                                         for rt in runtimes), flush=True)
        if not args.no_floor:
            runtimes.append(Runtime(FLOOR, "unshare", ""))
        load_before = os.getloadavg()
        broken = {}
        if any(k == "exec" for k, _ in scenarios):
            start_live(runtimes, bundles, variants, broken)
        timing_pass(runtimes, scenarios, bundles, args, broken)
        load_after_timing = os.getloadavg()
        if args.counts > 0:
            count_pass(runtimes, scenarios, bundles, args, broken, tmp)
        if args.phases > 0:
            phase_pass(runtimes, scenarios, bundles, args, broken, tmp)
        stop_live(runtimes)
        summary = summarize([rt for rt in runtimes if rt.name not in broken], scenarios)
        host = machine(load_before, load_after_timing)
        result = {"method": method, "machine": host, "versions": vers, "summary": summary,
                  "dropped": broken, "n": args.n}
        result["verdicts"] = report.verdicts(summary)
        report.print_text(result)
        result["garden"] = run_garden(args, tmp) if args.garden else None
        if args.json:
            with open(args.json, "w") as f:
                json.dump(result, f, indent=2)
        if args.report:
            report.write(args.report, result, SRC)
    finally:
        stop_live(runtimes)
        if state:
            subprocess.run(["umount", "-l", state], stderr=subprocess.DEVNULL)
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
