"""Rootless (issue 14, part 1): a non-root user made by the test (useradd with a unique name and
subuid/subgid ranges, removed at the end) runs a `spec --rootless` bundle with
`--rootless true`: the state root defaults to $XDG_RUNTIME_DIR/<runtime> as runc's rule says,
cgroups the user may not create are skipped (no limits asked), device rules are never
written, and a limit that cannot be set fails naming the cgroup.

Passes against Debian's runc 1.1.5 too (CRUNNER=$(command -v runc))."""

import json
import os
import pwd
import shutil
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
    return h.rootless_bundle(t, u.pw_uid, u.pw_gid,
                             lambda argv, cwd: as_user(t, u, argv, xdg, cwd=cwd), args, edit)


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
    # exec: the container's pid namespace is its user namespace's, so the child joins that
    # first and forks the process into it (runc's nsexec order)
    rc, out, err = as_user(t, u, [h.RUNTIME, "exec", cid2, "sh", "-c",
                                  "echo $$; id -u; exit 3"], xdg)
    lines = out.split()
    t.check("exec as the user: in the pid namespace, uid 0, its exit status", rc == 3 and
            len(lines) == 2 and lines[0] != "1" and int(lines[0]) < 100 and lines[1] == "0",
            (rc, out, err))
    pidf = os.path.join(xdg, "exec.pid")
    rc, out, err = as_user(t, u, [h.RUNTIME, "exec", "-d", "--pid-file", pidf, cid2,
                                  "sleep", "1000"], xdg)
    t.require("exec -d as the user", rc == 0, err)
    epid = int(h.read_file(pidf, "0").strip() or 0)
    t.check("exec -d: --pid-file holds the process (sleep), not the intermediate child",
            epid and "sleep" in h.read_file(f"/proc/{epid}/cmdline"), epid)
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


@h.case
def rootless_podman(t):
    # Rootless podman (4.3, Debian's) with this runtime: podman runs it as uid 0 of podman's
    # own user namespace with no USER and no --root, so the default root must follow runc's
    # rule (XDG_RUNTIME_DIR unless USER says root; crunner used /run/crunner and failed with
    # permission denied), and exec must join only the cgroups create could use (crunner
    # saved the hugetlb cgroup it had skipped, and exec failed opening it).
    u = make_user(t)
    xdg = user_dirs(t, u)
    home = t.path("home")
    os.mkdir(home, 0o700)
    os.chown(home, u.pw_uid, u.pw_gid)
    b = t.bundle("true")
    tar = t.path("rootfs.tar")
    subprocess.run(["tar", "-C", os.path.join(b, "rootfs"), "-cf", tar, "."], check=True)
    os.chmod(tar, 0o644)
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "HOME": home, "USER": u.pw_name,
           "XDG_RUNTIME_DIR": xdg}
    base = ["setpriv", f"--reuid={u.pw_uid}", f"--regid={u.pw_gid}", "--init-groups",
            "podman", "--storage-driver", "vfs", "--cgroup-manager", "cgroupfs",
            "--events-backend", "file", "--runtime", h.RUNTIME]

    def podman(*args, timeout=120):
        return h.run(base + list(args), env=env, tmpdir=t.dir, timeout=timeout)

    def stop_podman():
        podman("rm", "--force", "--all")
        # podman's rootless pause process (it holds podman's user namespace): ours, by pid
        pid = h.read_file(os.path.join(xdg, "libpod", "tmp", "pause.pid")).strip()
        if pid.isdigit() and h.pid_alive(int(pid)):
            os.kill(int(pid), 9)
            h.wait_for(lambda: not h.pid_alive(int(pid)), 30)
    t.on_cleanup(stop_podman)
    rc, out, err = podman("import", tar, "localhost/crunner-test-bb:latest")
    t.require("podman import", rc == 0, (out, err))
    rc, out, err = podman("run", "--rm", "--network", "none", "localhost/crunner-test-bb",
                          "sh", "-c", "id -u; cat /proc/self/uid_map; echo ran")
    t.check("podman run --rm", rc == 0 and "ran" in out and out.split()[0] == "0",
            (rc, out, err))
    t.check("in podman's user namespace (uid 0 -> the user)",
            f"0 {u.pw_uid} 1" in " ".join(out.split()), out)
    rc, out, err = podman("run", "-d", "--name", "bg", "--network", "none",
                          "localhost/crunner-test-bb", "sleep", "1000")
    t.require("podman run -d", rc == 0, (out, err))
    rc, out, err = podman("exec", "bg", "sh", "-c", "echo exec-ok")
    t.check("podman exec", rc == 0 and "exec-ok" in out, (rc, out, err))
    rc, out, err = podman("ps", "--format", "{{.Names}} {{.Status}}")
    t.check("podman ps: running", rc == 0 and "bg Up" in out, (rc, out, err))
    rc, out, err = podman("stop", "-t", "1", "bg")
    t.check("podman stop", rc == 0, (rc, out, err))
    rc, out, err = podman("rm", "bg")
    t.check("podman rm", rc == 0, (rc, out, err))
    state_root = os.path.join(xdg, h.RUNTIME_NAME)
    t.check("state under XDG_RUNTIME_DIR, nothing left",
            os.path.isdir(state_root) and os.listdir(state_root) in ([], ["@seccomp-cache"]),
            os.listdir(state_root) if os.path.isdir(state_root) else os.listdir(xdg))


