#!/usr/bin/env python3
"""--debug: one line per phase with its duration, in runc's log format (text or JSON per
--log-format), to --log or to stderr without --log; phases present and in order."""

import json
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

# The phases of `run` in the order they happen (the init's own are reported by the parent
# when the init is ready, prefixed "init:").
RUN_PHASES = ["startup", "parse", "prepare", "state-dir", "cgroups", "clone", "cgroup-join",
              "wait-init", "init:wait-parent", "init:namespaces", "init:mounts", "init:pivot",
              "init:credentials", "state", "exec", "wait", "load-state", "cgroups", "state",
              "finish"]
TEXT = re.compile(r'^time="[^"]+" level=debug msg="phase (\S+) took ([0-9.]+)ms" '
                  r'phase=(\S+) ms=([0-9.]+)$')


def in_order(got, want):
    """True when want is a subsequence of got."""
    it = iter(got)
    return all(any(x == w for x in it) for w in want)


@h.case
def json_log_lists_every_phase_in_order(t):
    t.crunner_only()
    b = t.bundle("true")
    log = t.path("log.json")
    rc, out, err = t.rt(["run", "--bundle", b, t.cid("json")],
                        global_args=["--debug", "--log", log, "--log-format", "json"])
    t.eq("run exits 0", rc, 0)
    lines = [json.loads(x) for x in h.read_file(log).splitlines() if x.strip()]
    phases = [x for x in lines if "phase" in x]
    names = [x["phase"] for x in phases]
    t.check("phases present and ordered", in_order(names, RUN_PHASES), f"got {names}")
    t.check("every line is a debug line with msg and time",
            all(x.get("level") == "debug" and x.get("msg") and x.get("time") for x in lines),
            str(lines[:3]))
    t.check("durations are non-negative numbers",
            all(isinstance(x["ms"], (int, float)) and x["ms"] >= 0 for x in phases), str(phases))
    t.check("init phases sit between wait-init and state",
            names.index("init:mounts") > names.index("wait-init") and
            names.index("init:mounts") < names.index("state"), str(names))
    t.check("nothing on stderr when --log is given", "phase" not in err, err)


@h.case
def text_to_stderr_without_log(t):
    t.crunner_only()
    b = t.bundle("true")
    rc, out, err = t.rt(["run", "--bundle", b, t.cid("text")], global_args=["--debug"])
    t.eq("run exits 0", rc, 0)
    got = [TEXT.match(x) for x in err.splitlines()]
    names = [m.group(1) for m in got if m]
    t.check("text phase lines on stderr, in order", in_order(names, RUN_PHASES),
            f"stderr: {err[:600]}")
    t.check("msg and field agree", all(m.group(1) == m.group(3) for m in got if m), err[:300])
    t.check("the re-exec is a phase when it happens (read-write binary)",
            "reexec" in names or os.statvfs(h.RUNTIME).f_flag & os.ST_RDONLY, str(names))


@h.case
def create_start_delete_exec_phases(t):
    t.crunner_only()
    b = t.bundle("sleep", "60")
    cid = t.cid("cycle")
    log = t.path("cycle.json")
    g = ["--debug", "--log", log, "--log-format", "json"]
    t.ok("create", t.rt(["create", "--bundle", b, cid], global_args=g))
    t.ok("start", t.rt(["start", cid], global_args=g))
    t.ok("exec", t.rt(["exec", cid, "true"], global_args=g))
    t.ok("delete", t.rt(["delete", "--force", cid], global_args=g))
    names = [json.loads(x).get("phase") for x in h.read_file(log).splitlines() if x.strip()]
    names = [n for n in names if n]
    want = (["parse", "cgroups", "clone", "wait-init", "init:mounts", "state", "finish"] +
            ["load-state", "exec", "poststart", "finish"] +
            ["load-state", "prepare", "clone", "cgroup-join", "exec", "wait", "finish"] +
            ["load-state", "kill", "cgroups", "state", "finish"])
    t.check("create, start, exec and delete phases in order", in_order(names, want), str(names))


@h.case
def reexec_whatever_the_global_flags(t):
    # main() decides the read-only re-exec from argv before building the CLI (the command
    # word after the global flags, skipping the values of --root, --log, --log-format,
    # --rootless, --criu). Every spelling runc accepts must still reach the re-exec, for
    # run, create and exec; a flag that look does not know falls back to the parser's
    # decision. Checked through the "reexec" phase the new image reports.
    if not t.crunner_only() or os.statvfs(h.RUNTIME).f_flag & os.ST_RDONLY:
        return  # another runtime, or a binary on a read-only mount: no re-exec to see
    b = t.bundle("true")
    spellings = [
        ["--log-format", "text", "--debug", "--rootless", "false", "--criu", "criu",
         "--root", t.root],
        ["-log-format", "text", "-debug", "-root", t.root],
        ["--log-format=text", "--debug", "--root=" + t.root, "--systemd-cgroup=false"],
    ]
    for n, g in enumerate(spellings):
        rc, out, err = t.rt(["run", "--bundle", b, t.cid(f"sp{n}")], global_args=g, root=False)
        names = [m.group(1) for m in (TEXT.match(x) for x in err.splitlines()) if m]
        t.check(f"run {g}: exits 0 after a re-exec", rc == 0 and "reexec" in names,
                f"rc {rc}, phases {names}, stderr {err[:400]}")
    lb = t.bundle("sleep", "60")
    cid = t.cid("spc")
    rc, out, err = t.rt(["create", "--bundle", lb, cid], global_args=["-debug"])
    t.check("create: re-exec", rc == 0 and "phase reexec" in err, err[:400])
    rc, out, err = t.rt(["exec", cid, "true"], global_args=["--log-format", "text", "--debug"])
    t.check("exec: re-exec", rc == 0 and "phase reexec" in err, err[:400])
    rc, out, err = t.rt(["state", cid], global_args=["--debug"])
    t.check("state: no re-exec", rc == 0 and "phase reexec" not in err, err[:400])
    t.ok("delete", t.rt(["delete", "--force", cid]))


@h.case
def no_debug_no_lines(t):
    t.crunner_only()
    b = t.bundle("true")
    log = t.path("quiet.log")
    rc, out, err = t.rt(["run", "--bundle", b, t.cid("quiet")], global_args=["--log", log])
    t.eq("run exits 0", rc, 0)
    t.eq("no log lines without --debug", h.read_file(log), "")
    t.eq("nothing on stderr", err, "")


h.main()
