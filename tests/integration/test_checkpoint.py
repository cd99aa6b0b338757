#!/usr/bin/env python3
"""checkpoint / restore through criu's RPC interface (criu swrk), end to end.

Where `criu check` passes (the guest with its criu feature: the kernel modules criu needs
loaded; ctest "guest criu: ..." runs this file there), a container counting once a second
into a bind-mounted host directory is checkpointed (the container is gone, the image
written), restored (--detach, --pid-file: running with the restored pid) and goes on
counting from where it was (one start only), after a --leave-running checkpoint; a --pre-dump then a dump
with --parent-path; a failed restore names criu's log and leaves nothing behind.

Everywhere: a missing criu is named, and where criu itself fails (this host's kernel: vdso
detection) checkpoint fails with criu's own error and the log's path, and the container
keeps running. Nothing is timed: waits poll with generous timeouts.
"""

import json
import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

WAIT = 120  # seconds; the guest is an emulated machine (6-20x slower)


def criu_works():
    # The guest's criu feature ran `criu check` before the file started (and failed the run
    # when it did not pass): there, criu must work.
    if "criu" in os.environ.get("CRUNNER_GUEST_FEATURES", "").split(","):
        return True
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


def timed(what, fn, *args, **kw):
    """fn(*args, **kw), printing how long it took (a number for the notes, not a check)."""
    t0 = time.monotonic()
    r = fn(*args, **kw)
    print(f"# {what}: {time.monotonic() - t0:.2f} s", flush=True)
    return r


def no_cgroup_left(t, cid):
    t.eq(f"no cgroup of {cid} left", h.cgroup_dirs_named(cid), [])


@h.case
def missing_criu(t):
    if CRIU_OK:
        return  # the host covers it; the guest's time goes to the cases below
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


FAKE_CRIU = os.path.join(h.SOURCE_DIR, "tests", "fixtures", "fake-criu.py")


def fake_checkpoint(t, cid, mode, args):
    """checkpoint with tests/fixtures/fake-criu.py as --criu; returns (result, request)."""
    out = t.path(f"req-{mode}.json")
    env = dict(os.environ, FAKE_CRIU_MODE=mode, FAKE_CRIU_OUT=out)
    res = t.rt(["--criu", FAKE_CRIU, "checkpoint", *args, cid], env=env, timeout=WAIT)
    try:
        with open(out) as f:
            return res, json.load(f)
    except (OSError, ValueError):
        return res, {}


@h.case
def rpc_request(t):
    """crunner's request as criu receives it (a fake criu that speaks rpc.proto): runc's
    options, the bind mount as an external mount, descriptors.json; criu's refusal with its
    message, errno and log; a criu that dies; a successful dump removes the container."""
    if CRIU_OK:
        return  # the guest runs the real criu below
    b, data, cid = run_counter(t, "rpc")
    img, work = t.path("img"), t.path("work")
    res, req = fake_checkpoint(t, cid, "fail", ["--image-path", img, "--work-path", work,
                                                "--tcp-established", "--file-locks",
                                                "--manage-cgroups-mode", "full"])
    t.fails("criu's refusal fails the checkpoint", res, "fake criu failure")
    if t.crunner_only():
        t.contains("with criu's errno", res[2], "operation not permitted (errno 1)")
        t.contains("and its log", res[2], os.path.join(work, "dump.log"))
        t.contains("quoting the log's errors", res[2], "Error (fake.c:1): it broke")
    o = req.get("opts", {})
    t.eq("a DUMP request", req.get("type"), "DUMP")
    t.eq("of the init", o.get("pid"), (t.state(cid) or {}).get("pid"))
    t.eq("rooted at the rootfs", o.get("root"), os.path.join(b, "rootfs"))
    t.eq("log file name", o.get("log_file"), "dump.log")
    t.eq("runc's config file", o.get("config_file"), "/etc/criu/runc.conf")
    t.eq("flags passed", [o.get(k) for k in ("tcp_established", "file_locks",
                                             "manage_cgroups", "notify_scripts",
                                             "orphan_pts_master")], [True] * 5)
    t.eq("--manage-cgroups-mode full", o.get("manage_cgroups_mode"), "FULL")
    t.eq("net namespace always empty (runc)", o.get("empty_ns"), 0x40000000)
    t.check("the bind mount is external", {"key": "/data", "val": "/data"} in o.get("ext_mnt", []),
            f"{o.get('ext_mnt')}")
    t.check("the cgroup is frozen by criu", bool(o.get("freeze_cgroup")), f"{o}")
    fds = json.loads(h.read_file(os.path.join(img, "descriptors.json"), "null") or "null")
    t.check("descriptors.json lists the init's stdio", isinstance(fds, list) and len(fds) == 3
            and fds[1].startswith("pipe:"), f"{fds}")
    t.eq("still running after criu's refusal", t.status(cid), "running")
    res, _ = fake_checkpoint(t, cid, "die", ["--image-path", img])
    t.fails("a criu that dies is named", res, "criu exited with status 3 without answering")
    t.eq("still running after criu died", t.status(cid), "running")
    res, req = fake_checkpoint(t, cid, "ok", ["--image-path", img, "--pre-dump"])
    t.fails("--pre-dump asks criu for memory tracking first", res)
    t.eq("(a feature check)", req.get("type"), "FEATURE_CHECK")
    res, req = fake_checkpoint(t, cid, "ok", ["--image-path", img])
    t.ok("a dump criu reports done", res)
    t.eq("removes the container", t.state(cid), None)
    no_cgroup_left(t, cid)
    res = t.rt(["checkpoint", "--manage-cgroups-mode", "bogus", cid])
    t.fails("a bad --manage-cgroups-mode is refused", res)


