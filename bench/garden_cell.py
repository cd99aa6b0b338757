#!/usr/bin/env python3
"""A Diego cell's load on garden-shim, side by side with crunner driven directly.

    sudo python3 bench/garden_cell.py                      # 250 containers, 10 clients
    sudo python3 bench/garden_cell.py -n 30 --attached 10  # a small run
    sudo python3 bench/garden_cell.py --report bench/results/cell   # + report.md, chart.svg
    sudo python3 bench/garden_cell.py --cleanup            # remove what an interrupted run left

What one run does (GARDEN_SHIM / GARDEN_RUNTIME as for tests/garden; default: the binaries
built in build/):
  1. A network namespace of its own ("shim", a veth to a second one, "out", for the default
     route) with one garden-shim inside it (`nsenter --net=`, tests/garden/harness.py's Shim),
     networking on; nothing touches the host's interfaces or firewall.
  2. N containers, each with memory, cpu, pids and disk limits and a network (a /30 from the
     pool), created by C concurrent clients; create latency p50/p99 and containers/s.
  3. A long-running process in each (the clients disconnect; the process keeps running), then
     a stream-in into each. Idle: the server's PSS, threads and fds and the PSS of every
     per-container helper (garden-dadoo, garden-init), from /proc/PID/smaps_rollup.
  4. A attached streams (attach + stdout/stderr, as Diego keeps its app's logs), each seen
     delivering output; bulk info and bulk metrics of all N.
  5. The server restarted twice (SIGTERM, then kill -9): every container, process (same pid,
     output still flowing to re-attached streams), network (address, veth, iptables chain,
     a ping from the host side) and streamed-in file must survive.
  6. Destroy of all N by C clients, then what is left (must be 0): processes, mounts, loop
     devices, cgroups, veths/bridges, iptables chains, depot entries.
  7. crunner directly: create + start of the same bundles (the shim's config.json of each
     container, the rootfs shared), C at a time, then delete --force.
Nothing it does is left behind, even when it is interrupted: the shim, the supervisors and the
runtime containers are removed by the pids and ids recorded in its work directory, mounts and
loop devices by path, cgroups by name, both namespaces by name. A run killed outright leaves a
record (`/tmp/crunner-bench-cell-*/record.json`); the next run (or --cleanup) removes it.
"""

import argparse
import datetime
import glob
import io
import json
import os
import platform
import random
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.dirname(HERE)
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(SRC, "tests", "garden"))
os.environ.setdefault("GARDEN_RUNTIME", os.path.join(SRC, "build/cmd/crunner/crunner"))
import chart  # noqa: E402
from garden_client import GardenError  # noqa: E402
from harness import (CONTAINER_ROOT_UID, Shim, cleanup_workdir, loop_devices_backed_by,  # noqa: E402
                     mounts_under, own_cgroup_dirs, runtime_path)

WORK_PREFIX = "crunner-bench-cell-"
MIB = 1 << 20
PROCESS = ("echo ready; i=0; while sleep %d; do i=$((i+1)); echo tick $i; done")


# ---------------------------------------------------------------- measuring

def percentile(values, p):
    """Nearest-rank percentile (p in 0..100) of a non-empty list."""
    s = sorted(values)
    k = max(0, min(len(s) - 1, int(round(p / 100.0 * len(s) + 0.5)) - 1))
    return s[k]


def load():
    return os.getloadavg()[0]


def proc_status(pid, key):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def pss_kib(pid):
    """Proportional set size of pid in KiB (/proc/PID/smaps_rollup), 0 if it is gone."""
    try:
        with open("/proc/%d/smaps_rollup" % pid) as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def cpu_s(pid):
    """CPU seconds of pid and of the children it has reaped (utime, stime, cutime, cstime)."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return sum(int(x) for x in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def own_cpu_s():
    t = os.times()
    return t.children_user + t.children_system


def server_figures(pid):
    return {"pss_kib": pss_kib(pid), "threads": proc_status(pid, "Threads"),
            "fds": len(os.listdir("/proc/%d/fd" % pid))}


def loop_facts():
    """What bounds the number of loop devices here: the module's max_loop (devices made at
    boot), the devices that exist, and how many are attached."""
    facts = {}
    try:
        with open("/sys/module/loop/parameters/max_loop") as f:
            facts["max_loop"] = int(f.read())
    except (OSError, ValueError):
        facts["max_loop"] = None
    devs = glob.glob("/sys/block/loop*")
    facts["devices"] = len(devs)
    facts["attached"] = sum(1 for d in devs if os.path.exists(d + "/loop/backing_file"))
    return facts


def cmdline(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return f.read().split(b"\0")
    except OSError:
        return []


def pid_from(path):
    try:
        with open(path) as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return 0


def helper_pids(depot):
    """(garden-dadoo pids, garden-init pids) of the depot's containers, alive ones only."""
    dadoos, inits = [], []
    for f in glob.glob(os.path.join(depot, "containers", "*", "processes", "*", "dadoo.pid")):
        pid = pid_from(f)
        if pid and any(b"garden-dadoo" in a for a in cmdline(pid)[:1]):
            dadoos.append(pid)
    for f in glob.glob(os.path.join(depot, "containers", "*", "init.pid")):
        pid = pid_from(f)
        if pid and os.path.exists("/proc/%d" % pid):
            inits.append(pid)
    return dadoos, inits


