#!/usr/bin/env python3
"""AppArmor on real containers: process.apparmorProfile confines the init, exec inherits it
and --apparmor overrides it, a denied action fails, `features` and `check` tell the truth,
a profile that is not loaded is refused before anything exists, and restore --lsm-profile.

Where AppArmor is enabled (the guest's apparmor feature: ctest "guest apparmor: ..."), two
test profiles are loaded with apparmor_parser (and removed at the end): crunner-test-deny
allows everything but writes under /data; crunner-test-other allows everything. The
container's /data is a tmpfs, so the same write succeeds without a profile. Labels are read
from /proc/PID/attr/current, outside and inside. With the guest's criu feature too, a
confined container is checkpointed and restored (its label kept, or replaced by
--lsm-profile apparmor:NAME).

Everywhere else (this project's host has no AppArmor): `features` and `check` say it is not
enabled, and a config naming a profile fails with a clear error, leaving nothing behind; so
does restore --lsm-profile. In the guest, AppArmor missing is a failure, never a skip.
"""

import json
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

FEATURES = os.environ.get("CRUNNER_GUEST_FEATURES", "").split(",")
SECURITYFS = "/sys/kernel/security/apparmor"
ENABLED = h.read_file("/sys/module/apparmor/parameters/enabled").startswith("Y")
AA = ENABLED and os.path.exists(SECURITYFS + "/profiles")
CRIU = "criu" in FEATURES
WAIT = 120  # seconds; the guest is an emulated machine (6-20x slower)
DENY, OTHER, ABSENT = "crunner-test-deny", "crunner-test-other", "crunner-test-absent"
RULES = "file, capability, network, signal, ptrace, mount, umount, pivot_root, unix,"
PROFILES = {
    DENY: f"profile {DENY} flags=(attach_disconnected,mediate_deleted) {{ {RULES} "
          "deny /data/** w, }\n",
    OTHER: f"profile {OTHER} flags=(attach_disconnected,mediate_deleted) {{ {RULES} }}\n",
}


def parser(*args, text=None):
    return subprocess.run(["apparmor_parser", *args], input=text, capture_output=True,
                          text=True, timeout=WAIT)


def loaded_profiles():
    """{name: mode} from securityfs's list."""
    out = {}
    for ln in h.read_file(SECURITYFS + "/profiles").splitlines():
        name, _, mode = ln.rpartition(" (")
        out[name] = mode.rstrip(")")
    return out


def label(pid):
    return h.read_file(f"/proc/{pid}/attr/current").strip("\0\n ")


def data_bundle(t, *args, profile=None):
    """A bundle with a tmpfs at /data and process.apparmorProfile = profile."""
    def edit(c):
        c["mounts"].append({"destination": "/data", "type": "tmpfs", "source": "tmpfs",
                            "options": ["nosuid", "nodev", "mode=1777"]})
        if profile:
            c["process"]["apparmorProfile"] = profile
    return t.bundle(*args, edit=edit)


def pipe_stdio(t):
    """stdin and stdout/stderr files for a detached container: pipes whose other ends we
    hold (criu restores pipes by handing over the restoring caller's fds)."""
    r0, w0 = os.pipe()
    r1, w1 = os.pipe()
    t.on_cleanup(lambda: [os.close(f) for f in (r0, w0, r1, w1)])
    return os.fdopen(os.dup(r0), "rb"), os.fdopen(os.dup(w1), "wb")


def started(t, name, profile):
    """A detached container under profile, sleeping, its stdio on pipes; returns (id, init
    pid)."""
    cid = t.cid(name)
    b = data_bundle(t, "sleep", "100000", profile=profile)
    i, o = pipe_stdio(t)
    with i, o:
        res = t.rt(["run", "-d", "--bundle", b, cid], timeout=WAIT, stdin=i, stdout=o, stderr=o)
    t.require("run -d", res[0] == 0, res)
    st = t.state(cid)
    t.require("state has the init's pid", st and st.get("pid"), st)
    return cid, st["pid"]


