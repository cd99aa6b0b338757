#!/usr/bin/env python3
"""Reliability under kill -9, corrupt state, hostile input and concurrent callers (issue 10,
defects 4-7). Every case here failed before its fix."""

import fcntl
import json
import os
import signal
import stat
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402


def leftovers(t, cid, bundle):
    """What is left of container cid: cgroup dirs, its state dir, processes in its rootfs."""
    return {
        "cgroups": h.cgroup_dirs_named(cid),
        "state": os.path.exists(os.path.join(t.root, cid)),
        "procs": h.processes_rooted_in(os.path.join(bundle, "rootfs")),
    }


def remove_cgroups(name):
    """Safety net for a runtime that lost a container with a cgroupsPath of ours: SIGKILL
    the processes in cgroups called name (by pid), then remove them."""
    dirs = h.cgroup_dirs_named(name)
    for d in dirs:
        for pid in h.read_file(os.path.join(d, "cgroup.procs")).split():
            try:
                os.kill(int(pid), signal.SIGKILL)
            except OSError:
                pass
    for d in dirs:
        h.wait_for(lambda d=d: not os.path.isdir(d) or h._rmdir(d), 10, 0.2)


def check_clean(t, what, cid, bundle):
    left = leftovers(t, cid, bundle)
    t.eq(f"{what}: no cgroup left", left["cgroups"], [])
    t.eq(f"{what}: no state directory left", left["state"], False)
    t.eq(f"{what}: no process left", left["procs"], [])


@h.case
def kill9_during_create_runtime_hook(t):
    """crunner killed while a createRuntime hook runs: delete --force cleans the cgroups and
    the init, and the id can be used again (before: "cgroup ... already exists")."""
    fifo, hookpid = t.path("hook.fifo"), t.path("hook.pid")
    os.mkfifo(fifo)
    hook = {"path": "/bin/sh",
            "args": ["sh", "-c", f"echo $$ > {hookpid}.tmp && mv {hookpid}.tmp {hookpid}; "
                                 f"read x < {fifo}"]}
    b = t.bundle("sleep", "100", edit=lambda c: c.setdefault("hooks", {}).update(
        createRuntime=[hook]))
    cid = t.cid("k9")
    out = open(t.path("create.out"), "wb")
    t.on_cleanup(out.close)
    p = t.start_bg(["create", "--bundle", b, cid], stdout=out, stderr=out,
                   stdin=subprocess.DEVNULL)
    t.require("the hook runs", h.wait_for(lambda: os.path.exists(hookpid), 30),
              h.read_file(t.path("create.out")))
    hp = int(h.read_file(hookpid).strip())
    t.on_cleanup(lambda: h.pid_alive(hp) and os.kill(hp, signal.SIGKILL))
    t.require("the cgroup exists while the hook runs", h.cgroup_dirs_named(cid) != [])
    p.send_signal(signal.SIGKILL)
    p.wait(timeout=30)
    os.kill(hp, signal.SIGKILL)  # the hook itself outlives crunner (it is the host's process)
    if t.crunner_only():
        t.eq("state reads creating", t.status(cid), "creating")
    t.ok("delete --force", t.rt(["delete", "--force", cid]))
    check_clean(t, "after delete --force", cid, b)
    # The id is usable again.
    t.edit(b, lambda c: c.pop("hooks"))
    rc, _, err = t.create(b, cid)
    t.check("create with the same id again", rc == 0, err)
    t.ok("delete --force again", t.rt(["delete", "--force", cid]))
    check_clean(t, "after the second delete", cid, b)


