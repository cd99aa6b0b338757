#!/usr/bin/env python3
"""Soak: N lifecycle cycles of crunner and N of garden-shim, then what leaked (not in CI).

    sudo python3 bench/soak.py -n 1000                 # both
    sudo python3 bench/soak.py -n 1000 --only crunner  # or --only shim

crunner cycle: create, start, exec (foreground `true`), kill KILL, delete (the container runs
`sleep`), with a fresh id each time in one temporary --root.
shim cycle: create a container, run a process to completion (`echo`), destroy, through one
garden-shim (GARDEN_SHIM, default build/cmd/garden-shim/garden-shim) driving the crunner
built here, on a free loopback port with a temporary depot.

Leak counts, after the last cycle minus before the first:
  fds        open fds of the garden-shim process (shim only)
  mounts     mount points under the soak's temporary directory (and the host's mount count)
  cgroups    cgroup directories named after the soak's ids, or under the shim's cgroup parent
  processes  live processes rooted in the soak's rootfs, and children of the shim
  state dirs entries left in crunner's --root (and in the shim's depot)
Every cycle's failure is counted and its first error shown; the exit status is 1 when any
cycle failed or anything leaked.
"""

import argparse
import glob
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(SRC, "tests", "garden"))  # garden_client


def _load(name, path):
    """Both test suites call their helper module `harness`: load each under its own name."""
    import importlib.util
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


ih = _load("integration_harness", os.path.join(SRC, "tests", "integration", "harness.py"))

CRUNNER = os.environ.get("CRUNNER") or os.path.join(SRC, "build", "cmd", "crunner", "crunner")
SHIM = os.environ.get("GARDEN_SHIM") or os.path.join(SRC, "build", "cmd", "garden-shim",
                                                    "garden-shim")
TAG = f"crunner-soak-{os.getpid()}"


class Ran:
    def __init__(self, rc, out, err):
        self.returncode, self.stdout, self.stderr = rc, out, err


def run(argv):
    """Output through temp files, never pipes: a container inherits create's stdio."""
    import tempfile as tf
    with tf.TemporaryFile() as o, tf.TemporaryFile() as e:
        p = subprocess.run(argv, stdout=o, stderr=e, stdin=subprocess.DEVNULL, timeout=120)
        o.seek(0)
        e.seek(0)
        return Ran(p.returncode, o.read(), e.read())


def mounts_under(path):
    return [ln.split()[4] for ln in ih.mountinfo() if ln.split()[4].startswith(path)]


def cgroups_matching(prefix):
    found = []
    for mnt in ih.cgroup_mounts():
        for pat in (f"{mnt}/{prefix}*", f"{mnt}/*/{prefix}*"):
            found += glob.glob(pat)
        for own in ih.own_cgroup_paths():
            found += glob.glob(f"{mnt}{own.rstrip('/')}/{prefix}*")
    return sorted(set(d for d in found if os.path.isdir(d)))


def fd_count(pid):
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return -1


def children_of(pid):
    out = []
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            with open(f"/proc/{p}/stat") as f:
                st = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(st[1]) == pid and st[0] != "Z":
            out.append(int(p))
    return out


def report(name, n, secs, fails, first_err, before, after):
    print(f"\n{name}: {n} cycles in {secs:.0f}s ({secs / max(n, 1) * 1000:.0f} ms/cycle), "
          f"{fails} failed" + (f" (first: {first_err})" if first_err else ""))
    leaked = 0
    for k in before:
        d = after[k] - before[k]
        leaked += max(d, 0)
        print(f"  {k:<22} before {before[k]:>6}  after {after[k]:>6}  leaked {d}")
    return fails == 0 and leaked == 0


def soak_crunner(n, tmp):
    root = os.path.join(tmp, "root")
    bundle = os.path.join(tmp, "bundle")
    subprocess.run(["bash", os.path.join(SRC, "tests/fixtures/make-bundle.sh"), bundle,
                    "sleep", "1000"], check=True, stdout=subprocess.DEVNULL)
    rootfs = os.path.join(bundle, "rootfs")
    rt = [CRUNNER, "--root", root]

    def snapshot():
        return {"mounts (soak dir)": len(mounts_under(tmp)),
                "mounts (host total)": len(ih.mountinfo()),
                "cgroups": len(cgroups_matching(TAG)),
                "processes": len(ih.processes_rooted_in(rootfs)),
                "state dirs": len(os.listdir(root)) if os.path.isdir(root) else 0}

    before = snapshot()
    fails, first = 0, None
    t0 = time.monotonic()
    for i in range(n):
        cid = f"{TAG}-{i}"
        steps = [["create", "--bundle", bundle, cid], ["start", cid], ["exec", cid, "true"],
                 ["kill", cid, "KILL"], ["delete", cid]]
        for s in steps:
            if s[0] == "delete":  # delete needs the init gone: wait for stopped
                for _ in range(400):
                    r = run(rt + ["state", cid])
                    if r.returncode != 0 or json.loads(r.stdout)["status"] == "stopped":
                        break
                    time.sleep(0.005)
            r = run(rt + s)
            if r.returncode != 0:
                fails += 1
                first = first or f"cycle {i} {s[0]}: {r.stderr.decode().strip()}"
                run(rt + ["delete", "--force", cid])
                break
        if (i + 1) % 100 == 0:
            print(f"crunner: {i + 1}/{n}", flush=True)
    secs = time.monotonic() - t0
    after = snapshot()
    return report("crunner create/start/exec/kill/delete", n, secs, fails, first, before, after)