def nothing_left(t, cid, bundle):
    """No state directory, cgroup, process or mount of the container named cid."""
    t.check("no state directory", not os.path.exists(os.path.join(t.root, cid)),
            os.listdir(t.root))
    t.eq("no cgroup", h.cgroup_dirs_named(cid), [])
    rootfs = os.path.join(bundle, "rootfs")
    t.eq("no process in its rootfs", h.processes_rooted_in(rootfs), [])
    t.check("no mount of its rootfs", rootfs not in h.mountinfo(), rootfs)


def check_finding():
    """The apparmor line of `crunner check` (crunner only: runc has no such command)."""
    r = h.run([h.RUNTIME, "check"], timeout=WAIT)
    return next((ln for ln in r[1].splitlines() if ln.split()[1:2] == ["apparmor"]), "")


# ---- everywhere -------------------------------------------------------------------------

@h.case
def setup(t):
    if "apparmor" in FEATURES:
        t.require("the guest's apparmor feature gives AppArmor with securityfs", AA,
                  f"enabled={ENABLED}, {SECURITYFS}/profiles exists: "
                  f"{os.path.exists(SECURITYFS + '/profiles')}")
    if not AA:
        print("# AppArmor is not enabled here: what a host without it must do (the guest "
              "runs the rest: ctest \"guest apparmor: ...\")", flush=True)
        return
    for name, text in PROFILES.items():
        r = parser("-r", "-K", text=text)
        t.require(f"apparmor_parser loads {name}", r.returncode == 0, r.stderr)
    t.eq("loaded in enforce mode", {n: loaded_profiles().get(n) for n in PROFILES},
         {DENY: "enforce", OTHER: "enforce"})
    t.check(f"{ABSENT} is not loaded", ABSENT not in loaded_profiles())


@h.case
def features_and_check(t):
    if not t.crunner_only():
        return  # runc 1.1.5 has no `features` or `check`
    rc, out, err = t.rt(["features"], root=False)
    t.require("features", rc == 0, err)
    t.eq("features: linux.apparmor.enabled", json.loads(out)["linux"].get("apparmor"),
         {"enabled": ENABLED})
    line = check_finding()
    if AA:
        t.check("check: apparmor ok, enabled, profiles counted",
                re.match(r"ok +apparmor +enabled: \d+ profiles loaded", line), line)
    else:
        t.check("check: apparmor not enabled", "not enabled on this host" in line, line)


# ---- a host without AppArmor ------------------------------------------------------------

def refused_without_apparmor(t):
    rc, out, err = t.rt(["run", "--bundle", data_bundle(t, "echo", "unconfined"),
                         t.cid("noprof")], timeout=WAIT)
    t.eq("no profile asked: runs", (rc, out), (0, "unconfined\n"))
    cid = t.cid("noaa")
    b = data_bundle(t, "echo", "confined", profile=DENY)
    res = t.rt(["run", "--bundle", b, cid], timeout=WAIT)
    t.fails("run with a profile fails", res)
    t.check("the container never ran", "confined" not in res[1], res)
    if t.crunner_only():
        t.contains("and says AppArmor is not enabled", res[2],
                   f'process.apparmorProfile: apparmor profile "{DENY}" requested but AppArmor '
                   "is not enabled on this host")
    nothing_left(t, cid, b)
    cid, pid = started(t, "noaaexec", None)
    res = t.rt(["exec", "--apparmor", DENY, cid, "true"], timeout=WAIT)
    t.fails("exec --apparmor fails", res)
    if t.crunner_only():
        t.contains("saying why", res[2], "AppArmor is not enabled on this host")
    rc, out, _ = t.rt(["ps", "--format", "json", cid])
    t.eq("no process was added to the container", (rc, json.loads(out or "[]")), (0, [pid]))
    t.ok("exec without a profile works", t.rt(["exec", cid, "true"], timeout=WAIT))


def restore_lsm_refused_without_apparmor(t):
    """--lsm-profile apparmor:NAME is refused before criu runs (no image is needed)."""
    if not t.crunner_only():
        return
    cid = t.cid("rst")
    b = data_bundle(t, "true")
    res = t.rt(["restore", "--bundle", b, "--image-path", t.path("none"), "--lsm-profile",
                f"apparmor:{DENY}", "-d", cid], timeout=WAIT)
    t.fails("refused", res, f'--lsm-profile: apparmor profile "{DENY}" requested but '
                            "AppArmor is not enabled on this host")
    nothing_left(t, cid, b)
    res = t.rt(["restore", "--bundle", b, "--lsm-profile", "smack:x", cid], timeout=WAIT)
    t.fails("an unknown type is named", res,
            '--lsm-profile: "smack:x": want apparmor:PROFILE or selinux:LABEL')


