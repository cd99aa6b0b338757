#!/usr/bin/env python3
"""Failures leave nothing behind: no <root>/<id>, no mounts, no processes, no cgroups; error
messages name the problem (crunner's own field-path wording checked only for crunner)."""

import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402


def mount(dest, typ, source, options=None):
    def edit(c):
        m = {"destination": dest, "type": typ, "source": source}
        if options:
            m["options"] = options
        c["mounts"].append(m)
    return edit


def proc(**kw):
    return lambda c: c["process"].update(**kw)


def linux(**kw):
    return lambda c: c["linux"].update(**kw)


def add_ns(n):
    return lambda c: c["linux"]["namespaces"].append(n)


def set_net_path(path):
    def edit(c):
        c["linux"]["namespaces"] = [n for n in c["linux"]["namespaces"]
                                    if n["type"] != "network"] + [{"type": "network",
                                                                   "path": path}]
    return edit


# name, process.args, config edit or raw config text, needles every runtime must print
# (any one of them), crunner-only regex (field-path wording of crunner's validator).
FAILURES = [
    ("missing_executable", ["/no/such/exe"], None,
     ["executable file not found", "no such file or directory"], None),
    ("missing_in_path", ["no-such-cmd"], None, ["executable file not found"], None),
    ("not_executable", ["/etc/passwd"], None, ["permission denied"], None),
    ("empty_args", [], proc(args=[]), [], r"process\.args: must not be empty"),
    ("bad_json", ["true"], '{"ociVersion": "1.0.2",\n  "process": {,}}', [],
     r"line 2, column \d+"),
    ("unknown_namespace", ["true"], add_ns({"type": "foo"}), [],
     r'linux\.namespaces\[\d+\]\.type: unknown namespace "foo"'),
    ("duplicate_namespace", ["true"], add_ns({"type": "pid"}), [],
     r'linux\.namespaces\[\d+\]\.type: duplicate namespace "pid"'),
    ("relative_cwd", ["true"], proc(cwd="rel/dir"), [], r"process\.cwd: must be an absolute"),
    ("unknown_rlimit", ["true"], proc(rlimits=[{"type": "RLIMIT_FOO", "soft": 1, "hard": 1}]),
     [], r'process\.rlimits\[0\]\.type: unknown rlimit "RLIMIT_FOO"'),
    ("bad_device_type", ["true"], linux(devices=[{"path": "/dev/x", "type": "z", "major": 1,
                                                  "minor": 1}]),
     [], r'linux\.devices\[0\]\.type: unknown device type "z"'),
    ("missing_rootfs", ["true"], lambda c: c["root"].update(path="no-rootfs"),
     ["no-rootfs"], None),
    ("bad_mount_source", ["true"], mount("/mnt", "bind", "/no/such/src", ["bind"]),
     ["/no/such/src"], None),
    ("bad_mount_type", ["true"], mount("/mnt", "nosuchfs", "x"), [], None),
    ("bad_sysctl", ["true"], linux(sysctl={"net.ipv4.no_such_key": "1"}),
     ["no_such_key"], None),
    ("missing_netns_path", ["true"], set_net_path("/no/such/ns"), ["/no/such/ns"], None),
    ("userns_without_mappings", ["true"], add_ns({"type": "user"}), [], None),
    ("relative_hook_path", ["true"], lambda c: c.update(hooks={"prestart": [
        {"path": "bin/true"}]}), ["bin/true"], r"hooks\.prestart\[0\]\.path: must be an absolute"),
    ("zero_hook_timeout", ["true"], lambda c: c.update(hooks={"prestart": [
        {"path": "/bin/true", "timeout": 0}]}), [],
     r"hooks\.prestart\[0\]\.timeout: must be greater than zero"),
    ("oom_score_adj_out_of_range", ["true"], proc(oomScoreAdj=2000), [],
     r"process\.oomScoreAdj: must be between -1000 and 1000"),
    ("missing_process", ["true"], lambda c: c.pop("process"), [], r"process: is required"),
    ("wrong_json_type", ["true"], proc(terminal="yes"), [],
     r"process\.terminal: must be a boolean"),
    ("failing_prestart_hook", ["true"],
     lambda c: c.update(hooks={"prestart": [{"path": "/bin/sh", "args": ["sh", "-c",
                                                                       "exit 1"]}]}),
     [], None),
    ("failing_createcontainer_hook", ["true"],
     lambda c: c.update(hooks={"createContainer": [{"path": "/bin/false"}]}), [], None),
]


