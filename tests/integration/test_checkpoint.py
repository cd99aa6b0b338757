#!/usr/bin/env python3
"""checkpoint / restore through criu's RPC interface (criu swrk), end to end.

Where `criu check` passes (the v2 guest with the kernel modules of tests/v2/criu-modules.sh
loaded; tests/v2/run-criu-v2.sh runs this file there), a container counting once a second
into a bind-mounted host directory is checkpointed (the container is gone, the image
written), restored (--detach, --pid-file: running with the restored pid) and goes on
counting from where it was (one start only); --leave-running; a --pre-dump then a dump
with --parent-path; a failed restore names criu's log and leaves nothing behind.

Everywhere: a missing criu is named, and where criu itself fails (this host's kernel: vdso
detection) checkpoint fails with criu's own error and the log's path, and the container
keeps running. Nothing is timed: waits poll with generous timeouts.
"""

import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

WAIT = 120  # seconds; the guest is an emulated machine (6-20x slower)


def criu_works():
    try:
        return subprocess.run(["criu", "check"], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, timeout=120).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


CRIU_OK = criu_works()
COUNTER = ("echo started >> /data/starts; i=0; "
           "while true; do i=$((i+1)); echo $i > /data/count.tmp; "
           "mv /data/count.tmp /data/count; sleep 1; done")


def counter_bundle(t):
    """A bundle whose process counts into <case dir>/data/count (a bind mount)."""
    data = t.path("data")
    os.makedirs(data, exist_ok=True)

    def edit(c):
        c["mounts"].append({"destination": "/data", "type": "bind", "source": data,
                            "options": ["rbind", "rw"]})
    return t.bundle("sh", "-c", COUNTER, edit=edit), data


def count(data):
    try:
        with open(os.path.join(data, "count")) as f:
            return int(f.read().strip() or 0)
    except (OSError, ValueError):
        return 0


def starts(data):
    return (h.read_file(os.path.join(data, "starts")) or "").count("started")


def pipes(t):
    """stdin/stdout/stderr for a detached container: pipes whose other ends we hold (criu
    restores pipes by handing over the restoring caller's fds, as with runc)."""
    r0, w0 = os.pipe()
    r1, w1 = os.pipe()
    t.on_cleanup(lambda: [os.close(f) for f in (r0, w0, r1, w1)])
    return r0, w1


def run_counter(t, name):
    b, data = counter_bundle(t)
    cid = t.cid(name)
    i, o = pipes(t)
    with os.fdopen(os.dup(i), "rb") as si, os.fdopen(os.dup(o), "wb") as so:
        res = t.rt(["run", "-d", "--bundle", b, cid], stdin=si, stdout=so, stderr=so)
    t.require("run -d the counter", res[0] == 0, f"{res}")
    t.require("the counter counts", h.wait_for(lambda: count(data) >= 2, WAIT) is True,
              f"count={count(data)}")
    return b, data, cid


def restore(t, b, cid, extra=()):
    i, o = pipes(t)
    with os.fdopen(os.dup(i), "rb") as si, os.fdopen(os.dup(o), "wb") as so:
        return t.rt(["restore", "-d", "--bundle", b, *extra, cid], stdin=si, stdout=so,
                    stderr=so, timeout=WAIT * 2)


def no_cgroup_left(t, cid):
    t.eq(f"no cgroup of {cid} left", h.cgroup_dirs_named(cid), [])


@h.case
def missing_criu(t):
    b, data, cid = run_counter(t, "nocriu")
    res = t.rt(["--criu", "/nonexistent/criu", "checkpoint", "--image-path", t.path("img"),
                cid])
    t.fails("checkpoint with a missing criu fails", res, "/nonexistent/criu")
    if t.crunner_only():
        t.contains("names the flag", res[2], "--criu")
    t.eq("the container still runs", t.status(cid), "running")
    t.ok("delete -f", t.rt(["delete", "-f", cid]))


@h.case
def criu_failure_named(t):
    if CRIU_OK:
        return  # the guest: see the cases below
    b, data, cid = run_counter(t, "hostfail")
    img = t.path("img")
    res = t.rt(["checkpoint", "--image-path", img, cid], timeout=WAIT)
    t.fails("checkpoint fails where criu cannot run", res)
    if t.crunner_only():
        t.contains("names criu's failure", res[2], "criu DUMP failed")
        t.contains("names criu's log", res[2], os.path.join(img, "dump.log"))
        log = h.read_file(os.path.join(img, "dump.log"))
        first_error = next((ln for ln in log.splitlines() if "Error" in ln), None)
        t.check("quotes criu's own error", first_error and
                first_error.split(")", 1)[-1].strip() in res[2], f"{first_error!r} / {res[2]!r}")
    t.eq("the container still runs", t.status(cid), "running")
    c0 = count(data)
    t.check("and counts", h.wait_for(lambda: count(data) > c0, WAIT) is True)
    t.ok("delete -f", t.rt(["delete", "-f", cid]))


