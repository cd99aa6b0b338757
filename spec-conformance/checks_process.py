"""config.md "Process", "POSIX process" and "Linux process" checks not in checks_config.py:
args[0] resolution (execvp semantics with process.env's PATH), capabilities with five
distinct sets, RLIM_INFINITY, oomScoreAdj unset/invalid, ioPriority and scheduler
(runtime-spec 1.2), apparmorProfile/selinuxLabel where unavailable, and invalid values."""

import os

from checks_config import capmask, caps_cfg, proc_status
from harness import Skip, expect, expect_eq
from registry import check

SPEC_12 = "runtime-spec 1.2"
RUNC_12 = "runc 1.1 implements runtime-spec 1.0.2; {} was added in runtime-spec 1.2 (runc 1.2)"


def prog(b, path, body):
    d = os.path.join(b.rootfs, os.path.dirname(path).lstrip("/"))
    os.makedirs(d, exist_ok=True)
    full = os.path.join(d, os.path.basename(path))
    with open(full, "w") as f:
        f.write("#!/bin/sh\n" + body + "\n")
    os.chmod(full, 0o755)


# ---- args[0] ------------------------------------------------------------------------------
@check("process.args-path-order", "config.md process.args[0]: execvp semantics: the first "
       "PATH entry (of process.env) holding the program wins")
def _(ctx):
    b = ctx.bundle("conf-prog")
    prog(b, "/opt/b/conf-prog", "echo from-b")
    prog(b, "/opt/a/conf-prog", "echo from-a")
    b.process["env"] = ["PATH=/opt/none:/opt/a:/opt/b:/bin"]
    expect_eq(ctx.run_ok(b).strip(), "from-a", "program run")


@check("process.args-slash", "config.md process.args[0]: execvp semantics: a name with a "
       "slash is not searched in PATH (relative to cwd)")
def _(ctx):
    b = ctx.bundle("./conf-prog")
    prog(b, "/opt/c/conf-prog", "echo from-cwd")
    prog(b, "/bin/conf-prog-decoy", "echo decoy")
    b.process["cwd"] = "/opt/c"
    expect_eq(ctx.run_ok(b).strip(), "from-cwd", "program run")


@check("process.args-path-from-env", "config.md process.args[0]: looked up with the PATH of "
       "process.env, not the runtime's (a program outside that PATH is not found)",
       negative=True)
def _(ctx):
    b = ctx.bundle("sh", "-c", "echo ran")
    b.process["env"] = ["PATH=/opt/empty"]
    r = ctx.run(b)
    expect(r.rc != 0 and "ran" not in r.out, f"`sh` was found outside process.env's PATH: "
           f"{r.brief()}")


@check("process.args-not-found", "runtime.md: a program that cannot be executed is an error "
       "(create or start fails, nothing runs)", negative=True)
def _(ctx):
    b = ctx.bundle("conf-no-such-program")
    r = ctx.run(b)
    expect(r.rc != 0, f"run of a missing program succeeded: {r.brief()}")


# ---- capabilities, rlimits, oomScoreAdj ------------------------------------------------------
@check("process.capabilities.distinct-sets", "config.md process.capabilities: five different "
       "sets (non-root: after execve permitted = effective = ambient; inheritable and "
       "bounding as configured)")
def _(ctx):
    b = ctx.bundle()
    bnd = ["CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_NET_RAW", "CAP_CHOWN"]
    prm = ["CAP_KILL", "CAP_NET_RAW", "CAP_NET_BIND_SERVICE"]
    inh = ["CAP_KILL", "CAP_NET_RAW"]
    b.process["user"] = {"uid": 1000, "gid": 1000}
    b.process["capabilities"] = caps_cfg(bnd, ["CAP_KILL"], prm, inh, ["CAP_KILL"])
    st = proc_status(ctx, b)
    expect_eq(int(st["CapBnd"], 16), capmask(bnd), "CapBnd")
    expect_eq(int(st["CapInh"], 16), capmask(inh), "CapInh")
    expect_eq(int(st["CapAmb"], 16), capmask(["CAP_KILL"]), "CapAmb")
    expect_eq(int(st["CapPrm"], 16), capmask(["CAP_KILL"]), "CapPrm")
    expect_eq(int(st["CapEff"], 16), capmask(["CAP_KILL"]), "CapEff")


@check("process.rlimits-infinity", "config.md process.rlimits: rlim_cur/rlim_max MUST match "
       "the configured value, RLIM_INFINITY (2^64-1) included")
def _(ctx):
    b = ctx.bundle()
    inf = 2 ** 64 - 1
    b.process["rlimits"] = [{"type": "RLIMIT_CORE", "soft": inf, "hard": inf},
                            {"type": "RLIMIT_STACK", "soft": 4 * 1024 * 1024, "hard": inf}]
    lim = {}
    for line in ctx.sh_ok(b, "cat /proc/self/limits").splitlines():
        f = line.split()
        if line.startswith("Max ") and len(f) > 4:
            lim[" ".join(f[:-3])] = (f[-3], f[-2])
    expect_eq(lim.get("Max core file size"), ("unlimited", "unlimited"), "Max core file size")
    expect_eq(lim.get("Max stack size"), (str(4 * 1024 * 1024), "unlimited"), "Max stack size")