@h.case
def corrupt_state_delete_force(t):
    """delete --force with a corrupt state.json never reports success while the container's
    process lives: with the default cgroup it cleans from the cgroup; with a cgroupsPath it
    cannot know, and fails with the parse error, leaving the container alone."""
    if not t.crunner_only():
        return
    b = t.bundle("sleep", "100")
    cid = t.cid("corrupt")
    t.ok("run -d", t.rt(["run", "-d", "--bundle", b, cid]))
    pid = t.state(cid)["pid"]
    with open(os.path.join(t.root, cid, "state.json"), "w") as f:
        f.write('{"id": "' + cid + '", "pid": ')
    rc, out, err = t.rt(["delete", "--force", cid])
    t.check("never success with the process alive", not (rc == 0 and h.pid_alive(pid)),
            f"rc={rc} err={err!r}")
    t.eq("delete --force succeeds from the default cgroup", rc, 0)
    t.check("the init is gone", h.wait_for(lambda: not h.pid_alive(pid), 10))
    check_clean(t, "corrupt state, default cgroup", cid, b)

    # A cgroupsPath the id does not derive: the parse error, and no effect.
    cid2 = t.cid("corrupt2")
    b2 = t.bundle("sleep", "100", edit=lambda c: c["linux"].update(cgroupsPath=f"/{cid2}-cg"))
    t.on_cleanup(lambda: remove_cgroups(f"{cid2}-cg"))
    t.ok("run -d (cgroupsPath)", t.rt(["run", "-d", "--bundle", b2, cid2]))
    pid2 = t.state(cid2)["pid"]
    sfile = os.path.join(t.root, cid2, "state.json")
    good = h.read_file(sfile)
    with open(sfile, "w") as f:
        f.write("{garbage")
    rc, out, err = t.rt(["delete", "--force", cid2])
    t.check("never success with the process alive (cgroupsPath)",
            not (rc == 0 and h.pid_alive(pid2)), f"rc={rc} err={err!r}")
    t.fails("fails with the parse error", (rc, out, err), "corrupt state file")
    t.check("the container still runs", h.pid_alive(pid2))
    with open(sfile, "w") as f:
        f.write(good)
    t.ok("delete --force with the state restored", t.rt(["delete", "--force", cid2]))
    check_clean(t, "restored state", cid2, b2)