def sub_range(path, name):
    for ln in h.read_file(path).splitlines():
        f = ln.split(":")
        if len(f) == 3 and f[0] == name:
            return int(f[1]), int(f[2])
    return None


@h.case
def rootless_subid_mappings(t):
    # More than the caller's own id (its /etc/subuid and /etc/subgid ranges) is mapped through
    # shadow's setuid newuidmap/newgidmap, as runc does when writing the map itself is
    # refused; crunner failed with "linux.gidMappings: ... operation not permitted".
    u = make_user(t)
    xdg = user_dirs(t, u)
    su, sg = sub_range("/etc/subuid", u.pw_name), sub_range("/etc/subgid", u.pw_name)
    t.require("subordinate ranges", su and sg, (su, sg))

    def maps(c):
        c["linux"]["uidMappings"] = [{"containerID": 0, "hostID": u.pw_uid, "size": 1},
                                     {"containerID": 1, "hostID": su[0], "size": 1000}]
        c["linux"]["gidMappings"] = [{"containerID": 0, "hostID": u.pw_gid, "size": 1},
                                     {"containerID": 1, "hostID": sg[0], "size": 1000}]
        c["root"]["readonly"] = False
        for k in ("bounding", "effective", "permitted"):
            c["process"]["capabilities"][k].append("CAP_CHOWN")
    b = rootless_bundle(t, u, xdg, ["sh", "-c", "cat /proc/self/uid_map /proc/self/gid_map; "
                                    "touch /tmp/f && chown 7:7 /tmp/f && stat -c %u:%g /tmp/f"],
                        edit=maps)
    rc, out, err = as_user(t, u, [h.RUNTIME, "--rootless", "true", "run", "--bundle", b,
                                  t.cid("subid")], xdg)
    t.eq("run with subordinate id mappings", (rc, err), (0, ""))
    rows = [ln.split() for ln in out.splitlines()]
    t.check("uid_map: own uid and the subuid range",
            ["0", str(u.pw_uid), "1"] in rows and ["1", str(su[0]), "1000"] in rows, out)
    t.check("gid_map: own gid and the subgid range",
            ["0", str(u.pw_gid), "1"] in rows and ["1", str(sg[0]), "1000"] in rows, out)
    t.check("a mapped id other than root is usable inside", "7:7" in out, out)
    t.check("on the host that file belongs to the subordinate ids",
            os.stat(os.path.join(b, "rootfs", "tmp", "f")).st_uid == su[0] + 6, out)


@h.case
def rootless_pause_update_without_cgroup(t):
    # A rootless container that could not create its cgroups: pause and update say the
    # container has none (they said "controller is not mounted", which it is).
    u = make_user(t)
    xdg = user_dirs(t, u)
    b = rootless_bundle(t, u, xdg, ["sleep", "1000"])
    cid = t.cid("rlpause")
    root = os.path.join(xdg, h.RUNTIME_NAME)
    t.on_cleanup(lambda: h.force_delete(root, cid, t.dir))
    rc, out, err = as_user(t, u, [h.RUNTIME, "--rootless", "true", "run", "-d", "--bundle", b,
                                  cid], xdg)
    t.require("run -d as the user", rc == 0, err)
    for what, argv in (("pause", ["pause", cid]), ("update", ["update", "--pids-limit", "5",
                                                                cid])):
        rc, out, err = as_user(t, u, [h.RUNTIME, "--rootless", "true"] + argv, xdg)
        t.check(f"{what} fails", rc not in (0, None), (rc, out, err))
        t.check(f"{what}: not 'not mounted'", "not mounted" not in err, err)
        if t.crunner_only():
            t.contains(f"{what}: says the container has no such cgroup", err,
                       "the container has no")
    t.ok("delete --force", as_user(t, u, [h.RUNTIME, "delete", "--force", cid], xdg))