@check("process.oomScoreAdj-unset", "config.md process.oomScoreAdj: if not set, the runtime "
       "MUST NOT change oom_score_adj (the container keeps the caller's value)")
def _(ctx):
    with open("/proc/self/oom_score_adj") as f:
        old = f.read().strip()
    want = "17" if old != "17" else "19"
    try:
        with open("/proc/self/oom_score_adj", "w") as f:
            f.write(want)
        b = ctx.bundle("cat", "/proc/self/oom_score_adj")
        b.process.pop("oomScoreAdj", None)
        got = ctx.run_ok(b).strip()
    finally:
        with open("/proc/self/oom_score_adj", "w") as f:
            f.write(old)
    expect_eq(got, want, "oom_score_adj of the container (the caller's is " + want + ")")


@check("process.oomScoreAdj-invalid", "config.md process.oomScoreAdj MUST be set to the given "
       "value; one the kernel rejects (2000 > 1000) MUST be an error (runtime.md lifecycle)",
       negative=True)
def _(ctx):
    b = ctx.bundle("true")
    b.process["oomScoreAdj"] = 2000
    ctx.run_fails(b, "oomScoreAdj 2000")


# ---- ioPriority, scheduler (runtime-spec 1.2) ------------------------------------------------


@check("process.ioPriority", "config.md process.ioPriority (" + SPEC_12 + "): the I/O "
       "scheduling class and priority of the process",
       xfail={"runc": RUNC_12.format("ioPriority")})
def _(ctx):
    b = ctx.bundle("ionice", "-p", "1")
    b.cfg["ociVersion"] = "1.2.0"
    b.process["ioPriority"] = {"class": "IOPRIO_CLASS_BE", "priority": 6}
    expect_eq(ctx.run_ok(b).strip(), "best-effort: prio 6", "ionice -p 1")


@check("process.ioPriority-invalid", "config.md process.ioPriority class: only IOPRIO_CLASS_RT, "
       "_BE, _IDLE; an invalid value MUST error (config.md valid values)", negative=True,
       xfail={"runc": RUNC_12.format("ioPriority")})
def _(ctx):
    b = ctx.bundle("true")
    b.cfg["ociVersion"] = "1.2.0"
    b.process["ioPriority"] = {"class": "IOPRIO_CLASS_CONFORMANCE", "priority": 1}
    ctx.run_fails(b, "an unknown ioPriority class")


def sched_of_init(ctx, b):
    """(policy, nice) of the container's pid 1 from /proc/1/stat (fields 41 and 19)."""
    out = ctx.sh_ok(b, "cat /proc/1/stat")
    f = out.rsplit(")", 1)[1].split()
    return int(f[38]), int(f[16])


@check("process.scheduler", "config.md process.scheduler (" + SPEC_12 + "): policy and nice "
       "of the process (SCHED_BATCH = 3, nice 7)",
       xfail={"runc": RUNC_12.format("scheduler")})
def _(ctx):
    b = ctx.bundle()
    b.cfg["ociVersion"] = "1.2.0"
    b.process["scheduler"] = {"policy": "SCHED_BATCH", "nice": 7}
    expect_eq(sched_of_init(ctx, b), (3, 7), "(policy, nice) of the container process")


@check("process.scheduler-invalid", "config.md process.scheduler policy: an invalid value "
       "MUST error (config.md valid values)", negative=True,
       xfail={"runc": RUNC_12.format("scheduler")})
def _(ctx):
    b = ctx.bundle("true")
    b.cfg["ociVersion"] = "1.2.0"
    b.process["scheduler"] = {"policy": "SCHED_CONFORMANCE"}
    ctx.run_fails(b, "an unknown scheduler policy")


# ---- LSMs where absent, invalid values -------------------------------------------------------
@check("process.apparmorProfile-unavailable", "config.md valid values: a profile requested "
       "where AppArmor is not available is unsupported and MUST error", negative=True)
def _(ctx):
    try:
        enabled = open("/sys/module/apparmor/parameters/enabled").read().strip() == "Y"
    except OSError:
        enabled = False
    if enabled:
        raise Skip("AppArmor is enabled on this host")
    b = ctx.bundle("true")
    b.process["apparmorProfile"] = "conformance-profile"
    ctx.run_fails(b, "an AppArmor profile without AppArmor")


@check("process.user-invalid", "config.md process.user.uid is a uint32: an invalid value "
       "(-1) MUST error (config.md valid values)", negative=True)
def _(ctx):
    b = ctx.bundle("true")
    b.process["user"] = {"uid": -1, "gid": 0}
    ctx.run_fails(b, "uid -1")


@check("process.rlimits-missing-hard", "config.md process.rlimits: soft and hard are "
       "REQUIRED; an entry without hard is invalid and MUST error", negative=True,
       xfail={"runc": "runc 1.1 takes a missing hard as 0 (the Go zero value) instead of "
                      "refusing the entry"})
def _(ctx):
    b = ctx.bundle("true")
    b.process["rlimits"] = [{"type": "RLIMIT_CORE", "soft": 0}]
    ctx.run_fails(b, "an rlimit without hard")