def soak_shim(n, tmp):
    gh = _load("garden_harness", os.path.join(SRC, "tests", "garden", "harness.py"))
    workdir = os.path.join(tmp, "garden")
    os.makedirs(workdir)
    os.chmod(tmp, 0o755)
    os.chmod(workdir, 0o755)
    bundle = os.path.join(workdir, "bundle")
    subprocess.run(["bash", os.path.join(SRC, "tests/fixtures/make-bundle.sh"), bundle],
                   check=True, stdout=subprocess.DEVNULL)
    rootfs = os.path.join(bundle, "rootfs")
    for flag in ("-uid", "-gid"):
        subprocess.run(["find", rootfs, flag, "0", "-exec",
                        "chown" if flag == "-uid" else "chgrp", "-h",
                        str(gh.CONTAINER_ROOT_UID), "{}", "+"], check=True)
    cgparent = TAG + "-garden"
    os.environ["GARDEN_SHIM"] = SHIM
    os.environ["GARDEN_RUNTIME"] = CRUNNER
    gh.SHIM = SHIM
    shim = gh.Shim(workdir, rootfs, cgparent)
    client = shim.start()
    depot = shim.depot
    pid = shim.proc.pid

    def snapshot():
        conts = os.path.join(depot, "containers")
        rtroot = os.path.join(depot, "runtime")
        return {"shim fds": fd_count(pid),
                "mounts (soak dir)": len(mounts_under(tmp)),
                "mounts (host total)": len(ih.mountinfo()),
                "cgroups": len(cgroups_matching(cgparent)) + sum(
                    len(glob.glob(os.path.join(d, "*/"))) for d in cgroups_matching(cgparent)),
                "processes (rootfs)": len(ih.processes_rooted_in(rootfs)),
                "shim children": len(children_of(pid)),
                "depot containers": len(os.listdir(conts)) if os.path.isdir(conts) else 0,
                "runtime state dirs": len(os.listdir(rtroot)) if os.path.isdir(rtroot) else 0}

    # One warm-up cycle first: the shim opens files once (logs, caches) on first use.
    fails, first = 0, None

    def cycle(i):
        h = client.create({"handle": f"{TAG}-g{i}"})
        try:
            p = client.run(h, {"path": "echo", "args": ["hi"]})
            out = p.read_stream("stdout")
            p.read_stream("stderr")
            code = p.wait()
            p.close()
            if code != 0 or out != b"hi\n":
                raise RuntimeError(f"process exit {code} out {out!r}")
        finally:
            client.destroy(h)

    try:
        cycle("warm")
        before = snapshot()
        t0 = time.monotonic()
        for i in range(n):
            try:
                cycle(i)
            except Exception as e:  # noqa: BLE001 - counted and shown
                fails += 1
                first = first or f"cycle {i}: {e}"
            if (i + 1) % 100 == 0:
                print(f"shim: {i + 1}/{n}", flush=True)
        secs = time.monotonic() - t0
        time.sleep(1)  # let the last supervisor exit
        after = snapshot()
    finally:
        for h in client.list():
            try:
                client.destroy(h)
            except Exception:  # noqa: BLE001
                pass
        gh.cleanup_workdir(workdir, shim, CRUNNER, cgparent)
    return report("garden-shim create/run/destroy", n, secs, fails, first, before, after)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-n", type=int, default=100, help="cycles per soak (default 100)")
    ap.add_argument("--only", choices=("crunner", "shim"))
    a = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("soak: needs root")
    tmp = tempfile.mkdtemp(prefix=TAG + "-")
    ok = True
    try:
        if a.only in (None, "crunner"):
            ok &= soak_crunner(a.n, tmp)
        if a.only in (None, "shim"):
            ok &= soak_shim(a.n, tmp)
    finally:
        root = os.path.join(tmp, "root")  # never remove the state of a live container
        for cid in (os.listdir(root) if os.path.isdir(root) else []):
            run([CRUNNER, "--root", root, "delete", "--force", cid])
        if not mounts_under(tmp):
            shutil.rmtree(tmp, ignore_errors=True)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