def cgroups_of(pid):
    try:
        with open(f"/proc/{pid}/cgroup") as f:
            return f.read()
    except OSError:
        return ""


def check_nothing_left(t, cid, bundle, before_mounts, label):
    t.eq(f"{label}: state says missing", t.state(cid), None)
    t.check(f"{label}: no <root>/<id>", not os.path.exists(os.path.join(t.root, cid)),
            os.listdir(t.root))
    rootfs = os.path.realpath(os.path.join(bundle, "rootfs"))
    left = h.wait_for(lambda: not h.processes_rooted_in(rootfs), 30)
    t.check(f"{label}: no process left in the bundle", left, h.processes_rooted_in(rootfs))
    new = [ln for ln in h.mountinfo() if ln not in before_mounts
           and (t.dir in ln or cid in ln or h.RUNTIME in ln)]
    t.eq(f"{label}: no new mounts", new, [])
    t.eq(f"{label}: no cgroup named after the id", h.cgroup_dirs_named(cid), [])
    procs = [p for p in os.listdir("/proc") if p.isdigit() and cid in cgroups_of(p)
             and h.pid_alive(int(p))]  # a zombie not yet reaped by its parent is no leak
    t.eq(f"{label}: no process in a cgroup named after the id", procs, [])


def one_failure(t, spec, command):
    name, args, edit, needles, crunner_re = spec
    raw = edit if isinstance(edit, str) else None
    b = t.bundle(*(args or ["true"]), edit=None if raw or edit is None else edit)
    if raw:
        with open(os.path.join(b, "config.json"), "w") as f:
            f.write(raw)
    cid = t.cid(name[:12])
    before = set(h.mountinfo())
    if command == "create":
        rc, out, err = t.create(b, cid)
    else:
        rc, out, err = t.rt(["run", "--bundle", b, cid])
    label = f"{command} {name}"
    t.check(f"{label}: fails", rc not in (0, None), (rc, out, err))
    if command == "create":
        t.eq(f"{label}: exit code 1", rc, 1)
    text = out + err
    if needles:
        t.check(f"{label}: error mentions {' or '.join(needles)}",
                any(n in text for n in needles), text)
    if name == "bad_mount_source":  # the child's own words: the errno, not "EOF"
        t.contains(f"{label}: error carries the errno text", text.lower(),
                   "no such file or directory")
    if crunner_re and t.crunner_only():
        t.check(f"{label}: crunner wording /{crunner_re}/", re.search(crunner_re, text), text)
    check_nothing_left(t, cid, b, before, label)


@h.case
def create_failures(t):
    for spec in FAILURES:
        one_failure(t, spec, "create")


@h.case
def run_failures(t):
    for spec in FAILURES:
        if spec[0] in ("missing_executable", "bad_mount_source", "failing_prestart_hook",
                       "empty_args", "bad_sysctl"):
            one_failure(t, spec, "run")


@h.case
def failed_create_keeps_others(t):
    # A failed create with a duplicate id must not touch the existing container.
    b = t.bundle("sleep", "1000")
    cid = t.cid("keep")
    t.require("create", t.create(b, cid)[0] == 0)
    pid = t.state(cid)["pid"]
    bad = t.bundle("/no/such/exe")
    t.fails("duplicate id with a broken bundle", t.create(bad, cid))
    st = t.state(cid)
    t.check("original still created with its pid", st and st["status"] == "created"
            and st["pid"] == pid, st)
    t.check("original init alive", h.pid_alive(pid))
    t.ok("delete original", t.rt(["delete", "--force", cid]))
    t.check("its init is gone", h.wait_for(lambda: not h.pid_alive(pid), 30))
    t.eq("no cgroup left after delete", h.cgroup_dirs_named(cid), [])


