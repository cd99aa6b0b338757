#!/usr/bin/env python3
"""The container process: args, env, cwd, user (uid/gid/additionalGids/umask), capabilities
(all five sets), rlimits, noNewPrivileges, oomScoreAdj, stdio with terminal false."""

import os
import resource
import select
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402


def proc_status(out):
    """'Key:\tvalue' lines of /proc/self/status in out -> dict."""
    res = {}
    for ln in out.splitlines():
        if ":" in ln:
            k, v = ln.split(":", 1)
            res[k.strip()] = v.strip()
    return res


def set_process(**kw):
    def edit(c):
        c["process"].update(kw)
    return edit


@h.case
def args_and_env(t):
    def edit(c):
        c["process"]["env"] = ["PATH=/bin:/usr/bin", "FOO=bar baz", "EMPTY=", "EQ=a=b"]
    rc, out, err = t.rt(["run", "--bundle", t.bundle("sh", "-c", 'echo "$0|$1|$2"; env | sort',
                                                     "zero", "one two", "", edit=edit),
                         t.cid("env2")], env=dict(os.environ, CRUNNER_TEST_LEAK="1"))
    t.require("run", rc == 0, (rc, out, err))
    lines = out.splitlines()
    t.eq("args passed verbatim", lines[0], "zero|one two|")
    env = set(lines[1:])
    for v in ("PATH=/bin:/usr/bin", "FOO=bar baz", "EMPTY=", "EQ=a=b"):
        t.check(f"env {v}", v in env, lines)
    t.check("no host environment leaks", not any(e.startswith("CRUNNER_TEST_LEAK")
                                                 for e in env), lines)
    t.check("HOME from /etc/passwd when not set", "HOME=/root" in env, lines)


@h.case
def duplicate_env_names_last_wins(t):
    # runc (prepareEnv) keeps only the last NAME=... of each name, where that one stood;
    # HOME is appended after, when none is set.
    def edit(c):
        c["process"]["env"] = ["PATH=/bin", "DUP=first", "X=1", "DUP=second", "PATH=/usr/bin:/bin"]
    rc, out, err = t.rt(["run", "--bundle", t.bundle("env", edit=edit), t.cid("envdup")])
    t.require("run", rc == 0, (rc, out, err))
    t.eq("environment, duplicates collapsed", out.splitlines(),
         ["X=1", "DUP=second", "PATH=/usr/bin:/bin", "HOME=/root"])


@h.case
def path_lookup_uses_container_env(t):
    def edit(c):
        c["process"]["env"] = ["PATH=/opt/bin:/bin"]
    b = t.bundle("hello-from-path", "arg1", edit=edit)
    os.makedirs(os.path.join(b, "rootfs", "opt", "bin"))
    script = os.path.join(b, "rootfs", "opt", "bin", "hello-from-path")
    with open(script, "w") as f:
        f.write('#!/bin/sh\necho "found $0 $1"\n')
    os.chmod(script, 0o755)
    rc, out, err = t.rt(["run", "--bundle", b, t.cid("path")])
    t.eq("args[0] found through the container's PATH", (rc, out),
         (0, "found /opt/bin/hello-from-path arg1\n"))


@h.case
def cwd(t):
    rc, out, err = t.run_in(t.cid("cwd"), "pwd", edit=set_process(cwd="/home/user"))
    t.eq("cwd", (rc, out), (0, "/home/user\n"))