# ---- AppArmor enabled -------------------------------------------------------------------

def init_and_exec_labels(t):
    cid, pid = started(t, "labels", DENY)
    t.eq("the init's label (outside)", label(pid), f"{DENY} (enforce)")
    rc, out, err = t.rt(["exec", cid, "cat", "/proc/self/attr/current"], timeout=WAIT)
    t.eq("exec inherits the container's profile", (rc, out.strip("\0\n")),
         (0, f"{DENY} (enforce)"))
    rc, out, err = t.rt(["exec", cid, "cat", "/proc/1/attr/current"], timeout=WAIT)
    t.eq("the init's label (inside)", (rc, out.strip("\0\n")), (0, f"{DENY} (enforce)"))
    rc, out, err = t.rt(["exec", "--apparmor", OTHER, cid, "cat", "/proc/self/attr/current"],
                        timeout=WAIT)
    t.eq("exec --apparmor overrides it", (rc, out.strip("\0\n")), (0, f"{OTHER} (enforce)"))
    # A process.json without apparmorProfile inherits too with crunner; runc 1.1.5 runs it
    # unconfined (seen in the guest: Docker sets the profile in every exec's process.json
    # because of that, moby#36456). With one, it is used.
    proc = t.config(t.bundles[-1])["process"]
    proc.pop("apparmorProfile", None)
    proc["args"] = ["cat", "/proc/self/attr/current"]
    pfile = t.path("process.json")
    for want, prof in ((DENY, None), (OTHER, OTHER)):
        if not prof and not t.crunner_only():
            continue
        if prof:
            proc["apparmorProfile"] = prof
        with open(pfile, "w") as f:
            json.dump(proc, f)
        rc, out, err = t.rt(["exec", "--process", pfile, cid], timeout=WAIT)
        t.eq(f"exec --process with apparmorProfile={prof}", (rc, out.strip("\0\n")),
             (0, f"{want} (enforce)"))


def denied_write(t):
    script = "echo x > /data/f && cat /data/f"
    rc, out, err = t.rt(["run", "--bundle", data_bundle(t, "sh", "-c", script, profile=DENY),
                         t.cid("deny")], timeout=WAIT)
    t.check("the write the profile denies fails inside", rc != 0 and "Permission denied" in err,
            (rc, out, err))
    for prof in (None, OTHER):
        rc, out, err = t.rt(["run", "--bundle", data_bundle(t, "sh", "-c", script, profile=prof),
                             t.cid("allow")], timeout=WAIT)
        t.eq(f"and succeeds under {prof or 'no profile'}", (rc, out), (0, "x\n"))
    # exec: inherited, the write is denied; under --apparmor OTHER it is allowed
    cid, _ = started(t, "execdeny", DENY)
    res = t.rt(["exec", cid, "sh", "-c", "echo y > /data/g"], timeout=WAIT)
    t.fails("an exec'd process's write is denied too", res, "Permission denied")
    res = t.rt(["exec", "--apparmor", OTHER, cid, "sh", "-c", script], timeout=WAIT)
    t.eq("and allowed with exec --apparmor", (res[0], res[1]), (0, "x\n"))