@h.case
def rootless_exec_into_created(t):
    # An exec into a created (not yet started) rootless container runs inside it, as runc's
    # does (runc's init stays dumpable; crunner's is made dumpable once created when the
    # container cannot write the binary: docs/DESIGN.md section 7). It failed before ("open
    # `/proc/PID/ns/user`: permission denied"), and before that ran in the caller's namespaces.
    u = make_user(t)
    xdg = user_dirs(t, u)
    b = rootless_bundle(t, u, xdg, ["sleep", "1000"])
    cid = t.cid("rlcreated")
    root = os.path.join(xdg, h.RUNTIME_NAME)
    t.on_cleanup(lambda: h.force_delete(root, cid, t.dir))
    rc, out, err = as_user(t, u, [h.RUNTIME, "--rootless", "true", "create", "--bundle", b,
                                  cid], xdg)
    t.require("create as the user", rc == 0, err)
    st = json.loads(as_user(t, u, [h.RUNTIME, "state", cid], xdg)[1] or "{}")
    init = st.get("pid", 0)
    t.require("created, with an init", st.get("status") == "created" and init > 0, st)
    inside = os.readlink(f"/proc/{init}/ns/user")
    rc, out, err = as_user(t, u, [h.RUNTIME, "--rootless", "true", "exec", cid, "readlink",
                                  "/proc/self/ns/user"], xdg)
    t.check("exec into the created container runs in its user namespace",
            rc == 0 and out.strip() == inside, (rc, out, err, inside))
    # as root inside, and in its pid namespace (a forked process: pid > 1), exit status kept
    rc, out, err = as_user(t, u, [h.RUNTIME, "exec", cid, "sh", "-c",
                                  "echo $$; id -u; cat /proc/1/cmdline >/dev/null; exit 5"],
                           xdg)
    lines = out.split()
    t.check("as root in its pid namespace, its exit status", rc == 5 and len(lines) == 2 and
            lines[0] not in ("1", str(init)) and lines[1] == "0", (rc, out, err))
    st = json.loads(as_user(t, u, [h.RUNTIME, "state", cid], xdg)[1] or "{}")
    t.eq("still created after the exec", st.get("status"), "created")
    t.ok("start after the exec", as_user(t, u, [h.RUNTIME, "start", cid], xdg))
    st = json.loads(as_user(t, u, [h.RUNTIME, "state", cid], xdg)[1] or "{}")
    t.eq("then running", st.get("status"), "running")
    t.ok("delete --force", as_user(t, u, [h.RUNTIME, "delete", "--force", cid], xdg))


@h.case
def rootless_exec_into_created_own_binary(t):
    # A binary the container's ids can write (the user's own copy) keeps the init non-dumpable
    # until it starts (CVE-2019-5736: /proc/1/exe of a created crunner init is that binary),
    # so such an exec is refused with the reason; it never runs in the caller's namespaces.
    # runc runs it: its init's exe is a sealed memfd copy, not the binary.
    u = make_user(t)
    xdg = user_dirs(t, u)
    own = os.path.join(xdg, "bin")
    os.mkdir(own, 0o700)
    rt = os.path.join(own, h.RUNTIME_NAME)
    shutil.copy2(h.RUNTIME, rt)
    os.chmod(rt, 0o755)
    os.chown(own, u.pw_uid, u.pw_gid)
    os.chown(rt, u.pw_uid, u.pw_gid)
    b = rootless_bundle(t, u, xdg, ["sleep", "1000"])
    cid = t.cid("rlownbin")
    root = os.path.join(xdg, h.RUNTIME_NAME)
    t.on_cleanup(lambda: h.force_delete(root, cid, t.dir))
    rc, out, err = as_user(t, u, [rt, "--rootless", "true", "create", "--bundle", b, cid], xdg)
    t.require("create with the user's own binary", rc == 0, err)
    rc, out, err = as_user(t, u, [rt, "exec", cid, "readlink", "/proc/self/ns/user"], xdg)
    t.check("exec never runs in the caller's user namespace",
            out.strip() != os.readlink("/proc/self/ns/user"), (rc, out, err))
    if t.crunner_only():
        t.fails("exec refused before start", (rc, out, err),
                f"cannot exec in created container `{cid}` before it starts")
        t.contains("names the binary and the reason", err,
                   f"`{rt}` is writable by an id the container maps (CVE-2019-5736)")
    else:
        t.check("runc runs it", rc == 0 and out.startswith("user:["), (rc, out, err))
    t.ok("start", as_user(t, u, [rt, "start", cid], xdg))
    rc, out, err = as_user(t, u, [rt, "exec", cid, "true"], xdg)
    t.check("exec once started", rc == 0, (rc, out, err))
    t.ok("delete --force", as_user(t, u, [rt, "delete", "--force", cid], xdg))