@h.case
def user_ids_and_groups(t):
    edit = set_process(user={"uid": 1000, "gid": 1000, "additionalGids": [3000, 2000]})
    rc, out, err = t.run_in(t.cid("user"), "id -u; id -g; grep -E '^(Uid|Gid|Groups):' "
                            "/proc/self/status", edit=edit)
    t.require("run", rc == 0, (rc, out, err))
    lines = out.splitlines()
    st = proc_status(out)
    t.eq("uid", lines[0], "1000")
    t.eq("gid", lines[1], "1000")
    t.eq("real/effective/saved/fs uid", st.get("Uid", "").split(), ["1000"] * 4)
    t.eq("real/effective/saved/fs gid", st.get("Gid", "").split(), ["1000"] * 4)
    t.eq("additional gids", sorted(st.get("Groups", "").split()), ["2000", "3000"])
    rc, out, err = t.run_in(t.cid("root"), "id -u; grep -E '^Groups:' /proc/self/status")
    t.eq("root without additional gids: no supplementary groups",
         (rc, out.split()), (0, ["0", "Groups:"]))
    rc, out, err = t.run_in(t.cid("u0"), "id -u; id -g",
                            edit=set_process(user={"uid": 1000, "gid": 2000}))
    t.eq("uid/gid combination", (rc, out.split()), (0, ["1000", "2000"]))


@h.case
def home_default(t):
    # runc sets HOME from /etc/passwd when process.env has none, "/" for an unknown uid,
    # and never overrides an explicit HOME.
    cases = [({"uid": 1000, "gid": 1000}, [], "/home/user"),
             ({"uid": 4242, "gid": 4343}, [], "/"),
             ({"uid": 1000, "gid": 1000}, ["HOME=/custom"], "/custom")]
    for user, extra, want in cases:
        rc, out, err = t.run_in(t.cid("home"), "id -u; echo HOME=$HOME",
                                edit=set_process(user=user, env=["PATH=/bin"] + extra))
        t.eq(f"uid {user['uid']} env {extra}: HOME", (rc, out.split()),
             (0, [str(user["uid"]), f"HOME={want}"]))

@h.case
def umask(t):
    for mask, want in ((0o077, "0077"), (0o027, "0027")):
        rc, out, err = t.run_in(t.cid("umask"), "umask",
                                edit=set_process(user={"uid": 0, "gid": 0, "umask": mask}))
        t.eq(f"umask {want}", (rc, out.strip()), (0, want))
    rc, out, err = t.run_in(t.cid("umaskdef"), "umask")
    t.eq("default umask 0022", (rc, out.strip()), (0, "0022"))


CAPS_SCRIPT = "grep -E '^Cap(Inh|Prm|Eff|Bnd|Amb):' /proc/self/status"


def caps_of(out):
    st = proc_status(out)
    return {k: int(st[k], 16) for k in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb")
            if k in st}


def fmt(mask):
    return "|".join(n for i, n in enumerate(h.CAPS) if mask >> i & 1) or "-"


@h.case
def capabilities_root(t):
    # Root with bounding == effective == permitted: the sets come through exec unchanged.
    sets = {"bounding": ["CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT",
                         "CAP_AUDIT_WRITE"],
            "effective": ["CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT",
                          "CAP_AUDIT_WRITE"],
            "permitted": ["CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT",
                          "CAP_AUDIT_WRITE"],
            "inheritable": ["CAP_KILL", "CAP_NET_BIND_SERVICE"],
            "ambient": ["CAP_NET_BIND_SERVICE"]}
    rc, out, err = t.run_in(t.cid("caps"), CAPS_SCRIPT, edit=set_process(capabilities=sets))
    t.require("run", rc == 0, (rc, out, err))
    got = caps_of(out)
    for key, name in (("CapBnd", "bounding"), ("CapEff", "effective"), ("CapPrm", "permitted"),
                      ("CapInh", "inheritable"), ("CapAmb", "ambient")):
        t.check(f"{key} == {name}", got.get(key) == h.caps_mask(sets[name]),
                f"got {fmt(got.get(key, 0))}, want {fmt(h.caps_mask(sets[name]))}")
    rc, out, err = t.run_in(t.cid("nocaps"), CAPS_SCRIPT,
                            edit=set_process(capabilities={}))
    got = caps_of(out)
    t.check("empty capabilities object: no capabilities at all",
            rc == 0 and set(got.values()) == {0}, (rc, out, err))