@h.case
def checkpoint_restore(t):
    if not CRIU_OK:
        return
    b, data, cid = run_counter(t, "cr")
    first = t.path("img-leave")
    res = timed("checkpoint --leave-running", t.rt,
                ["checkpoint", "--leave-running", "--image-path", first, cid], timeout=WAIT * 2)
    t.require("checkpoint --leave-running", res[0] == 0, f"{res}")
    t.eq("still running after --leave-running", t.status(cid), "running")
    c0 = count(data)
    t.check("still counting", h.wait_for(lambda: count(data) > c0, WAIT) is True)
    t.check("an image is written", os.path.exists(os.path.join(first, "inventory.img")))
    img, work = t.path("img"), t.path("work")
    res = timed("checkpoint", t.rt, ["checkpoint", "--image-path", img, "--work-path", work, cid],
                timeout=WAIT * 2)
    t.require("checkpoint", res[0] == 0, f"{res}")
    c0 = count(data)
    t.check("the image is written", os.path.exists(os.path.join(img, "inventory.img")),
            f"{os.listdir(img)}")
    t.check("criu's log is in the work path", os.path.exists(os.path.join(work, "dump.log")))
    t.eq("the container is gone", t.state(cid), None)
    t.check("its directory is gone", not os.path.exists(os.path.join(t.root, cid)))
    no_cgroup_left(t, cid)
    pidf = t.path("restored.pid")
    res = timed("restore -d", restore, t, b, cid,
                ["--image-path", img, "--work-path", work, "--pid-file", pidf])
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
    # restore in the foreground (no -d): it waits for the init and returns its status
    i, o = pipes(t)
    p = t.start_bg(["restore", "--image-path", final, "--bundle", b, cid], stdin=i, stdout=o,
                   stderr=o)
    t.require("foreground restore: running",
              h.wait_for(lambda: t.status(cid) == "running" or p.poll() is not None,
                         WAIT * 2) is True and p.poll() is None, f"rc={p.poll()}")
    t.check("counts on", h.wait_for(lambda: count(data) > c0, WAIT) is True)
    t.eq("started once", starts(data), 1)
    t.ok("kill KILL", t.rt(["kill", cid, "KILL"]))
    try:
        rc = p.wait(timeout=WAIT)
    except subprocess.TimeoutExpired:
        rc = None
    t.eq("the foreground restore returns the init's status", rc, 128 + 9)
    t.eq("and deletes the container", t.state(cid), None)
    no_cgroup_left(t, cid)
    res = t.rt(["checkpoint", "--parent-path", "/abs", "--image-path", final, cid])
    t.fails("an absolute --parent-path is refused", res)


@h.case
def terminal(t):
    """A container with a terminal: criu restores its pty slave and sends a new master
    (orphan-pts-master), which restore passes to --console-socket, as runc does."""
    if not CRIU_OK:
        return
    data = t.path("data")
    os.makedirs(data)

    def edit(c):
        c["process"]["terminal"] = True
        c["mounts"].append({"destination": "/data", "type": "bind", "source": data,
                            "options": ["rbind", "rw"]})
    b = t.bundle("sh", "-c", COUNTER.replace("sleep 1;", "echo n=$i; sleep 1;"), edit=edit)
    cid = t.cid("tty")
    srv, sock = t.console_listener()
    t.require("run -d with a terminal",
              t.rt(["run", "-d", "--console-socket", sock, "--bundle", b, cid])[0] == 0)
    t.receive_console(srv)
    t.require("counts", h.wait_for(lambda: count(data) >= 2, WAIT) is True)
    img = t.path("img")
    res = t.rt(["checkpoint", "--image-path", img, cid], timeout=WAIT * 2)
    t.require("checkpoint of a terminal container", res[0] == 0, f"{res}")
    c0 = count(data)
    srv2, sock2 = t.console_listener("c2.sock")
    res = t.rt(["restore", "-d", "--console-socket", sock2, "--image-path", img, "--bundle", b,
                cid], timeout=WAIT * 2)
    t.require("restore with --console-socket", res[0] == 0, f"{res}")
    _, fds, _ = t.receive_console(srv2)
    t.eq("a new pty master was sent", len(fds), 1)
    t.eq("running", t.status(cid), "running")
    t.check("counts on", h.wait_for(lambda: count(data) > c0, WAIT) is True)
    got = b""
    if fds:
        os.set_blocking(fds[0], False)

        def more():
            nonlocal got
            try:
                got += os.read(fds[0], 4096)
            except BlockingIOError:
                pass
            return any(int(n) > c0 for n in re.findall(rb"n=(\d+)", got))
        t.check("its output reaches the new master", h.wait_for(more, WAIT) is True, f"{got!r}")
    t.ok("delete -f", t.rt(["delete", "-f", cid]))
    no_cgroup_left(t, cid)


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
    res = t.rt(["restore", "-d", "--image-path", img, "--bundle", b, cid], timeout=WAIT * 2)
    t.fails("restore of an empty image fails", res, "criu RESTORE failed")
    t.contains("names criu's log", res[2], os.path.join(img, "restore.log"))
    t.eq("nothing is left", t.state(cid), None)
    t.check("no state directory", not os.path.exists(os.path.join(t.root, cid)))
    no_cgroup_left(t, cid)
    res = t.rt(["restore", "--image-path", t.path("none"), "--bundle", b, cid])
    t.fails("a missing image path is named", res, t.path("none"))


h.main()
