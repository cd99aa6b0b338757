"""garden-shim behaves as Guardian (garden-runc) does for processes, users, files, devices and
limits. Every assertion is made from inside a container (what a process sees in /proc, the
syscalls it may make, the files it finds), never on our own configuration. The Guardian source
each rule comes from is listed in tests/garden/README.md ("Guardian parity")."""

import io
import json
import os
import shutil
import struct
import subprocess
import tarfile
import urllib.request

from harness import (CONTAINER_ROOT_UID, SHIM, GardenError, Shim, ShimTestCase, free_port, main,
                     make_tar, session_keyrings)

MiB = 1 << 20

# Guardian's unprivilegedMaxCaps (guardiancmd/server.go) as a capability mask: CHOWN,
# DAC_OVERRIDE, FOWNER, FSETID, KILL, SETGID, SETUID, SETPCAP, NET_BIND_SERVICE, NET_RAW,
# SYS_CHROOT, MKNOD, AUDIT_WRITE, SETFCAP.
UNPRIV = sum(1 << n for n in (0, 1, 3, 4, 5, 6, 7, 8, 10, 13, 18, 27, 29, 31))
SYS_ADMIN = 1 << 21
# privilegedMaxCaps: capabilities 0..37.
PRIV = (1 << 38) - 1


def own_bounding():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("CapBnd:"):
                return int(line.split()[1], 16)
    return 0


def caps_of(out):
    """{"CapInh": int, ...} from the Cap* lines of a /proc/<pid>/status."""
    caps = {}
    for line in out.splitlines():
        if line.startswith("Cap"):
            k, v = line.split(":")
            caps[k] = int(v.strip(), 16)
    return caps



def read_tar(data):
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}


def mountinfo(out):
    """{mount point: (per-mount options, fs type, super options)} of a mountinfo text."""
    m = {}
    for line in out.splitlines():
        pre, post = line.split(" - ")
        f = pre.split()
        typ, _src, sopts = post.split()[:3]
        m[f[4]] = (set(f[5].split(",")), typ, set(sopts.split(",")))
    return m