@h.case
def capabilities_nonroot(t):
    # A non-root process keeps, across execve of a file without file capabilities, only the
    # ambient set in permitted/effective (capabilities(7)); bounding and inheritable as given.
    sets = {"bounding": ["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_KILL", "CAP_NET_BIND_SERVICE",
                         "CAP_SETUID", "CAP_SETGID", "CAP_AUDIT_WRITE"],
            "permitted": ["CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_SETUID"],
            "effective": ["CAP_KILL", "CAP_NET_BIND_SERVICE"],
            "inheritable": ["CAP_KILL", "CAP_NET_BIND_SERVICE"],
            "ambient": ["CAP_NET_BIND_SERVICE"]}
    edit = set_process(capabilities=sets, user={"uid": 1000, "gid": 1000})
    rc, out, err = t.run_in(t.cid("capsu"), CAPS_SCRIPT, edit=edit)
    t.require("run", rc == 0, (rc, out, err))
    got = caps_of(out)
    amb = h.caps_mask(sets["ambient"])
    want = {"CapBnd": h.caps_mask(sets["bounding"]), "CapInh": h.caps_mask(sets["inheritable"]),
            "CapAmb": amb, "CapPrm": amb, "CapEff": amb}
    for key, mask in want.items():
        t.check(f"{key}", got.get(key) == mask, f"got {fmt(got.get(key, 0))}, want {fmt(mask)}")


@h.case
def capability_the_runtime_lacks(t):
    # Docker's --privileged asks for every capability; a runtime whose caller lacks one (root
    # here has no CAP_SYS_RESOURCE) cannot grant it. Both runtimes fail; crunner names it
    # (it said only "set capabilities: operation not permitted", runc "unable to apply caps").
    sets = {k: ["CAP_KILL", "CAP_NET_RAW"] for k in ("bounding", "effective", "permitted")}
    b = t.bundle("true", edit=set_process(capabilities=sets))
    res = h.run(["setpriv", "--bounding-set", "-net_raw", h.RUNTIME, "--root", t.root, "run",
                 "--bundle", b, t.cid("lacks")], tmpdir=t.dir)
    t.fails("refused", res, "operation not permitted")
    if t.crunner_only():
        t.contains("the error names the capability the runtime lacks", res[2],
                   "asks for CAP_NET_RAW, which the runtime itself does not hold")


@h.case
def rlimits(t):
    soft_n, hard_n = resource.getrlimit(resource.RLIMIT_NOFILE)
    # never above the current hard limit (raising needs CAP_SYS_RESOURCE)
    n_hard = min(768, hard_n)
    n_soft = min(512, n_hard)
    _, hard_p = resource.getrlimit(resource.RLIMIT_NPROC)
    p_hard = 4000 if hard_p == resource.RLIM_INFINITY else min(4000, hard_p)
    p_soft = p_hard // 2
    edit = set_process(rlimits=[
        {"type": "RLIMIT_NOFILE", "soft": n_soft, "hard": n_hard},
        {"type": "RLIMIT_NPROC", "soft": p_soft, "hard": p_hard},
        {"type": "RLIMIT_CORE", "soft": 0, "hard": 0},
    ])
    rc, out, err = t.run_in(t.cid("rlim"), "ulimit -n; ulimit -Hn; cat /proc/self/limits",
                            edit=edit)
    t.require("run", rc == 0, (rc, out, err))
    lines = out.splitlines()
    t.eq("ulimit -n (soft)", lines[0], str(n_soft))
    t.eq("ulimit -Hn (hard)", lines[1], str(n_hard))
    lim = {}
    for ln in lines[2:]:
        if ln.startswith("Max "):
            # fixed columns: "Max open files            512                  768    files"
            lim[ln[:26].strip()] = ln[26:].split()[:2]
    t.eq("Max open files", lim.get("Max open files"), [str(n_soft), str(n_hard)])
    t.eq("Max processes", lim.get("Max processes"), [str(p_soft), str(p_hard)])
    t.eq("Max core file size", lim.get("Max core file size"), ["0", "0"])