def processes_under(path):
    """Pids whose root or command line is under path (containers, supervisors, runtimes)."""
    out = []
    prefix = path.rstrip("/") + "/"
    for d in os.listdir("/proc"):
        if not d.isdigit() or int(d) == os.getpid():
            continue
        pid = int(d)
        try:
            root = os.readlink("/proc/%d/root" % pid)
        except OSError:
            root = ""
        if root.startswith(prefix) or any(prefix.encode() in a for a in cmdline(pid)):
            out.append(pid)
    return out


def state_entries(d):
    """Entries of a depot or runtime root directory, but the runtime's seccomp filter cache
    (crunner keeps compiled filters in its --root, as a cache meant to stay)."""
    return [e for e in os.listdir(d) if e != "@seccomp-cache"]


def cgroups_under(parent):
    """Cgroup directories below parent in every hierarchy this process is in."""
    n = 0
    for d in own_cgroup_dirs():
        for _, dirs, _ in os.walk(os.path.join(d, parent)):
            n += len(dirs)
    return n


# ---------------------------------------------------------------- concurrency

class Pool:
    """C clients working through a list of items, each call timed. stop() makes every
    client finish its current call and take no more (interrupts, failures)."""

    def __init__(self, clients):
        self.clients = clients
        self.stopping = threading.Event()

    def run(self, items, fn):
        """fn(item) for every item; returns [(item, seconds, error or None)] in item order."""
        results = [None] * len(items)
        nxt = iter(range(len(items)))
        lock = threading.Lock()

        def worker():
            while not self.stopping.is_set():
                with lock:
                    i = next(nxt, None)
                if i is None:
                    return
                t0 = time.monotonic()
                try:
                    fn(items[i])
                    err = None
                except Exception as e:  # a failed call is a result, reported with its item
                    err = "%s: %s" % (type(e).__name__, e)
                results[i] = (items[i], time.monotonic() - t0, err)

        threads = [threading.Thread(target=worker, daemon=True)
                   for _ in range(min(self.clients, len(items)))]
        self.threads = threads
        for t in threads:
            t.start()
        for t in threads:
            while t.is_alive():  # join with a timeout: Ctrl-C reaches the main thread
                t.join(0.2)
        return [r for r in results if r is not None]

    def stop(self, timeout=60):
        """Lets every client finish its call in flight, then returns."""
        self.stopping.set()
        deadline = time.monotonic() + timeout
        for t in getattr(self, "threads", []):
            t.join(max(0.1, deadline - time.monotonic()))


def timed_phase(pool, items, fn, what):
    t0 = time.monotonic()
    res = pool.run(items, fn)
    wall = time.monotonic() - t0
    errors = [(item, err) for item, _, err in res if err]
    lat = [dt * 1000 for _, dt, err in res if not err]
    out = {"n": len(items), "done": len(lat), "errors": len(errors), "wall_s": wall,
           "per_s": len(lat) / wall if wall > 0 else 0.0, "load": load()}
    if lat:
        out.update(p50_ms=percentile(lat, 50), p99_ms=percentile(lat, 99), max_ms=max(lat))
    say("%s: %d/%d in %.1f s (%.1f/s), p50 %.0f ms, p99 %.0f ms, load %.1f%s"
        % (what, out["done"], len(items), wall, out["per_s"], out.get("p50_ms", 0),
           out.get("p99_ms", 0), out["load"],
           "; first errors: %s" % errors[:3] if errors else ""))
    return out


def say(msg):
    print("[%s] %s" % (time.strftime("%H:%M:%S"), msg), flush=True)


# ---------------------------------------------------------------- namespaces, records

def sh(*args, check=True):
    return subprocess.run(list(args), check=check, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True).stdout


def make_netns(ns_s, ns_o):
    """Two namespaces joined by a veth (ext0): the shim's, with a default route to the other."""
    for ns in (ns_s, ns_o):
        sh("ip", "netns", "add", ns)
    sh("ip", "-n", ns_s, "link", "add", "ext0", "type", "veth", "peer", "name", "ext0",
       "netns", ns_o)
    sh("ip", "-n", ns_s, "addr", "add", "192.0.2.1/24", "dev", "ext0")
    sh("ip", "-n", ns_o, "addr", "add", "192.0.2.2/24", "dev", "ext0")
    for ns in (ns_s, ns_o):
        sh("ip", "-n", ns, "link", "set", "ext0", "up")
        sh("ip", "-n", ns, "link", "set", "lo", "up")
    sh("ip", "-n", ns_s, "route", "add", "default", "via", "192.0.2.2")


def in_ns(ns, *args):
    return sh("nsenter", "--net=/run/netns/" + ns, "--", *args, check=False)


def net_objects(ns):
    """(container links, bridges, per-container iptables chains) in the shim's namespace."""
    links = [line.split(":")[1].strip().split("@")[0]
             for line in sh("ip", "-n", ns, "-o", "link", "show", check=False).splitlines()
             if ":" in line]
    ours = [n for n in links if n not in ("lo", "ext0")]
    bridges = [n for n in ours if "brdg-" in n]
    chains = [line for line in in_ns(ns, "iptables-save").splitlines()
              if line.startswith(":w--instance-") or line.startswith(":w--log-")]
    return len(ours) - len(bridges), len(bridges), len(chains)


