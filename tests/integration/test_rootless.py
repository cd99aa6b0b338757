"""Rootless (issue 14, part 1): a non-root user made by the test (useradd with a unique name and
subuid/subgid ranges, removed at the end) runs a `spec --rootless` bundle with
`--rootless true`: the state root defaults to $XDG_RUNTIME_DIR/<runtime> as runc's rule says,
cgroups the user may not create are skipped (no limits asked), device rules are never
written, and a limit that cannot be set fails naming the cgroup.

Passes against Debian's runc 1.1.5 too (CRUNNER=$(command -v runc))."""

import json
import os
import pwd
import subprocess

import harness as h

USER = f"crtrl{os.getpid() % 100000}"


def as_user(t, u, argv, xdg, cwd=None, timeout=60):
    """Runs argv as user u (uid, gid, no supplementary groups) with XDG_RUNTIME_DIR=xdg."""
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "HOME": xdg, "USER": u.pw_name,
           "XDG_RUNTIME_DIR": xdg}
    return h.run(["setpriv", f"--reuid={u.pw_uid}", f"--regid={u.pw_gid}", "--clear-groups",
                  *argv], env=env, tmpdir=t.dir, cwd=cwd, timeout=timeout)


def make_user(t):
    rc, out, err = h.run(["useradd", "--no-create-home", "--shell", "/bin/sh", USER],
                         tmpdir=t.dir)
    t.require("useradd " + USER, rc == 0, err)

    def remove():
        h.run(["userdel", USER], tmpdir=t.dir)
        for f in ("/etc/subuid", "/etc/subgid"):
            left = [ln for ln in h.read_file(f).splitlines() if ln.startswith(USER + ":")]
            if left:
                print(f"# cleanup: {f} still lists {USER}", flush=True)
    t.on_cleanup(remove)
    u = pwd.getpwnam(USER)
    t.check("subuid range", any(ln.startswith(USER + ":") for ln in
                                h.read_file("/etc/subuid").splitlines()))
    return u


def user_dirs(t, u):
    """The case's directory opened for u (o+x up the chain), and an XDG_RUNTIME_DIR of u's."""
    for d in (t.suite.tmp, t.dir):
        os.chmod(d, 0o711)
    xdg = t.path("xdg")
    os.mkdir(xdg, 0o700)
    os.chown(xdg, u.pw_uid, u.pw_gid)
    return xdg


def rootless_bundle(t, u, xdg, args, edit=None):
    b = t.bundle(*args)
    os.chmod(b, 0o755)
    os.remove(os.path.join(b, "config.json"))
    # a rootless user's rootfs is the user's (as podman's storage makes it)
    subprocess.run(["chown", "-R", "-h", f"{u.pw_uid}:{u.pw_gid}", b], check=True)
    rc, out, err = as_user(t, u, [h.RUNTIME, "spec", "--rootless"], xdg, cwd=b)
    t.require("spec --rootless as the user", rc == 0, (out, err))

    def fix(c):
        c["process"]["terminal"] = False
        c["process"]["args"] = list(args)
        c["root"]["path"] = "rootfs"
        if edit:
            edit(c)
    t.edit(b, fix)
    return b


@h.case
def rootless_run(t):
    u = make_user(t)
    xdg = user_dirs(t, u)
    b = rootless_bundle(t, u, xdg, ["sh", "-c", "id -u; cat /proc/self/uid_map"])
    cid = t.cid("rl")
    rc, out, err = as_user(t, u, [h.RUNTIME, "--rootless", "true", "run", "--bundle", b, cid],
                           xdg)
    t.eq("run as a non-root user", rc, 0)
    lines = out.split("\n")
    t.eq("uid 0 inside", lines[0:1], ["0"])
    t.eq("mapped to the user", lines[1].split() if len(lines) > 1 else [],
         ["0", str(u.pw_uid), "1"])
    t.check("no error output", err == "", err)

    # detached, with the default --root ($XDG_RUNTIME_DIR/<runtime>, runc's rule)
    b2 = rootless_bundle(t, u, xdg, ["sleep", "1000"])
    cid2 = t.cid("rld")
    root = os.path.join(xdg, h.RUNTIME_NAME)
    t.on_cleanup(lambda: h.force_delete(root, cid2, t.dir))
    rc, out, err = as_user(t, u, [h.RUNTIME, "run", "-d", "--bundle", b2, cid2], xdg)
    t.require("run -d with --rootless auto", rc == 0, err)
    t.check("state under $XDG_RUNTIME_DIR", os.path.isdir(os.path.join(root, cid2)),
            os.listdir(xdg))
    rc, out, err = as_user(t, u, [h.RUNTIME, "state", cid2], xdg)
    t.check("state as the user", rc == 0 and json.loads(out)["status"] == "running", (out, err))
    t.ok("kill", as_user(t, u, [h.RUNTIME, "kill", cid2, "KILL"], xdg))
    h.wait_for(lambda: json.loads(as_user(t, u, [h.RUNTIME, "state", cid2], xdg)[1] or "{}")
               .get("status") == "stopped")
    t.ok("delete", as_user(t, u, [h.RUNTIME, "delete", cid2], xdg))
    t.check("state gone", not os.path.exists(os.path.join(root, cid2)))


@h.case
def rootless_limit_without_cgroup(t):
    u = make_user(t)
    xdg = user_dirs(t, u)
    b = rootless_bundle(t, u, xdg, ["true"],
                        edit=lambda c: c["linux"].update(resources={"pids": {"limit": 10}}))
    cid = t.cid("rllim")
    res = as_user(t, u, [h.RUNTIME, "--rootless", "true", "run", "--bundle", b, cid], xdg)
    t.fails("a limit the user cannot set", res, "could not join or create cgroup")
    root = os.path.join(xdg, h.RUNTIME_NAME)
    t.check("nothing left", not os.path.exists(os.path.join(root, cid)))


if __name__ == "__main__":
    h.main()