@h.case
def no_new_privileges(t):
    for flag, want in ((True, "1"), (False, "0")):
        rc, out, err = t.run_in(t.cid("nnp"), "grep NoNewPrivs /proc/self/status",
                                edit=set_process(noNewPrivileges=flag))
        t.eq(f"noNewPrivileges {flag}", (rc, out.split()), (0, ["NoNewPrivs:", want]))


@h.case
def oom_score_adj(t):
    for v in (500, 1000):
        rc, out, err = t.run_in(t.cid("oom"), "cat /proc/self/oom_score_adj",
                                edit=set_process(oomScoreAdj=v))
        t.eq(f"oomScoreAdj {v}", (rc, out.strip()), (0, str(v)))


@h.case
def stdio_foreground(t):
    rc, out, err = t.rt(["run", "--bundle", t.bundle("sh", "-c", "cat; echo err >&2"),
                         t.cid("stdin")], input="line1\nline2\n")
    t.eq("stdin reaches the container, stdout comes back", (rc, out), (0, "line1\nline2\n"))
    t.eq("stderr separate", err.strip().splitlines()[-1:], ["err"])
    rc, out, err = t.run_in(t.cid("fds"), "ls /proc/$$/fd; true")
    t.eq("no extra fds in the container", (rc, sorted(out.split())), (0, ["0", "1", "2"]))


@h.case
def stdio_inherited_by_create(t):
    # terminal false + create: the container's fds 0-2 are the ones create was given.
    b = t.bundle("sh", "-c", "for i in 0 1 2; do stat -L -c %i /proc/self/fd/$i; done; "
                 "read line; echo got:$line; echo err-out >&2; ls /proc/$$/fd; true")
    cid = t.cid("inh")
    inp = t.path("stdin.txt")
    with open(inp, "w") as f:
        f.write("hello-stdin\n")
    outp, errp = t.path("stdout.txt"), t.path("stderr.txt")
    with open(inp) as i, open(outp, "w") as o, open(errp, "w") as e:
        res = t.rt(["create", "--bundle", b, cid], stdin=i, stdout=o, stderr=e)
    t.require("create", res[0] == 0, (res, t.read("stderr.txt")))
    t.ok("start", t.rt(["start", cid]))
    t.require("stopped", t.wait_status(cid, "stopped"), t.state(cid))
    out = t.read("stdout.txt").splitlines()
    inos = [str(os.stat(p).st_ino) for p in (inp, outp, errp)]
    t.eq("fds 0-2 are the files given to create", out[:3], inos)
    t.eq("stdin read", out[3:4], ["got:hello-stdin"])
    t.eq("stderr to create's stderr", t.read("stderr.txt"), "err-out\n")
    t.eq("no extra fds", sorted(out[4:]), ["0", "1", "2"])


@h.case
def stdio_not_held_after_create(t):
    # After create exits, only the container holds the pipe: EOF arrives once it exits.
    b = t.bundle("echo", "from-container")
    cid = t.cid("hold")
    r, w = os.pipe()
    try:
        p = subprocess.run([h.RUNTIME, "--root", t.root, "create", "--bundle", b, cid],
                           stdin=subprocess.DEVNULL, stdout=w, stderr=w, timeout=60)
        os.close(w)
        w = None
        t.require("create", p.returncode == 0)
        t.ok("start", t.rt(["start", cid]))
        data = b""
        eof = False
        deadline = 60
        while deadline > 0:
            ready, _, _ = select.select([r], [], [], 1)
            deadline -= 1
            if ready:
                chunk = os.read(r, 4096)
                if not chunk:
                    eof = True
                    break
                data += chunk
        t.eq("container output through the inherited pipe", data, b"from-container\n")
        t.check("EOF once the container exits (runtime keeps no copy)", eof)
    finally:
        os.close(r)
        if w is not None:
            os.close(w)