def not_loaded(t):
    cid = t.cid("absent")
    b = data_bundle(t, "true", profile=ABSENT)
    res = t.rt(["run", "--bundle", b, cid], timeout=WAIT)
    t.fails("run with a profile that is not loaded fails", res)
    if t.crunner_only():
        t.contains("saying so", res[2],
                   f'process.apparmorProfile: apparmor profile "{ABSENT}" is not loaded')
    nothing_left(t, cid, b)
    # exec --apparmor with it: refused, and the container is untouched
    running, pid = started(t, "absentexec", DENY)
    before = sorted(os.listdir(f"/proc/{pid}/task"))
    res = t.rt(["exec", "--apparmor", ABSENT, running, "sleep", "100000"], timeout=WAIT)
    t.fails("exec --apparmor with it fails", res)
    if t.crunner_only():
        t.contains("saying so", res[2], f'apparmor profile "{ABSENT}" is not loaded')
    rc, out, _ = t.rt(["ps", "--format", "json", running])
    t.eq("no process was added to the container", (rc, json.loads(out or "[]")), (0, [pid]))
    t.eq("the init is unchanged", (t.status(running), sorted(os.listdir(f"/proc/{pid}/task"))),
         ("running", before))
    # Without securityfs the list cannot be read: the kernel refuses the profile at exec,
    # and the init's error says the same; nothing is left either.
    cid = t.cid("nosecfs")
    b = data_bundle(t, "true", profile=ABSENT)
    res = h.run(["unshare", "-m", "--propagation", "private", "sh", "-c",
                 'umount /sys/kernel/security && exec "$@"', "sh", h.RUNTIME, "--root", t.root,
                 "run", "--bundle", b, cid], timeout=WAIT, tmpdir=t.dir)
    t.fails("without securityfs: run fails", res)
    if t.crunner_only():
        t.contains("in the init, saying so", res[2], f'apparmor profile "{ABSENT}" is not loaded')
    nothing_left(t, cid, b)
    # "unconfined" is always there, never listed
    rc, out, err = t.rt(["exec", "--apparmor", "unconfined", running, "cat",
                         "/proc/self/attr/current"], timeout=WAIT)
    t.eq("exec --apparmor unconfined", (rc, out.strip("\0\n"), err), (0, "unconfined", ""))


def checkpoint_restore(t):
    """criu keeps the label across checkpoint/restore; --lsm-profile replaces it."""
    for name, lsm, want in (("keep", None, DENY), ("lsm", f"apparmor:{OTHER}", OTHER)):
        cid, pid = started(t, f"cr{name}", DENY)
        img = t.path(f"img-{name}")
        res = t.rt(["checkpoint", "--image-path", img, cid], timeout=WAIT)
        t.require(f"{name}: checkpoint", res[0] == 0, res)
        b = t.bundles[-1]
        extra = ["--lsm-profile", lsm] if lsm else []
        i, o = pipe_stdio(t)
        with i, o:
            res = t.rt(["restore", "-d", "--bundle", b, "--image-path", img, *extra, cid],
                       timeout=WAIT * 2, stdin=i, stdout=o, stderr=o)
        t.require(f"{name}: restore {' '.join(extra)}", res[0] == 0,
                  f"{res}; restore.log: {h.read_file(os.path.join(img, 'restore.log'))[-3000:]}")
        st = t.state(cid)
        t.eq(f"{name}: the restored init's label", label(st["pid"]), f"{want} (enforce)")
        res = t.rt(["exec", cid, "sh", "-c", "echo z > /data/h"], timeout=WAIT)
        t.check(f"{name}: and it still confines (exec inherits the config's profile)",
                res[0] != 0 and "Permission denied" in res[2], res)
    # a profile that is not loaded: refused before criu runs, nothing left
    if t.crunner_only():
        cid, _ = started(t, "crabsent", DENY)
        img = t.path("img-absent")
        t.require("checkpoint", t.rt(["checkpoint", "--image-path", img, cid],
                                     timeout=WAIT)[0] == 0)
        res = t.rt(["restore", "-d", "--bundle", t.bundles[-1], "--image-path", img,
                    "--lsm-profile", f"apparmor:{ABSENT}", cid], timeout=WAIT)
        t.fails("restore --lsm-profile with a profile that is not loaded", res,
                f'--lsm-profile: apparmor profile "{ABSENT}" is not loaded')
        nothing_left(t, cid, t.bundles[-1])


if AA:
    for fn in (init_and_exec_labels, denied_write, not_loaded):
        h.case(fn)
    if CRIU:
        h.case(checkpoint_restore)
else:
    for fn in (refused_without_apparmor, restore_lsm_refused_without_apparmor):
        h.case(fn)


@h.case
def teardown(t):
    if not AA:
        return
    for name, text in PROFILES.items():
        r = parser("-R", "-K", text=text)
        t.check(f"apparmor_parser removes {name}", r.returncode == 0, r.stderr)


if __name__ == "__main__":
    h.main()