class GuardianParityTest(ShimTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.u = cls.client.create({"handle": "crunner-test-gdn-u"})
        cls.p = cls.client.create({"handle": "crunner-test-gdn-p", "privileged": True})

    def sh(self, handle, script, **kw):
        return self.run_proc(handle, "sh", "-c", script, **kw)

    # --- capabilities (rundmc/processes/builder.go, guardiancmd/server.go) ---

    def test_caps_root_unprivileged(self):
        code, out, _ = self.run_proc(self.u, "cat", "/proc/self/status")
        c = caps_of(out)
        want = UNPRIV & own_bounding()
        self.assertEqual((c["CapBnd"], c["CapInh"], c["CapPrm"], c["CapEff"], c["CapAmb"]),
                         (want, want, want, want, 0))

    def test_caps_non_root_keeps_inheritable(self):
        code, out, _ = self.run_proc(self.u, "cat", "/proc/self/status", user="user")
        c = caps_of(out)
        want = UNPRIV & own_bounding()
        self.assertEqual((c["CapBnd"], c["CapInh"], c["CapPrm"], c["CapEff"], c["CapAmb"]),
                         (want, want, 0, 0, 0))

    def test_caps_privileged_root_and_non_root(self):
        code, out, _ = self.run_proc(self.p, "cat", "/proc/self/status")
        c = caps_of(out)
        self.assertEqual(c["CapBnd"], PRIV & own_bounding())
        self.assertEqual(c["CapEff"], PRIV & own_bounding())
        code, out, _ = self.run_proc(self.p, "cat", "/proc/self/status", user="user")
        c = caps_of(out)
        want = (UNPRIV | SYS_ADMIN) & own_bounding()
        self.assertEqual((c["CapBnd"], c["CapInh"], c["CapPrm"], c["CapEff"]), (want, want, 0, 0))

    # --- seccomp (guardiancmd/seccomp_linux.go) ---

    def test_seccomp_refuses_namespaces_and_mounts(self):
        code, out, _ = self.sh(
            self.u,
            "for c in 'unshare -U true' 'unshare -m true' 'unshare -n true' "
            "'mount -t tmpfs none /mnt' 'nsenter -t 1 -m true' 'hostname other'; do "
            "$c >/dev/null 2>&1 && echo \"allowed: $c\"; done; "
            "chroot / true && echo chroot-ok; (sleep 0 &) ; wait; echo fork-ok")
        self.assertEqual(out, "chroot-ok\nfork-ok\n")

    def test_privileged_has_no_seccomp(self):
        code, out, _ = self.sh(self.p, "grep Seccomp: /proc/self/status; "
                                        "unshare -m true && echo unshare-ok")
        self.assertEqual(out.split(), ["Seccomp:", "0", "unshare-ok"])

    # --- stdio (rundmc/execrunner/dadoo/execrunner.go: fifos owned by the user) ---

    def test_stdio_devices_openable(self):
        for user in ("", "user"):
            p = self.client.run(self.u, {"path": "sh", "args": [
                "-c", "cat /dev/stdin; echo out > /dev/stdout; echo err > /dev/stderr"],
                "user": user})
            p.write_stdin("in\n")
            p.close_stdin()
            out, err = p.read_stream("stdout"), p.read_stream("stderr")
            self.assertEqual((p.wait(), out, err), (0, b"in\nout\n", b"err\n"), user)

    # --- working directory (rundmc/runrunc/exec_preparer.go, preparerootfs) ---

    def test_missing_dir_is_created_for_the_user(self):
        code, out, err = self.sh(self.u, "pwd; stat -c '%u %g %a' /tmp/gdn-a /tmp/gdn-a/b/c",
                                 user="user", dir="/tmp/gdn-a/b/c")
        self.assertEqual((code, out), (0, "/tmp/gdn-a/b/c\n1000 1000 755\n1000 1000 755\n"), err)
        # An existing directory keeps its owner.
        code, out, _ = self.sh(self.u, "stat -c %u /tmp", user="user", dir="/tmp")
        self.assertEqual(out, "%d\n" % 0)

    def test_missing_home_is_created(self):
        self.sh(self.u, "echo 'gone:x:1500:1500::/home/gone:/bin/sh' >> /etc/passwd")
        code, out, _ = self.sh(self.u, "pwd; stat -c %u .", user="gone")
        self.assertEqual(out, "/home/gone\n1500\n")

    def test_missing_executable_is_still_executable_not_found(self):
        with self.assertRaises(GardenError) as cm:
            self.client.run(self.u, {"path": "/no/such/binary", "dir": "/tmp/gdn-new-dir"})
        self.assertEqual(cm.exception.type, "ExecutableNotFoundError")

    # --- users (rundmc/users/lookup_linux.go -> runc's GetExecUserPath) ---

    def test_user_resolution(self):
        code, out, _ = self.sh(self.u, "id -u; id -g; id -G; pwd; echo $USER", user="user")
        self.assertEqual(out, "1000\n1000\n1000 2000\n/home/user\nuser\n")
        # A uid without a passwd entry: gid 0, home "/", USER is the spec's string.
        code, out, _ = self.sh(self.u, "id -u; id -g; pwd; echo $USER", user="4321")
        self.assertEqual(out, "4321\n0\n/\n4321\n")
        code, out, _ = self.sh(self.u, "id -u; id -g; echo $USER", user="user:extra")
        self.assertEqual(out, "1000\n2000\nuser:extra\n")
        with self.assertRaises(GardenError) as cm:
            self.client.run(self.u, {"path": "true", "user": "user:nosuchgroup"})
        self.assertIn("unable to find group nosuchgroup", cm.exception.message)

    def test_path_per_user(self):
        # The container's env carries no PATH of its own: a non-root user gets the short one.
        code, out, _ = self.sh(self.u, "echo $PATH", user="user")
        self.assertEqual(out, "/usr/local/bin:/usr/bin:/bin\n")
        code, out, _ = self.sh(self.u, "echo $PATH")
        self.assertEqual(out, "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n")

    def test_env_duplicates_collapse_last_wins(self):
        # The container's env, then the process's: runc keeps the last NAME=... of each name
        # (libcontainer/env.go prepareEnv), so the process's value wins over the container's.
        h = self.create(env=["DUP=container", "ONLY_C=1", "TWICE=a", "TWICE=b"])
        code, out, _ = self.run_proc(h, "env", env=["DUP=process", "ONLY_P=2", "DUP=last"])
        env = out.splitlines()
        self.assertEqual(code, 0)
        for name, want in (("DUP", ["DUP=last"]), ("TWICE", ["TWICE=b"]),
                           ("ONLY_C", ["ONLY_C=1"]), ("ONLY_P", ["ONLY_P=2"])):
            self.assertEqual([e for e in env if e.startswith(name + "=")], want, out)

    def test_no_session_keyring_per_container(self):
        # rundmc/runrunc/create.go runs runc with --no-new-keyring: a keyring per container,
        # charged to the host uid every unprivileged container maps root to, made the 201st
        # create fail once the kernel's maxkeys (200) was reached.
        h = self.create()
        code, out, _ = self.sh(h, "echo up")
        self.assertEqual((code, out), (0, "up\n"))
        self.assertEqual([k for k in session_keyrings() if h in k], [])

    def test_process_defaults(self):
        # Guardian sets neither umask, no_new_privs nor an oom score: runc's 0022, off, and
        # the server's own score are what processes get.
        with open("/proc/self/oom_score_adj") as f:
            own = f.read().strip()
        code, out, _ = self.sh(self.u, "umask; grep NoNewPrivs: /proc/self/status; "
                                       "cat /proc/self/oom_score_adj", user="user")
        self.assertEqual(out.split(), ["0022", "NoNewPrivs:", "0", own])

    def test_tty_default_window_size(self):
        p = self.client.run(self.u, {"path": "stty", "args": ["size"], "tty": {}}, stderr=False)
        out = p.read_stream("stdout")
        self.assertEqual((p.wait(), out), (0, b"24 80\r\n"))

    def test_useradd_then_run_as_that_user(self):
        # An image with the distribution's own useradd (shadow's, with its libraries).
        img = os.path.join(self.workdir, "useradd-image")
        if not os.path.exists(img):
            subprocess.run(["cp", "-a", self.rootfs, img], check=True)
            libs = subprocess.run(["ldd", "/usr/sbin/useradd"], capture_output=True, text=True,
                                  check=True).stdout
            files = ["/usr/sbin/useradd", "/etc/login.defs"]
            for line in libs.splitlines():
                for tok in line.split():
                    if tok.startswith("/"):
                        files.append(tok)
            for f in files:
                dst = img + f
                os.makedirs(os.path.dirname(dst), exist_ok=True)
                shutil.copy2(os.path.realpath(f), dst)
            os.makedirs(img + "/etc/skel", exist_ok=True)
            subprocess.run(["chown", "-R", "%d:%d" % (CONTAINER_ROOT_UID, CONTAINER_ROOT_UID),
                            img + "/usr", img + "/lib", img + "/lib64", img + "/etc"], check=True)
        h = self.create(rootfs="raw://" + img)
        code, out, err = self.run_proc(h, "useradd", "-m", "-s", "/bin/sh", "bob")
        self.assertEqual(code, 0, out + err)
        code, out, err = self.sh(h, "id -un; pwd; touch mine && stat -c %U mine", user="bob")
        self.assertEqual((code, out), (0, "bob\n/home/bob\nbob\n"), err)

    # --- files (rundmc/nstar.go, rundmc/nstar/nstar.c) ---

    def test_stream_relative_paths_are_in_the_users_home(self):
        self.client.stream_in(self.u, "gdn-rel/sub", make_tar({"f": b"hi"}), user="user")
        code, out, _ = self.sh(self.u, "stat -c '%u %n' /home/user/gdn-rel /home/user/gdn-rel/sub/f")
        self.assertEqual(out, "1000 /home/user/gdn-rel\n1000 /home/user/gdn-rel/sub/f\n")
        files = read_tar(self.client.stream_out(self.u, "gdn-rel/sub/f", user="user"))
        self.assertEqual(files, {"f": b"hi"})
        # Root's home is /root.
        self.client.stream_in(self.u, "gdn-root-rel", make_tar({"g": b"r"}))
        code, out, _ = self.run_proc(self.u, "cat", "/root/gdn-root-rel/g")
        self.assertEqual(out, "r")

    def test_stream_in_creates_destination_as_root_for_the_user(self):
        # nstar makes the destination as root and owns it to the user: /root is no obstacle.
        self.client.stream_in(self.u, "/root/gdn-for-user", make_tar({"f": b"1"}), user="user")
        code, out, _ = self.run_proc(self.u, "stat", "-c", "%u", "/root/gdn-for-user/f")
        self.assertEqual(out.strip(), "1000")

    def test_stream_in_keeps_extended_attributes(self):
        # Guardian's nstar extracts with GNU tar on the host side; the container's busybox
        # tar dropped every extended attribute (fixed: garden-nstar, libarchive). A file
        # capability (CAP_NET_BIND_SERVICE, effective) and a user.* attribute, as root.
        cap = struct.pack("<5I", 0x02000001, 1 << 10, 0, 0, 0)
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
            info = tarfile.TarInfo("bin-with-cap")
            info.size, info.mode = 4, 0o755
            info.pax_headers = {
                "SCHILY.xattr.security.capability": cap.decode("utf-8", "surrogateescape"),
                "SCHILY.xattr.user.gdn": "kept"}
            tar.addfile(info, io.BytesIO(b"data"))
        for h in (self.u, self.p):
            self.client.stream_in(h, "/tmp/gdn-xattr", buf.getvalue())
            path = os.path.join(self.shim.depot, "containers", h, "rootfs", "tmp", "gdn-xattr",
                                "bin-with-cap")
            self.assertEqual(os.getxattr(path, "user.gdn"), b"kept")
            got = os.getxattr(path, "security.capability")
            # v2 as written, or v3 (with the root uid of the container's user namespace).
            self.assertIn(struct.unpack_from("<I", got)[0], (0x02000001, 0x03000001), got)
            self.assertEqual(struct.unpack_from("<I", got, 4)[0], 1 << 10, got)
            code, out, _ = self.run_proc(h, "cat", "/tmp/gdn-xattr/bin-with-cap")
            self.assertEqual(out, "data")

    def test_stream_error_texts(self):
        with self.assertRaises(GardenError) as cm:
            self.client.stream_out(self.u, "/does/not/exist")
        self.assertTrue(cm.exception.message.startswith("error streaming out"), cm.exception)
        with self.assertRaises(GardenError) as cm:
            self.client.stream_in(self.u, "/tmp/gdn-bad", b"this is not a tar archive" * 40)
        self.assertTrue(cm.exception.message.startswith("error streaming in"), cm.exception)

    # --- mounts and devices (guardiancmd/command_linux.go, guardiancmd/server.go) ---

    def test_unprivileged_mounts(self):
        code, out, _ = self.run_proc(self.u, "cat", "/proc/self/mountinfo")
        m = mountinfo(out)
        self.assertNotIn("/dev", m)  # no tmpfs on /dev: the rootfs's own directory
        self.assertNotIn("/dev/mqueue", m)
        opts, typ, sopts = m["/dev/shm"]
        self.assertEqual(typ, "tmpfs")
        self.assertIn("nodev", opts)
        self.assertIn("relatime", opts)
        self.assertNotIn("noexec", opts)
        self.assertNotIn("nosuid", opts)
        opts, typ, sopts = m["/dev/pts"]
        self.assertEqual(typ, "devpts")
        self.assertTrue({"nosuid", "noexec"} <= opts)
        self.assertTrue({"gid=5", "mode=620", "ptmxmode=666"} <= sopts)
        self.assertIn("ro", m["/sys"][0])
        self.assertIn("/tmp/garden-init", m)
        code, out, _ = self.run_proc(self.u, "cat", "/proc/1/cmdline")
        self.assertEqual(out, "/tmp/garden-init\0")

    def test_dev_shm_is_a_world_writable_tmpfs(self):
        # defaultBindMounts: a tmpfs with no mode of its own, so the tmpfs default, 1777
        # (fixed: garden-shim made its mount point 0755 and the runtime copied that mode).
        for h in (self.u, self.p):
            code, out, _ = self.run_proc(h, "cat", "/proc/self/mountinfo")
            self.assertEqual(mountinfo(out)["/dev/shm"][1], "tmpfs")
            code, out, err = self.sh(h, "stat -c %a /dev/shm; echo x > /dev/shm/gdn-$$ && "
                                        "cat /dev/shm/gdn-$$ && rm /dev/shm/gdn-$$", user="user")
            self.assertEqual((code, out), (0, "1777\nx\n"), err)

    def test_privileged_root_can_chown_tmp(self):
        # initBindMountAndPath binds garden-init read-write (options "bind" only): a privileged
        # root's `chown -R /tmp` must not meet a read-only mount (fixed: EROFS). The owner
        # given is garden-init's own, so the host's file is left as it is.
        code, out, err = self.sh(self.p, "chown -R $(stat -c %u:%g /tmp/garden-init) /tmp && "
                                         "echo ok")
        self.assertEqual((code, out), (0, "ok\n"), err)

    def test_unprivileged_cgroup_fs_is_mounted_read_only(self):
        code, out, err = self.sh(
            self.u, "cat /sys/fs/cgroup/memory/memory.limit_in_bytes >/dev/null && echo read; "
                    "mkdir /sys/fs/cgroup/memory/gdn-x 2>&1; true")
        self.assertTrue(out.startswith("read\n"), out + err)
        self.assertIn("Read-only file system", out)
        code, out, _ = self.run_proc(self.p, "ls", "/sys/fs/cgroup")
        self.assertEqual(out, "")  # privileged containers get no cgroup mount (Guardian)

    def test_device_nodes(self):
        script = ("for d in null zero full random urandom tty fuse; do "
                  "[ -c /dev/$d ] && echo \"$d $(stat -c '%t:%T %a' /dev/$d)\"; done")
        code, out, _ = self.sh(self.u, script)
        self.assertEqual(out, "null 1:3 666\nzero 1:5 666\nfull 1:7 666\nrandom 1:8 666\n"
                              "urandom 1:9 666\ntty 5:0 666\n")
        code, out, _ = self.sh(self.p, script)
        self.assertTrue(out.endswith("fuse a:e5 666\n"), out)
        # The device cgroup of a privileged container lets it open /dev/fuse.
        code, out, err = self.sh(self.p, "echo x > /dev/null && exec 3<>/dev/fuse && echo opened",
                                 user="user")
        self.assertEqual(out, "opened\n", err)

    def test_proc_paths(self):
        # Unprivileged: Guardian masks these /proc files and makes no /proc path read-only
        # (the kernel keeps /proc/sys to the host's root anyway).
        code, out, _ = self.run_proc(self.u, "cat", "/proc/self/mountinfo")
        m = mountinfo(out)
        self.assertNotIn("/proc/sys", m)
        for p in ("/proc/keys", "/proc/timer_list", "/sys/firmware"):
            self.assertIn(p, m)
        code, out, _ = self.sh(self.u, "echo 1 > /proc/sys/kernel/sysrq 2>/dev/null || echo denied")
        self.assertEqual(out, "denied\n")
        # Privileged: we keep them masked and /proc/sys read-only (docs/DESIGN.md §14).
        code, out, _ = self.run_proc(self.p, "cat", "/proc/self/mountinfo")
        m = mountinfo(out)
        self.assertIn("ro", m["/proc/sys"][0])
        self.assertIn("/proc/keys", m)

    def test_bind_mounts_are_not_recursive(self):
        src = os.path.join(self.workdir, "gdn-bm")
        sub = os.path.join(src, "sub")
        os.makedirs(sub, exist_ok=True)
        os.chmod(src, 0o755)
        subprocess.run(["mount", "-t", "tmpfs", "gdn-test", sub], check=True)
        self.addCleanup(subprocess.run, ["umount", "-l", sub])
        with open(os.path.join(sub, "inner"), "w") as f:
            f.write("x")
        h = self.create(bind_mounts=[{"src_path": src, "dst_path": "/mnt/gdn"}])
        code, out, _ = self.sh(h, "ls /mnt/gdn/sub; echo end")
        self.assertEqual(out, "end\n")

    def test_hostname_is_the_handles_last_49_characters(self):
        handle = "crunner-test-gdn-" + "x" * 30 + "-0123456789abcdef"
        h = self.create(handle=handle)
        code, out, _ = self.run_proc(h, "hostname")
        self.assertEqual(out.strip(), handle[-49:])

    # --- disk limits (a limit of N bytes leaves N bytes to write) ---

    def test_disk_limit_gives_the_full_amount(self):
        h = self.create(limits={"disk_limits": {"byte_hard": 8 * MiB, "scope": 1}})
        code, out, err = self.sh(h, "head -c %d /dev/zero > /gdn-full && echo ok" % (8 * MiB))
        self.assertEqual(out, "ok\n", err)
        code, out, err = self.sh(h, "head -c %d /dev/zero > /gdn-more 2>&1; echo $?" % (2 * MiB))
        self.assertNotEqual(out.strip().splitlines()[-1], "0")


class DebugServerTest(ShimTestCase):
    @classmethod
    def setUpClass(cls):
        cls.debug_port = free_port()
        cls.shim_extra = ["--debug-bind-ip", "127.0.0.1", "--debug-bind-port", str(cls.debug_port)]
        super().setUpClass()

    def test_expvar_json(self):
        h = self.create()
        with urllib.request.urlopen("http://127.0.0.1:%d/debug/vars" % self.debug_port) as r:
            self.assertEqual(r.status, 200)
            v = json.loads(r.read())
        for k in ("cmdline", "memstats", "numCPUS", "numGoRoutines", "loopDevices",
                  "backingStores", "depotDirs"):
            self.assertIn(k, v)
        self.assertEqual(v["cmdline"][0], SHIM)
        self.assertEqual(v["depotDirs"], 1)
        self.assertEqual(v["numCPUS"], os.cpu_count())
        self.client.destroy(h)
        self.created.remove(h)
        with urllib.request.urlopen("http://127.0.0.1:%d/debug/vars" % self.debug_port) as r:
            self.assertEqual(json.loads(r.read())["depotDirs"], 0)

    def test_no_debug_server_without_the_flag(self):
        # The suite's other shims run without --debug-bind-ip: Guardian's default is off.
        d = os.path.join(self.workdir, "nodebug")
        os.makedirs(d)
        port = free_port()
        s = Shim(d, self.rootfs, self.cgroup_parent, ["--debug-bind-port", str(port)])
        s.start()
        try:
            with self.assertRaises(OSError):
                urllib.request.urlopen("http://127.0.0.1:%d/debug/vars" % port, timeout=2)
        finally:
            s.kill()


if __name__ == "__main__":
    main()