@h.case
def unbounded_reads(t):
    """Files a caller names must be regular and bounded: /dev/zero, a fifo or a huge file
    fail at once, naming the file (before: a hang growing until bad_alloc)."""
    if not t.crunner_only():
        return
    b = t.bundle("true")
    os.rename(os.path.join(b, "config.json"), os.path.join(b, "config.json.real"))
    os.symlink("/dev/zero", os.path.join(b, "config.json"))
    cid = t.cid("zero")
    rc, out, err = t.rt(["create", "--bundle", b, cid], timeout=30)
    t.fails("config.json -> /dev/zero fails", (rc, out, err), "not a regular file")
    t.contains("names config.json", err, "config.json")
    t.eq("nothing left (config)", os.path.exists(os.path.join(t.root, cid)), False)
    os.unlink(os.path.join(b, "config.json"))
    with open(os.path.join(b, "config.json"), "w") as f:  # valid JSON, 17 MiB of spaces
        f.write(h.read_file(os.path.join(b, "config.json.real")) + " " * (17 << 20))
    rc, out, err = t.rt(["create", "--bundle", b, cid], timeout=30)
    t.fails("a 17 MiB config.json fails", (rc, out, err), "larger than")
    os.rename(os.path.join(b, "config.json.real"), os.path.join(b, "config.json"))

    lb = t.bundle("sleep", "100")
    lid = t.cid("live")
    t.ok("run -d", t.rt(["run", "-d", "--bundle", lb, lid]))
    rc, out, err = t.rt(["exec", "--process", "/dev/zero", lid], timeout=30)
    t.fails("exec --process /dev/zero fails", (rc, out, err), "`/dev/zero`: not a regular file")
    fifo = t.path("proc.fifo")
    os.mkfifo(fifo)
    # A fifo is read as runc reads it (test_runc_compat: exec_process_from_pipe), but never
    # past the bound: a writer sending 17 MiB gets a clear error, not a growing read.
    writer = subprocess.Popen(["sh", "-c", 'head -c 17825792 /dev/zero > "$0"', fifo],
                              stdin=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    t.procs.append(writer)
    rc, out, err = t.rt(["exec", "--process", fifo, lid], timeout=30)
    t.fails("exec --process FIFO of 17 MiB fails", (rc, out, err), "larger than")
    writer.kill()
    writer.wait()
    rc, out, err = t.rt(["update", "--resources", "/dev/zero", lid], timeout=30)
    t.fails("update --resources /dev/zero fails", (rc, out, err), "not a regular file")
    t.ok("delete --force", t.rt(["delete", "--force", lid]))


@h.case
def exec_flag_bounds(t):
    """exec --user beyond 32 bits, -e without '=', --preserve-fds past the open fds and a
    --pid-file that is not a regular file are refused with the flag named."""
    if not t.crunner_only():
        return
    b = t.bundle("sleep", "100")
    cid = t.cid("flags")
    t.ok("run -d", t.rt(["run", "-d", "--bundle", b, cid]))
    for user in ("4294967296:0", "4294967295", "0:4294967296"):
        t.fails(f"--user {user}", t.rt(["exec", "--user", user, cid, "id", "-u"]),
                "out of range")
    t.fails("-e NOEQ", t.rt(["exec", "-e", "NOEQ", cid, "true"]),
            'invalid environment variable "NOEQ"')
    t.fails("--preserve-fds 100000", t.rt(["exec", "--preserve-fds", "100000", cid, "true"]),
            "is not open")
    fifo = t.path("pid.fifo")
    os.mkfifo(fifo)
    t.fails("exec --pid-file FIFO", t.rt(["exec", "-d", "--pid-file", fifo, cid, "true"]),
            "not a regular file")
    t.check("the fifo is still a fifo", stat.S_ISFIFO(os.lstat(fifo).st_mode))
    cid2 = t.cid("pidfifo")
    rc, _, err = t.create(b, cid2, extra=["--pid-file", fifo])
    t.check("create --pid-file FIFO fails", rc != 0 and "not a regular file" in err, err)
    t.check("the fifo is still a fifo after create", stat.S_ISFIFO(os.lstat(fifo).st_mode))
    t.eq("nothing left of the create", os.path.exists(os.path.join(t.root, cid2)), False)
    rc, out, err = t.rt(["exec", "--user", "1000:1000", cid, "id", "-u"])
    t.eq("a valid --user still works", (rc, out.strip()), (0, "1000"))
    t.ok("delete --force", t.rt(["delete", "--force", cid]))


def lock_waiters():
    """Number of blocked flock waiters in /proc/locks (lines with '->')."""
    return sum(1 for ln in h.read_file("/proc/locks").splitlines() if "->" in ln)


@h.case
def concurrent_deletes(t):
    """Three deletes of one stopped container: one wins, the others say "does not exist",
    and poststop runs once. The deletes are made to queue on the container's lock (held
    here), which is where they raced before."""
    if not t.crunner_only():
        return
    log = t.path("poststop.log")
    hook = {"path": "/bin/sh", "args": ["sh", "-c", f"echo x >> {log}"]}
    b = t.bundle("true", edit=lambda c: c.setdefault("hooks", {}).update(poststop=[hook]))
    cid = t.cid("del3")
    rc, _, err = t.create(b, cid)
    t.require("create", rc == 0, err)
    t.ok("start", t.rt(["start", cid]))
    t.require("stopped", t.wait_status(cid, "stopped"))
    before = lock_waiters()
    fd = os.open(os.path.join(t.root, cid), os.O_RDONLY | os.O_DIRECTORY)
    fcntl.flock(fd, fcntl.LOCK_EX)
    outs = []
    for i in range(3):
        o = open(t.path(f"del{i}.out"), "w+")
        t.on_cleanup(o.close)
        outs.append((t.start_bg(["delete", cid], stdout=o, stderr=o), o))
    queued = h.wait_for(lambda: lock_waiters() >= before + 3, 30)
    fcntl.flock(fd, fcntl.LOCK_UN)
    os.close(fd)
    t.check("the three deletes queued on the lock", queued)
    rcs, texts = [], []
    for p, o in outs:
        rcs.append(p.wait(timeout=60))
        o.seek(0)
        texts.append(o.read())
    t.eq("one delete succeeds", sorted(rcs), [0, 1, 1])
    t.eq("the others: does not exist",
         sum("does not exist" in x for r, x in zip(rcs, texts) if r != 0), 2)
    t.eq("poststop ran once", h.read_file(log).count("x"), 1)


@h.case
def memory_limit_too_low(t):
    """A memory limit below what setup needs names the limit (before: "receive sync
    message: connection reset by peer")."""
    if not t.crunner_only():
        return
    b = t.bundle("true", edit=lambda c: c["linux"].setdefault("resources", {}).update(
        memory={"limit": 1}))
    cid = t.cid("mem1")
    rc, _, err = t.create(b, cid)
    t.check("create fails", rc != 0, err)
    t.check("the error names the memory limit",
            "linux.resources.memory.limit" in err and "connection reset" not in err, err)
    check_clean(t, "after the failed create", cid, b)


@h.case
def rootfs_is_host_root(t):
    """A rootfs that resolves to / is refused up front, clearly (before: a pivot_root
    error late in setup)."""
    if not t.crunner_only():
        return
    b = t.bundle("true")
    os.rename(os.path.join(b, "rootfs"), os.path.join(b, "rootfs.real"))
    os.symlink("/", os.path.join(b, "rootfs"))

    def restore():  # before the harness looks for processes rooted in the bundle's rootfs
        os.unlink(os.path.join(b, "rootfs"))
        os.rename(os.path.join(b, "rootfs.real"), os.path.join(b, "rootfs"))
    t.on_cleanup(restore)
    cid = t.cid("slash")
    rc, _, err = t.create(b, cid)
    t.check("create fails", rc != 0, err)
    t.contains("the error says the rootfs is the host's root", err, "host's root directory")
    t.eq("nothing left", os.path.exists(os.path.join(t.root, cid)), False)
    t.eq("no cgroup left", h.cgroup_dirs_named(cid), [])


h.main()