def run_with_fd3(t, argv, env_prefix="", after=None, timeout=60):
    """Runs the runtime (with our --root) with a pipe's write end as fd 3 (through sh, so that
    LISTEN_PID can be the runtime's own pid), then after() if given, then reads the pipe to
    EOF. Returns (rc, stdout+stderr of runtime and container, bytes read from fd 3)."""
    t.counter += 1
    outp = t.path(f"fd3-{t.counter}.out")
    r, w = os.pipe()
    try:
        script = f'{env_prefix} exec "$@" 3>&{w} {w}>&-'
        with open(outp, "wb") as o:
            proc = subprocess.Popen(["sh", "-c", script, "sh", h.RUNTIME, "--root", t.root,
                                     *argv], pass_fds=(w,), stdin=subprocess.DEVNULL,
                                    stdout=o, stderr=o)
        t.procs.append(proc)
        os.close(w)
        w = None
        try:
            rc = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            rc = None
        if after:
            after()
        data = b""
        while True:  # until every holder of the write end is gone (EOF)
            ready, _, _ = select.select([r], [], [], timeout)
            if not ready:
                break
            chunk = os.read(r, 4096)
            if not chunk:
                break
            data += chunk
        with open(outp) as f:
            return rc, f.read(), data
    finally:
        os.close(r)
        if w is not None:
            os.close(w)


# (ls straight from the shell: a pipe or $(...) would show the shell's own pipe fds)
FD_SCRIPT = ('ls /proc/$$/fd; echo ==; env | grep -E "^LISTEN_" | sort; '
             'echo to-fd3 2>/dev/null >&3; true')


def fds_listed(out):
    return out.split("==")[0].split()


@h.case
def preserve_fds(t):
    b = t.bundle("sh", "-c", FD_SCRIPT)
    rc, out, data = run_with_fd3(t, ["run", "--preserve-fds", "1", "--bundle", b, t.cid("pfd")])
    t.eq("run --preserve-fds 1: rc", rc, 0)
    t.eq("fd 3 present in the container", fds_listed(out), ["0", "1", "2", "3"])
    t.eq("fd 3 is the caller's fd 3", data, b"to-fd3\n")
    rc, out, data = run_with_fd3(t, ["run", "--bundle", b, t.cid("nopfd")])
    t.eq("without --preserve-fds: fd 3 not passed", fds_listed(out), ["0", "1", "2"])
    t.eq("without --preserve-fds: nothing written", data, b"")
    cid = t.cid("pfdc")
    started = []

    def start():
        started.append(t.rt(["start", cid]))
    rc, out, data = run_with_fd3(t, ["create", "--preserve-fds", "1", "--bundle", b, cid],
                                 after=start)
    t.eq("create --preserve-fds 1", rc, 0)
    t.check("start", started and started[0][0] == 0, started)
    t.eq("created container got fd 3", data, b"to-fd3\n")
    t.check("stopped", t.wait_status(cid, "stopped"))
    t.eq("fd list of the created container", fds_listed(out), ["0", "1", "2", "3"])


@h.case
def listen_fds(t):
    b = t.bundle("sh", "-c", FD_SCRIPT)
    rc, out, data = run_with_fd3(t, ["run", "--bundle", b, t.cid("lfd")],
                                 env_prefix="LISTEN_PID=$$ LISTEN_FDS=1")
    t.eq("rc", rc, 0)
    t.eq("LISTEN_FDS passes fd 3", fds_listed(out), ["0", "1", "2", "3"])
    t.eq("fd 3 is the caller's", data, b"to-fd3\n")
    t.eq("LISTEN_FDS=1 and LISTEN_PID=1 in the container", out.split("==")[-1].split(),
         ["LISTEN_FDS=1", "LISTEN_PID=1"])

if __name__ == "__main__":
    h.main()