@h.case
def checkpoint_restore(t):
    if not CRIU_OK:
        return
    b, data, cid = run_counter(t, "cr")
    img, work = t.path("img"), t.path("work")
    res = t.rt(["checkpoint", "--image-path", img, "--work-path", work, cid], timeout=WAIT * 2)
    t.require("checkpoint", res[0] == 0, f"{res}")
    c0 = count(data)
    t.check("the image is written", os.path.exists(os.path.join(img, "inventory.img")),
            f"{os.listdir(img)}")
    t.check("criu's log is in the work path", os.path.exists(os.path.join(work, "dump.log")))
    t.eq("the container is gone", t.state(cid), None)
    t.check("its directory is gone", not os.path.exists(os.path.join(t.root, cid)))
    no_cgroup_left(t, cid)
    pidf = t.path("restored.pid")
    res = restore(t, b, cid, ["--image-path", img, "--work-path", work, "--pid-file", pidf])
    t.require("restore -d", res[0] == 0, f"{res}")
    st = t.state(cid) or {}
    t.eq("running after restore", st.get("status"), "running")
    t.eq("state pid is the pid file's", str(st.get("pid")), h.read_file(pidf))
    t.check("the restored pid is alive", h.pid_alive(st.get("pid", 0)))
    t.check("it counts on from the checkpoint",
            h.wait_for(lambda: count(data) > c0, WAIT) is True, f"{count(data)} <= {c0}")
    t.eq("started once (restored, not restarted)", starts(data), 1)
    t.check("restore.log in the work path", os.path.exists(os.path.join(work, "restore.log")))
    t.ok("kill", t.rt(["kill", cid, "KILL"]))
    t.check("stopped", t.wait_status(cid, "stopped", WAIT))
    t.ok("delete", t.rt(["delete", cid]))
    t.eq("gone", t.state(cid), None)
    no_cgroup_left(t, cid)


@h.case
def leave_running(t):
    if not CRIU_OK:
        return
    b, data, cid = run_counter(t, "leave")
    img = t.path("img")
    res = t.rt(["checkpoint", "--leave-running", "--image-path", img, cid], timeout=WAIT * 2)
    t.require("checkpoint --leave-running", res[0] == 0, f"{res}")
    t.eq("still running", t.status(cid), "running")
    c0 = count(data)
    t.check("still counting", h.wait_for(lambda: count(data) > c0, WAIT) is True)
    t.check("image written", os.path.exists(os.path.join(img, "inventory.img")))
    t.ok("delete -f", t.rt(["delete", "-f", cid]))
    no_cgroup_left(t, cid)


@h.case
def pre_dump_then_dump(t):
    if not CRIU_OK:
        return
    b, data, cid = run_counter(t, "predump")
    parent, final = t.path("img", "parent"), t.path("img", "final")
    res = t.rt(["checkpoint", "--pre-dump", "--image-path", parent, cid], timeout=WAIT * 2)
    t.require("checkpoint --pre-dump", res[0] == 0, f"{res}")
    t.eq("still running after the pre-dump", t.status(cid), "running")
    t.check("pre-dump pages written", any(n.startswith("pages-") for n in os.listdir(parent)),
            f"{os.listdir(parent)}")
    res = t.rt(["checkpoint", "--parent-path", "../parent", "--image-path", final, cid],
               timeout=WAIT * 2)
    t.require("checkpoint --parent-path ../parent", res[0] == 0, f"{res}")
    t.check("the dump links its parent", os.path.islink(os.path.join(final, "parent")))
    t.eq("gone after the dump", t.state(cid), None)
    c0 = count(data)
    res = restore(t, b, cid, ["--image-path", final])
    t.require("restore from the incremental dump", res[0] == 0, f"{res}")
    t.eq("running", t.status(cid), "running")
    t.check("counts on", h.wait_for(lambda: count(data) > c0, WAIT) is True)
    t.eq("started once", starts(data), 1)
    t.ok("delete -f", t.rt(["delete", "-f", cid]))
    no_cgroup_left(t, cid)
    res = t.rt(["checkpoint", "--parent-path", "/abs", "--image-path", final, cid])
    t.fails("an absolute --parent-path is refused", res)


@h.case
def restore_failure_cleans_up(t):
    if not CRIU_OK:
        return
    b, data = counter_bundle(t)
    cid = t.cid("badimg")
    img = t.path("img")
    os.makedirs(img)
    with open(os.path.join(img, "descriptors.json"), "w") as f:
        f.write('["/dev/null", "/dev/null", "/dev/null"]')
    res = restore(t, b, cid, ["--image-path", img])
    t.fails("restore of an empty image fails", res, "criu RESTORE failed")
    t.contains("names criu's log", res[2], os.path.join(img, "restore.log"))
    t.eq("nothing is left", t.state(cid), None)
    t.check("no state directory", not os.path.exists(os.path.join(t.root, cid)))
    no_cgroup_left(t, cid)
    res = t.rt(["restore", "--image-path", t.path("none"), "--bundle", b, cid])
    t.fails("a missing image path is named", res, t.path("none"))


h.main()