def remove_direct(runtime, root, cgroup_parent):
    """crunner-direct containers by their ids in root, then their cgroups."""
    if os.path.isdir(root):
        for cid in os.listdir(root):
            subprocess.run([runtime, "--root", root, "delete", "--force", cid],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for d in own_cgroup_dirs():
        parent = os.path.join(d, cgroup_parent)
        for child in glob.glob(parent + "/*/"):
            try:
                os.rmdir(child)
            except OSError:
                pass
        try:
            os.rmdir(parent)
        except OSError:
            pass


def clean_record(rec):
    """Removes everything a run recorded (its own, or one that was killed outright)."""
    work, runtime = rec["work"], rec["runtime"]
    shim = rec.get("shim_pid")
    if shim and any(work.encode() in a for a in cmdline(shim)):
        os.kill(shim, signal.SIGKILL)
    shim_dir = os.path.join(work, "shim")
    if os.path.isdir(shim_dir):
        cleanup_workdir(shim_dir, None, runtime, rec["cgroup_parent"])
    remove_direct(runtime, os.path.join(work, "direct", "root"), rec["cgroup_parent"] + "-direct")
    for ns in rec["netns"]:
        subprocess.run(["ip", "netns", "del", ns], stderr=subprocess.DEVNULL)
    for mp in mounts_under(work):
        subprocess.run(["umount", "-l", mp], stderr=subprocess.DEVNULL)
    if not mounts_under(work):
        shutil.rmtree(work, ignore_errors=True)


def clean_stale():
    """Clean-up of earlier runs whose bench process is gone (killed with -9)."""
    n = 0
    for f in glob.glob("/tmp/%s*/record.json" % WORK_PREFIX):
        try:
            with open(f) as fh:
                rec = json.load(fh)
        except (OSError, ValueError):
            continue
        if os.path.exists("/proc/%d" % rec.get("bench_pid", 0)) and \
                any(b"garden_cell" in a for a in cmdline(rec["bench_pid"])):
            continue  # still running
        say("removing what an earlier run left: %s" % rec["work"])
        clean_record(rec)
        n += 1
    return n


def make_tar(kib):
    """A droplet-like archive: app/droplet.bin (kib KiB of random bytes) and a small file."""
    buf = io.BytesIO()
    data = random.Random(1).randbytes(kib * 1024)
    with tarfile.open(fileobj=buf, mode="w") as t:
        for name, body in (("app/droplet.bin", data), ("app/staging_info.yml", b"start: sh\n")):
            info = tarfile.TarInfo(name)
            info.size = len(body)
            info.mode = 0o644
            t.addfile(info, io.BytesIO(body))
    return buf.getvalue(), data


def file_from_tar(tar_bytes, name):
    with tarfile.open(fileobj=io.BytesIO(tar_bytes)) as t:
        for m in t.getmembers():
            if m.name.rstrip("/").endswith(name):
                return t.extractfile(m).read()
    return None


# ---------------------------------------------------------------- attached streams

class Attached:
    """An attach to a container's process with its stdout stream read by a thread of its
    own (as Diego reads an app's logs): bytes counts what arrived, ended its end."""

    def __init__(self, client, handle, pid):
        self.proc = client.attach(handle, pid, stdout=True, stderr=True)
        self.bytes = 0
        self.ended = threading.Event()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        s = self.proc.streams["stdout"][0]
        self.bytes += len(self.proc.streams["stdout"][1])
        try:
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                self.bytes += len(chunk)
        except OSError:
            pass
        self.ended.set()

    def close(self):
        for s in [self.proc.sock] + [v[0] for v in self.proc.streams.values()]:
            try:
                s.shutdown(socket.SHUT_RDWR)  # wakes the reader's recv, close alone does not
            except OSError:
                pass
        self.proc.close()
        self.thread.join(5)


def wait_output(attached, seconds):
    """How many of the attached streams delivered new output within seconds."""
    start = [a.bytes for a in attached]
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if all(a.bytes > b for a, b in zip(attached, start)):
            break
        time.sleep(0.2)
    return sum(1 for a, b in zip(attached, start) if a.bytes > b)


# ---------------------------------------------------------------- the run

class Bench:
    def __init__(self, args):
        self.args = args
        self.runtime = runtime_path()
        self.work = tempfile.mkdtemp(prefix=WORK_PREFIX, dir="/tmp")
        os.chmod(self.work, 0o755)
        tag = str(os.getpid())
        self.ns = "crn-cell-%ss" % tag
        self.netns = [self.ns, "crn-cell-%so" % tag]
        self.cg = WORK_PREFIX + tag
        self.shim_dir = os.path.join(self.work, "shim")
        self.depot = os.path.join(self.shim_dir, "depot")
        self.direct_dir = os.path.join(self.work, "direct")
        self.direct_root = os.path.join(self.direct_dir, "root")
        self.pool = Pool(args.clients)
        self.shim = None
        self.client = None
        self.handles = []
        self.attached = []
        self.r = {"params": vars(args).copy(), "load_start": load()}
        self.record()

    # -- bookkeeping
    def record(self):
        rec = {"bench_pid": os.getpid(), "work": self.work, "runtime": self.runtime,
               "cgroup_parent": self.cg, "netns": self.netns,
               "shim_pid": self.shim.proc.pid if self.shim and self.shim.proc else None}
        tmp = os.path.join(self.work, "record.json.tmp")
        with open(tmp, "w") as f:
            json.dump(rec, f)
        os.rename(tmp, os.path.join(self.work, "record.json"))

    def cleanup(self):
        self.pool.stop()
        for a in self.attached:
            a.close()
        with open(os.path.join(self.work, "record.json")) as f:
            rec = json.load(f)
        if self.shim and self.shim.proc:
            rec["shim_pid"] = self.shim.proc.pid
        clean_record(rec)
        left = [p for p in (self.work, "/run/netns/" + self.netns[0], "/run/netns/" + self.netns[1])
                if os.path.exists(p)] + (["cgroups"] if cgroups_under(self.cg) else [])
        if left:
            say("clean-up left: %s" % left)
        return left

    # -- set-up
    def setup(self):
        a = self.args
        make_netns(*self.netns)
        bundle = os.path.join(self.work, "bundle")
        sh("bash", os.path.join(SRC, "tests/fixtures/make-bundle.sh"), bundle)
        self.rootfs = os.path.join(bundle, "rootfs")
        for what in ("-uid", "-gid"):
            sh("find", self.rootfs, what, "0", "-exec", "chown" if what == "-uid" else "chgrp",
               "-h", str(CONTAINER_ROOT_UID), "{}", "+")
        os.makedirs(self.shim_dir)
        os.chmod(self.shim_dir, 0o755)
        prefix = 30
        while (1 << (30 - prefix)) < a.n:
            prefix -= 1
        extra = ["--network-pool", "10.240.0.0/%d" % min(prefix, 22),
                 "--max-containers", str(max(1024, a.n))]
        self.shim = Shim(self.shim_dir, self.rootfs, self.cg, extra, netns=self.ns)
        self.client = self.shim.start()
        self.record()
        time.sleep(1)
        self.r["server_start"] = server_figures(self.shim.proc.pid)
        self.r["loop"] = loop_facts()

    def spec(self, h):
        a = self.args
        return {"handle": h, "properties": {"bench": "cell"},
                "limits": {"memory_limits": {"limit_in_bytes": a.memory_mib * MIB},
                           "cpu_limits": {"weight": a.cpu_weight},
                           "pid_limits": {"max": a.pids},
                           "disk_limits": {"byte_hard": a.disk_mib * MIB,
                                           "inode_hard": a.inodes, "scope": 1}}}

    # -- garden phases
    def create_all(self):
        names = ["cell-%04d" % i for i in range(self.args.n)]
        cpu0 = cpu_s(self.shim.proc.pid)
        self.r["create"] = timed_phase(self.pool, names, lambda h: self.client.create(self.spec(h)),
                                       "create")
        self.r["create"]["cpu_ms_each"] = (cpu_s(self.shim.proc.pid) - cpu0) * 1000 / len(names)
        say("create: %.0f ms of CPU each (the server and the commands it ran)"
            % self.r["create"]["cpu_ms_each"])
        self.handles = sorted(h for h in self.client.list({"bench": "cell"}))
        if not self.handles:
            raise RuntimeError("no container was created")

    def run_all(self):
        spec = {"id": "app", "path": "sh", "args": ["-c", PROCESS % self.args.tick], "user": "root"}

        def one(h):
            p = self.client.run(h, spec, stdout=False, stderr=False)
            p.sock.close()  # as a client that goes away: the process keeps running

        self.r["run"] = timed_phase(self.pool, self.handles, one, "run a process")

    def stream_in_all(self):
        self.tar, self.droplet = make_tar(self.args.stream_kib)
        self.r["stream_in"] = timed_phase(
            self.pool, self.handles, lambda h: self.client.stream_in(h, "/tmp", self.tar),
            "stream-in %d KiB" % self.args.stream_kib)

    def helpers(self):
        dadoos, inits = helper_pids(self.depot)
        return {"dadoo_n": len(dadoos), "dadoo_pss_kib": sum(pss_kib(p) for p in dadoos),
                "init_n": len(inits), "init_pss_kib": sum(pss_kib(p) for p in inits)}

    def measure_idle(self):
        time.sleep(self.args.settle)
        n = len(self.handles)
        srv = server_figures(self.shim.proc.pid)
        h = self.helpers()
        growth = srv["pss_kib"] - self.r["server_start"]["pss_kib"]
        per = {"server_growth_kib": growth / n, "dadoo_kib": h["dadoo_pss_kib"] / max(1, h["dadoo_n"]),
               "init_kib": h["init_pss_kib"] / max(1, h["init_n"])}
        per["total_kib"] = (growth + h["dadoo_pss_kib"] + h["init_pss_kib"]) / n
        self.r["idle"] = {"server": srv, "helpers": h, "per_container": per, "load": load()}
        say("idle, %d containers: server PSS %d KiB (+%d), %d threads, %d fds; %d garden-dadoo "
            "%d KiB, %d garden-init %d KiB; per container %.0f KiB (server %.0f, dadoo %.0f, "
            "init %.0f); load %.1f"
            % (n, srv["pss_kib"], growth, srv["threads"], srv["fds"], h["dadoo_n"],
               h["dadoo_pss_kib"], h["init_n"], h["init_pss_kib"], per["total_kib"],
               per["server_growth_kib"], per["dadoo_kib"], per["init_kib"], load()))

    def attach_streams(self, label):
        lock = threading.Lock()
        self.attached = []

        def one(h):
            a = Attached(self.client, h, "app")
            with lock:
                self.attached.append(a)

        res = timed_phase(self.pool, self.handles[:self.args.attached], one, "attach (%s)" % label)
        res["delivering"] = wait_output(self.attached, self.args.tick + 10)
        res["server"] = server_figures(self.shim.proc.pid)
        say("%d of %d attached streams delivered output; server %s"
            % (res["delivering"], len(self.attached), res["server"]))
        return res

    def bulk(self):
        out = {}
        for name, call in (("bulk_info", self.client.bulk_info),
                           ("bulk_metrics", self.client.bulk_metrics)):
            t0 = time.monotonic()
            got = call(self.handles)
            ms = (time.monotonic() - t0) * 1000
            bad = [h for h in self.handles if h not in got or got[h].get("Err")]
            out[name] = {"ms": ms, "errors": len(bad), "load": load()}
            say("%s of %d: %.0f ms, %d errors" % (name, len(self.handles), ms, len(bad)))
        return out

    # -- restarts
    def snapshot(self):
        info = self.client.bulk_info(self.handles)
        snap = {}
        for h in self.handles:
            pdir = os.path.join(self.depot, "containers", h, "processes", "app")
            i = (info.get(h) or {}).get("Info") or {}
            snap[h] = {"ip": i.get("ContainerIP"), "state": i.get("State"),
                       "app_listed": "app" in (i.get("ProcessIDs") or []),
                       "dadoo": pid_from(os.path.join(pdir, "dadoo.pid")),
                       "app": pid_from(os.path.join(pdir, "pid"))}
        return snap, net_objects(self.ns)

    def survivors(self, before, before_net):
        """What of before is still there, check by check (each a count of containers)."""
        after, after_net = self.snapshot()
        listed = set(self.client.list())
        alive = lambda pid: pid > 0 and os.path.exists("/proc/%d" % pid)  # noqa: E731
        ok = {"listed": sum(h in listed for h in before),
              "active_same_ip": sum(after[h]["state"] == "active" and after[h]["ip"] == b["ip"]
                                    for h, b in before.items()),
              "process_listed": sum(after[h]["app_listed"] for h in before),
              "process_same_pid_alive": sum(after[h]["app"] == b["app"] and alive(b["app"]) and
                                            after[h]["dadoo"] == b["dadoo"] and alive(b["dadoo"])
                                            for h, b in before.items())}
        ok["net_objects_same"] = after_net == before_net
        ping = self.pool.run([b["ip"] for b in before.values()],
                             lambda ip: sh("nsenter", "--net=/run/netns/" + self.ns, "--",
                                           "/bin/busybox", "ping", "-c", "1", "-W", "3", ip))
        ok["ping"] = sum(1 for _, _, e in ping if not e)

        def same_file(h):
            got = file_from_tar(self.client.stream_out(h, "/tmp/app/droplet.bin"), "droplet.bin")
            if got != self.droplet:
                raise RuntimeError("droplet differs")

        files = self.pool.run(list(before), same_file)
        ok["streamed_in_file"] = sum(1 for _, _, e in files if not e)
        return ok

    def restart(self, sig):
        name = {signal.SIGTERM: "SIGTERM", signal.SIGKILL: "kill -9"}[sig]
        before, before_net = self.snapshot()
        pid = self.shim.proc.pid
        t0 = time.monotonic()
        os.kill(pid, sig)
        self.shim.proc.wait()
        self.shim.proc = None
        self.shim.log.close()
        self.shim.log = None
        ended = sum(a.ended.wait(15) for a in self.attached)
        for a in self.attached:
            a.close()
        t1 = time.monotonic()
        self.client = self.shim.start()
        start_s = time.monotonic() - t1
        self.record()
        res = {"signal": name, "stop_s": t1 - t0, "start_s": start_s, "streams_ended": ended,
               "server_after_start": server_figures(self.shim.proc.pid), "load": load()}
        res["survived"] = self.survivors(before, before_net)
        res["reattach"] = self.attach_streams("after %s" % name)
        say("restart (%s): back in %.2f s; survived %s" % (name, start_s, res["survived"]))
        return res

    # -- destroy
    def destroy_all(self):
        cpu0 = cpu_s(self.shim.proc.pid)
        self.r["destroy"] = timed_phase(self.pool, self.handles, self.client.destroy, "destroy")
        self.r["destroy"]["cpu_ms_each"] = (cpu_s(self.shim.proc.pid) - cpu0) * 1000 / len(self.handles)
        self.r["destroy"]["streams_ended"] = sum(a.ended.wait(15) for a in self.attached)
        for a in self.attached:
            a.close()
        self.attached = []
        trash = os.path.join(self.depot, "trash")
        for _ in range(300):  # destroy deletes the tree in the background
            if not os.listdir(trash):
                break
            time.sleep(0.1)
        self.r["leftovers"] = self.leftovers()
        say("left after destroy: %s" % self.r["leftovers"])
        srv = server_figures(self.shim.proc.pid)
        self.r["server_after_destroy"] = srv
        os.kill(self.shim.proc.pid, signal.SIGTERM)
        self.shim.proc.wait()
        self.shim.proc = None

    def leftovers(self):
        links, bridges, chains = net_objects(self.ns)
        depot = {d: state_entries(os.path.join(self.depot, d))
                 for d in ("containers", "runtime", "trash")}
        if any(depot.values()):
            say("depot entries left: %s" % depot)
        shim = self.shim.proc.pid
        return {"processes": len([p for p in processes_under(self.shim_dir) if p != shim]),
                "mounts": len(mounts_under(self.shim_dir)),
                "loop_devices": len(loop_devices_backed_by(self.shim_dir)),
                "cgroups": cgroups_under(self.cg), "veths": links, "bridges": bridges,
                "iptables_chains": chains, "depot_entries": sum(len(v) for v in depot.values())}

    # -- crunner directly
    def direct_bundles(self):
        """The shim's bundle of every container, made to run on its own: root = the image
        (shared), hosts/resolv.conf copied, a cgroup parent of its own."""
        os.makedirs(self.direct_root)
        for h in self.handles:
            src = os.path.join(self.depot, "containers", h)
            dst = os.path.join(self.direct_dir, "bundles", h)
            os.makedirs(dst)
            with open(os.path.join(src, "config.json")) as f:
                text = f.read()
            for name in ("hosts", "resolv.conf"):
                shutil.copy2(os.path.join(src, name), os.path.join(dst, name))
            cfg = json.loads(text.replace(src + "/", dst + "/"))
            cfg["root"]["path"] = self.rootfs
            cfg["linux"]["cgroupsPath"] = "%s-direct/%s" % (self.cg, h)
            with open(os.path.join(dst, "config.json"), "w") as f:
                json.dump(cfg, f)

    def crunner(self, log, *args):
        """One crunner call; its output goes to a file (a created container keeps the
        stdio it was given, so a pipe would never reach EOF)."""
        with open(log, "w") as out:
            rc = subprocess.run([self.runtime, "--root", self.direct_root] + list(args),
                                stdin=subprocess.DEVNULL, stdout=out, stderr=out).returncode
        if rc != 0:
            with open(log) as f:
                raise RuntimeError("crunner %s: exit %d: %s" % (args[0], rc, f.read()[-500:]))

    def direct(self):
        b = lambda h: os.path.join(self.direct_dir, "bundles", h)  # noqa: E731

        def up(h):
            # --no-new-keyring, as garden-shim (and Guardian) create: without it the kernel's
            # per-user maxkeys (200) stops the 201st container of the one mapped uid.
            self.crunner(b(h) + "/out", "create", "--no-new-keyring", "--bundle", b(h),
                         "--pid-file", b(h) + "/pid", h)
            self.crunner(b(h) + "/out", "start", h)

        cpu0 = own_cpu_s()
        d = {"create": timed_phase(self.pool, self.handles, up, "crunner create + start")}
        d["create"]["cpu_ms_each"] = (own_cpu_s() - cpu0) * 1000 / len(self.handles)
        say("crunner create + start: %.0f ms of CPU each" % d["create"]["cpu_ms_each"])
        time.sleep(self.args.settle)
        inits = [pid_from(b(h) + "/pid") for h in self.handles]
        d["init_kib"] = sum(pss_kib(p) for p in inits) / max(1, len(inits))
        cpu0 = own_cpu_s()
        d["delete"] = timed_phase(self.pool, self.handles,
                                  lambda h: self.crunner(b(h) + "/out", "delete", "--force", h),
                                  "crunner delete --force")
        d["delete"]["cpu_ms_each"] = (own_cpu_s() - cpu0) * 1000 / len(self.handles)
        d["leftovers"] = {"processes": len(processes_under(self.direct_dir)),
                          "state_dirs": len(state_entries(self.direct_root)),
                          "cgroups": cgroups_under(self.cg + "-direct")}
        say("crunner directly: init %.0f KiB each; left %s" % (d["init_kib"], d["leftovers"]))
        self.r["direct"] = d

    def run(self):
        self.setup()
        self.create_all()
        self.direct_bundles()
        self.run_all()
        self.stream_in_all()
        self.measure_idle()
        self.r["attach"] = self.attach_streams("first")
        self.r["bulk"] = self.bulk()
        self.r["restarts"] = [self.restart(signal.SIGTERM), self.restart(signal.SIGKILL)]
        self.r["bulk_after_restarts"] = self.bulk()
        self.destroy_all()
        self.direct()
        self.r["load_end"] = load()


# ---------------------------------------------------------------- report

GOAL_P99_MS = 500
GOAL_KIB = 256


def goals(r):
    left = dict(r.get("leftovers") or {})
    return [("create p99 <= %d ms" % GOAL_P99_MS, "%.0f ms" % r["create"].get("p99_ms", 0),
             r["create"].get("p99_ms", 1e9) <= GOAL_P99_MS),
            ("our memory per idle container <= %d KiB" % GOAL_KIB,
             "%.0f KiB" % r["idle"]["per_container"]["total_kib"],
             r["idle"]["per_container"]["total_kib"] <= GOAL_KIB),
            ("nothing left", ", ".join("%s %s" % kv for kv in left.items()),
             left and not any(left.values()))]


def chart_panels(r):
    c, d = r["create"], r["direct"]["create"]
    per = r["idle"]["per_container"]
    return [
        ("create latency, %d clients (ms)" % r["params"]["clients"],
         [("garden-shim p50", c["p50_ms"]), ("garden-shim p99", c["p99_ms"]),
          ("crunner direct p50", d["p50_ms"]), ("crunner direct p99", d["p99_ms"])], "ms"),
        ("containers created per second",
         [("garden-shim", c["per_s"]), ("crunner direct", d["per_s"])], "/s"),
        ("destroy all %d (s)" % len(r["handles"]),
         [("garden-shim", r["destroy"]["wall_s"]), ("crunner direct", r["direct"]["delete"]["wall_s"])],
         "s"),
        ("our own memory per idle container, PSS (KiB)",
         [("server growth", per["server_growth_kib"]), ("garden-dadoo", per["dadoo_kib"]),
          ("garden-init", per["init_kib"]), ("total (garden-shim)", per["total_kib"]),
          ("crunner direct (init)", r["direct"]["init_kib"])], "KiB"),
    ]


def phase_row(name, p):
    cpu = "%.0f" % p["cpu_ms_each"] if "cpu_ms_each" in p else ""
    return "| %s | %d/%d | %.1f | %.1f | %.0f | %.0f | %.0f | %s | %.1f |" % (
        name, p["done"], p["n"], p["wall_s"], p["per_s"], p.get("p50_ms", 0), p.get("p99_ms", 0),
        p.get("max_ms", 0), cpu, p["load"])


def srv_row(name, s):
    return "| %s | %.1f | %d | %d |" % (name, s["pss_kib"] / 1024.0, s["threads"], s["fds"])


def write_report(directory, r):
    os.makedirs(directory, exist_ok=True)
    when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    commit = subprocess.run(["git", "-C", SRC, "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True).stdout.strip() or "unknown"
    p, n = r["params"], len(r["handles"])
    sub = "crunner %s, %s, %d containers, %d clients, load %.1f -> %.1f" % (
        commit, when, n, p["clients"], r["load_start"], r["load_end"])
    chart.write_panels(os.path.join(directory, "chart.svg"), "A Diego cell's load: garden-shim "
                       "vs crunner directly", sub, chart_panels(r), label_w=200,
                       colors={"garden-shim p50": "#9467bd", "garden-shim p99": "#c5b0d5",
                               "crunner direct p50": "#1f77b4", "crunner direct p99": "#aec7e8",
                               "crunner direct": "#1f77b4", "crunner direct (init)": "#1f77b4"})
    with open(os.path.join(directory, "samples.json"), "w") as f:
        json.dump(r, f, indent=2)
    md = ["# bench/garden_cell.py report: %s" % sub, "",
          "Host: %d CPUs, kernel %s. Load average (1 min) at the start %.1f, at the end %.1f; "
          "each phase's is in its row." % (os.cpu_count(), platform.release(), r["load_start"],
                                          r["load_end"]), "",
          "Each of %d containers: memory %d MiB, cpu weight %d, pids %d, disk %d MiB / %d inodes "
          "(exclusive), a /30 network; one process (`sh`, a line every %d s); a %d KiB "
          "stream-in; %d attached streams. Method: bench/README.md." % (
              n, p["memory_mib"], p["cpu_weight"], p["pids"], p["disk_mib"], p["inodes"],
              p["tick"], p["stream_kib"], p["attached"]), "",
          "![chart](chart.svg)", "", "## Goals", "", "| goal | measured | met |", "|---|---|---|"]
    md += ["| %s | %s | %s |" % (g, v, "yes" if ok else "**no**") for g, v, ok in goals(r)]
    md += ["", "## Phases (%d concurrent clients)" % p["clients"], "",
           "| phase | done | wall s | per s | p50 ms | p99 ms | max ms | CPU ms each | load |",
           "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
           phase_row("garden-shim create", r["create"]), phase_row("run a process", r["run"]),
           phase_row("stream-in", r["stream_in"]), phase_row("attach", r["attach"]),
           phase_row("garden-shim destroy", r["destroy"]),
           phase_row("crunner direct create + start", r["direct"]["create"]),
           phase_row("crunner direct delete --force", r["direct"]["delete"]), "",
           "CPU ms each: user + system time of the server and of every command it ran "
           "(mkfs.ext4, crunner, iptables-restore, ...) per container; for crunner directly, "
           "of its create + start (delete) calls. With C clients on 2 CPUs, a create cannot take "
           "less than about C x CPU / 2 once the CPUs are the bottleneck.", ""]
    md += ["| bulk call of all %d | ms | errors |" % n, "|---|---:|---:|"]
    for label, b in (("first", r["bulk"]), ("after the restarts", r["bulk_after_restarts"])):
        md += ["| %s (%s) | %.0f | %d |" % (k, label, v["ms"], v["errors"]) for k, v in b.items()]
    per, idle = r["idle"]["per_container"], r["idle"]
    md += ["", "## Memory per idle container (PSS, /proc/PID/smaps_rollup)", "",
           "| part | KiB per container |", "|---|---:|",
           "| server growth (%d -> %d KiB) / %d | %.1f |" % (
               r["server_start"]["pss_kib"], idle["server"]["pss_kib"], n, per["server_growth_kib"]),
           "| garden-dadoo (%d of them) | %.1f |" % (idle["helpers"]["dadoo_n"], per["dadoo_kib"]),
           "| garden-init (%d of them) | %.1f |" % (idle["helpers"]["init_n"], per["init_kib"]),
           "| **total** | **%.1f** |" % per["total_kib"],
           "| crunner direct: its container's garden-init | %.1f |" % r["direct"]["init_kib"], "",
           "## The server", "", "| when | PSS MiB | threads | fds |", "|---|---:|---:|---:|",
           srv_row("started, no container", r["server_start"]),
           srv_row("%d idle containers" % n, idle["server"]),
           srv_row("+ %d attached streams" % p["attached"], r["attach"]["server"])]
    for rs in r["restarts"]:
        md.append(srv_row("after %s + restart" % rs["signal"], rs["server_after_start"]))
        md.append(srv_row("... + %d re-attached" % p["attached"], rs["reattach"]["server"]))
    md += [srv_row("after destroying all", r["server_after_destroy"]), "",
           "## Restarts: what survived (of %d containers)" % n, "",
           "| check | " + " | ".join(rs["signal"] for rs in r["restarts"]) + " |",
           "|---|" + "---:|" * len(r["restarts"])]
    rows = [("back up (s)", "start_s")] + [(k, k) for k in r["restarts"][0]["survived"]]
    for label, k in rows:
        vals = [rs["start_s"] if k == "start_s" else rs["survived"][k] for rs in r["restarts"]]
        md.append("| %s | %s |" % (label, " | ".join(
            ("%.2f" % v) if isinstance(v, float) else str(v) for v in vals)))
    md.append("| attached streams re-attached and delivering | %s |" % " | ".join(
        "%d/%d" % (rs["reattach"]["delivering"], p["attached"]) for rs in r["restarts"]))
    md += ["", "## Left after destroy (must be 0)", "", "| what | garden-shim |", "|---|---:|"]
    md += ["| %s | %d |" % kv for kv in r["leftovers"].items()]
    md += ["| crunner direct: %s | %d |" % kv for kv in r["direct"]["leftovers"].items()]
    lf = r["loop"]
    md += ["", "Loop devices: max_loop=%s, %d devices existed at the start (%d attached); the "
           "kernel adds more on demand (LOOP_CTL_GET_FREE), devices at the end: %d." % (
               lf["max_loop"], lf["devices"], lf["attached"], r["loop_end"]["devices"]), ""]
    with open(os.path.join(directory, "report.md"), "w") as f:
        f.write("\n".join(md))
    say("report: %s" % os.path.join(directory, "report.md"))


# ---------------------------------------------------------------- main

def parse_args():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", type=int, default=250, help="containers (250)")
    ap.add_argument("--clients", type=int, default=10, help="concurrent clients (10)")
    ap.add_argument("--attached", type=int, default=50, help="attached streams (50)")
    ap.add_argument("--stream-kib", type=int, default=1024, help="stream-in size (1024 KiB)")
    ap.add_argument("--memory-mib", type=int, default=128)
    ap.add_argument("--cpu-weight", type=int, default=128)
    ap.add_argument("--pids", type=int, default=256)
    ap.add_argument("--disk-mib", type=int, default=64)
    ap.add_argument("--inodes", type=int, default=16384)
    ap.add_argument("--tick", type=int, default=10, help="seconds between the process's lines")
    ap.add_argument("--settle", type=float, default=5, help="seconds before idle figures")
    ap.add_argument("--report", metavar="DIR", help="write report.md, chart.svg, samples.json")
    ap.add_argument("--json", metavar="FILE", help="write the figures as JSON")
    ap.add_argument("--cleanup", action="store_true",
                    help="only remove what interrupted runs left, then exit")
    a = ap.parse_args()
    a.attached = min(a.attached, a.n)
    return a


def interrupted(signum, frame):
    raise KeyboardInterrupt("signal %d" % signum)


def main():
    args = parse_args()
    if os.geteuid() != 0:
        sys.exit("garden_cell: needs root")
    n = clean_stale()
    if args.cleanup:
        say("cleaned %d earlier run(s)" % n)
        return 0
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, interrupted)
    bench = Bench(args)
    say("work directory %s, shim in network namespace %s, load %.1f"
        % (bench.work, bench.ns, load()))
    ok = False
    try:
        bench.run()
        ok = True
    finally:
        left = bench.cleanup()
        bench.r["loop_end"] = loop_facts()
        bench.r["cleanup_left"] = left
    bench.r["handles"] = bench.handles
    if args.json:
        with open(args.json, "w") as f:
            json.dump(bench.r, f, indent=2)
    if args.report:
        write_report(args.report, bench.r)
    met = goals(bench.r)
    for g, v, good in met:
        say("goal %s: %s (%s)" % (g, v, "met" if good else "NOT met"))
    return 0 if ok and not left else 1


if __name__ == "__main__":
    sys.exit(main())