@h.case
def rootless_exec_into_created_user_after_filter(t):
    # Without noNewPrivileges the init loads its seccomp filter before it changes to
    # process.user, which clears the dumpable flag again: it is set once more after the filter
    # when the filter cannot kill, trap or hold prctl; a filter that could keeps the refusal,
    # naming that reason. runc 1.1.5 refuses both ("failed to open /proc/PID/ns/user:
    # Permission denied"): its init's change of user clears the flag and nothing sets it again.
    u = make_user(t)
    xdg = user_dirs(t, u)
    su, sg = sub_range("/etc/subuid", u.pw_name), sub_range("/etc/subgid", u.pw_name)
    t.require("subordinate ranges", su and sg, (su, sg))

    def edit(prctl_action):
        def f(c):
            c["linux"]["uidMappings"] = [{"containerID": 0, "hostID": u.pw_uid, "size": 1},
                                         {"containerID": 1, "hostID": su[0], "size": 1000}]
            c["linux"]["gidMappings"] = [{"containerID": 0, "hostID": u.pw_gid, "size": 1},
                                         {"containerID": 1, "hostID": sg[0], "size": 1000}]
            c["process"]["user"] = {"uid": 7, "gid": 7}
            c["process"]["noNewPrivileges"] = False
            c["linux"]["seccomp"] = {
                "defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64"],
                "syscalls": [{"names": ["mknodat"], "action": "SCMP_ACT_KILL"},
                             {"names": ["prctl"], "action": prctl_action,
                              "args": [{"index": 0, "value": 1234, "op": "SCMP_CMP_EQ"}]}]}
        return f
    root = os.path.join(xdg, h.RUNTIME_NAME)
    for what, action in (("a filter sparing prctl", "SCMP_ACT_ERRNO"),
                         ("a filter that could kill prctl", "SCMP_ACT_KILL")):
        b = rootless_bundle(t, u, xdg, ["sleep", "1000"], edit=edit(action))
        cid = t.cid("rlfilt")
        t.on_cleanup(lambda cid=cid: h.force_delete(root, cid, t.dir))
        rc, out, err = as_user(t, u, [h.RUNTIME, "create", "--bundle", b, cid], xdg)
        t.require(f"{what}: create", rc == 0, err)
        init = json.loads(as_user(t, u, [h.RUNTIME, "state", cid], xdg)[1] or "{}").get("pid")
        rc, out, err = as_user(t, u, [h.RUNTIME, "exec", cid, "readlink", "/proc/self/ns/user"],
                               xdg)
        t.check(f"{what}: never in the caller's user namespace",
                out.strip() != os.readlink("/proc/self/ns/user"), (rc, out, err))
        if not t.crunner_only():
            t.fails(f"{what}: runc 1.1.5 refuses it", (rc, out, err), "Permission denied")
        elif action == "SCMP_ACT_ERRNO":
            t.check(f"{what}: exec into the created container runs in it",
                    rc == 0 and init and out.strip() == os.readlink(f"/proc/{init}/ns/user"),
                    (rc, out, err))
        else:
            t.fails(f"{what}: refused, saying why", (rc, out, err),
                    "its seccomp filter was loaded before its user changed")
        t.ok(f"{what}: delete --force", as_user(t, u, [h.RUNTIME, "delete", "--force", cid],
                                                xdg))


@h.case
def rootless_ptmx_device(t):
    # /dev/ptmx listed in linux.devices (Docker and containerd list it): runc skips it there
    # and makes /dev/ptmx its pts/ptmx symlink, so a pty opens in the container's devpts
    # (a rootless runtime cannot mknod; a bind of the host's ptmx would open the host's).
    u = make_user(t)
    xdg = user_dirs(t, u)

    def edit(c):
        c["linux"]["devices"] = [{"path": "/dev/ptmx", "type": "c", "major": 5, "minor": 2,
                                  "fileMode": 0o666, "uid": 0, "gid": 0}]
    b = rootless_bundle(t, u, xdg, ["sh", "-c", "readlink /dev/ptmx; test -c /dev/pts/ptmx && "
                                    "echo char"], edit=edit)
    cid = t.cid("rlptmx")
    root = os.path.join(xdg, h.RUNTIME_NAME)
    t.on_cleanup(lambda: h.force_delete(root, cid, t.dir))
    rc, out, err = as_user(t, u, [h.RUNTIME, "--rootless", "true", "run", "--bundle", b, cid],
                           xdg)
    t.check("runs", rc == 0, (rc, out, err))
    t.eq("/dev/ptmx is the pts/ptmx symlink", out.split(), ["pts/ptmx", "char"])
    t.check("no error output", err == "", err)
    t.check("nothing left", not os.path.exists(os.path.join(root, cid)))


if __name__ == "__main__":
    h.main()