@h.case
def delete_removes_everything(t):
    b = t.bundle("sleep", "1000")
    before = set(h.mountinfo())
    for how in ("created", "running", "stopped"):
        cid = t.cid(how)
        t.require(f"{how}: create", t.create(b, cid)[0] == 0)
        pid = t.state(cid)["pid"]
        if how != "created":
            t.ok(f"{how}: start", t.rt(["start", cid]))
        if how == "stopped":
            t.ok(f"{how}: kill", t.rt(["kill", cid, "9"]))
            t.require(f"{how}: stopped", t.wait_status(cid, "stopped"))
        if how != "stopped":  # (validates the leak detector itself)
            t.check(f"{how}: init found by its root directory",
                    pid in h.processes_rooted_in(os.path.join(b, "rootfs")))
        t.ok(f"{how}: delete --force", t.rt(["delete", "--force", cid]))
        t.check(f"{how}: init gone", h.wait_for(lambda: not h.pid_alive(pid), 30))
        check_nothing_left(t, cid, b, before, f"delete {how}")


@h.case
def delete_force_kills_every_process(t):
    # Without a pid namespace the container's other processes outlive the init unless the
    # runtime kills everything in the container's cgroup.
    def edit(c):
        c["linux"]["namespaces"] = [n for n in c["linux"]["namespaces"] if n["type"] != "pid"]
    b = t.bundle("sh", "-c", "sleep 1000 & sleep 1000 & wait", edit=edit)
    rootfs = os.path.join(b, "rootfs")
    cid = t.cid("forceall")
    t.require("run -d", t.rt(["run", "-d", "--bundle", b, cid])[0] == 0)
    t.check("three processes", h.wait_for(lambda: len(h.processes_rooted_in(rootfs)) == 3, 30),
            h.processes_rooted_in(rootfs))
    t.ok("delete --force", t.rt(["delete", "--force", cid]))
    t.check("every process gone", h.wait_for(lambda: not h.processes_rooted_in(rootfs), 30),
            h.processes_rooted_in(rootfs))
    t.eq("no cgroup left", h.cgroup_dirs_named(cid), [])



@h.case
def delete_force_with_pid_namespace_and_an_outsider(t):
    # A running container with a pid namespace of its own goes with its init (the kernel
    # kills the whole namespace, no freezer needed); a process moved into its cgroup from
    # outside that namespace is still killed through the cgroup, and the cgroup goes.
    b = t.bundle("sh", "-c", "sleep 1000 & sleep 1000 & wait")
    rootfs = os.path.join(b, "rootfs")
    cid = t.cid("pidns")
    t.require("run -d", t.rt(["run", "-d", "--bundle", b, cid])[0] == 0)
    t.check("three processes", h.wait_for(lambda: len(h.processes_rooted_in(rootfs)) == 3, 30),
            h.processes_rooted_in(rootfs))
    outsider = subprocess.Popen(["sleep", "1000"])
    t.on_cleanup(lambda: (outsider.kill(), outsider.wait()))
    dirs = h.cgroup_dirs_named(cid)
    t.require("the container has cgroups", dirs)
    for d in dirs:
        with open(os.path.join(d, "cgroup.procs"), "w") as f:
            f.write(str(outsider.pid))
    t.ok("delete --force", t.rt(["delete", "--force", cid]))
    t.check("every container process gone",
            h.wait_for(lambda: not h.processes_rooted_in(rootfs), 30),
            h.processes_rooted_in(rootfs))
    try:
        rc = outsider.wait(timeout=30)
    except subprocess.TimeoutExpired:
        rc = None
    t.eq("the outsider in its cgroup was killed", rc, -9)
    t.eq("no cgroup left", h.cgroup_dirs_named(cid), [])

if __name__ == "__main__":
    h.main()
