"""garden-shim's AppArmor confinement, over the HTTP API, on a kernel with AppArmor (the
AppArmor guest: securityfs mounted, Debian's apparmor_parser). garden-shim runs with its
defaults, so it loads the garden-default profile it ships and puts every process of an
unprivileged container under it; privileged containers stay unconfined.

What each test proves:
- the label: /proc/PID/attr/current reads "garden-default (enforce)" for the init
  (garden-init), run processes (root and non-root, with a tty), an attached process, peas;
  the tar of stream-out runs under it too (it is refused what the profile denies);
  "unconfined" in a privileged container;
- escapes denied in an unprivileged container where only AppArmor stands in the way
  (reading /sys/kernel/security, /sys/firmware, /proc/kcore; signalling or ptrace-reading a
  process the host entered into the container's namespaces): allowed in a privileged one,
  and in an unprivileged one of a shim started with `--apparmor ""`;
- the profile's own content, where nothing else (seccomp, user namespace, read-only mounts)
  interferes: in a privileged container the same script of escapes (mount, umount,
  pivot_root, /proc/sysrq-trigger, /proc/sys/kernel/core_pattern, a /sys write, securityfs,
  /proc/kcore, signal and ptrace-read of a process outside the profile) succeeds unconfined and fails under garden-default (`runtime exec
  --apparmor`), while the container's own network namespace's sysctls stay writable;
- a normal app is unaffected: a shell, ps and kill among its processes, a server on
  loopback, stream-in/out, a non-root user, writes to its own /proc entries.
Run by tests/vm in the AppArmor guest; it fails (never skips) on a host without AppArmor."""

import io
import os
import signal
import subprocess
import tarfile
import time

from harness import ShimTestCase, main, make_tar

PROFILE = "garden-default"
LABEL = "garden-default (enforce)"


def securityfs():
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            if fields[fields.index("-") + 1] == "securityfs":
                return fields[4]
    return None



def one_script(actions):
    """One shell script trying every action (a subshell each): prints "ok: WHAT" or
    "refused: WHAT" per action, so a whole set costs one process start in the slow guest."""
    return "".join("if (%s) > /dev/null; then echo 'ok: %s'; else echo 'refused: %s'; fi\n"
                   % (script, what, what) for what, script in actions.items())


def outcomes(out):
    """{WHAT: succeeded} from one_script's output."""
    res = {}
    for line in out.splitlines():
        verdict, _, what = line.partition(": ")
        if verdict in ("ok", "refused"):
            res[what] = verdict == "ok"
    return res


class AppArmorCase(ShimTestCase):
    @classmethod
    def setUpClass(cls):
        with open("/sys/module/apparmor/parameters/enabled") as f:
            assert f.read().startswith("Y"), "this suite needs a kernel with AppArmor enabled"
        assert securityfs(), "this suite needs securityfs mounted"
        super().setUpClass()
        cls.outsiders = []

    @classmethod
    def tearDownClass(cls):
        for p in cls.outsiders:
            if p.poll() is None:
                p.kill()
            p.wait()
        super().tearDownClass()

    # -- helpers --------------------------------------------------------------------------

    def sh(self, handle, script, **kw):
        return self.run_proc(handle, "sh", "-c", script, **kw)

    def label_of(self, handle, **kw):
        code, out, err = self.run_proc(handle, "cat", "/proc/self/attr/current", **kw)
        self.assertEqual(code, 0, err)
        return out.strip()

    def init_pid(self, handle):
        with open(os.path.join(self.shim.depot, "containers", handle, "init.pid")) as f:
            return int(f.read())

    def outsider(self, handle, privileged):
        """A process the host enters into the container's namespaces, unconfined: (its pid
        inside, its pid on the host). Unprivileged: as the container's user 1000 in its user
        namespace, so that the container's user 1000 passes every other ptrace and kill check
        (same uid, no capability the tracer lacks); privileged: as root, like the container's
        root."""
        ns = ["--pid", "--mount"]
        if not privileged:
            ns += ["--user", "--setuid", "1000", "--setgid", "1000"]
        p = subprocess.Popen(["nsenter", "-t", str(self.init_pid(handle))] + ns +
                             ["--", "/bin/sleep", "600"], start_new_session=True)
        self.outsiders.append(p)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with open("/proc/%d/task/%d/children" % (p.pid, p.pid)) as f:
                    kids = f.read().split()
                with open("/proc/%s/comm" % kids[0]) as f:
                    if f.read().strip() == "sleep":
                        with open("/proc/%s/status" % kids[0]) as st:
                            nspid = [l.split() for l in st if l.startswith("NSpid:")][0]
                        with open("/proc/%s/attr/current" % kids[0]) as a:
                            self.assertEqual(a.read().strip(), "unconfined")
                        return int(nspid[-1]), int(kids[0])
            except (OSError, IndexError):
                pass
            time.sleep(0.05)
        self.fail("nsenter never started its sleep")

    def runtime_exec(self, handle, script, apparmor=None):
        """`runtime exec` into a container straight, optionally under a profile."""
        argv = [self.runtime, "--root", os.path.join(self.shim.depot, "runtime"), "exec"]
        if apparmor:
            argv += ["--apparmor", apparmor]
        r = subprocess.run(argv + [handle, "sh", "-c", script], capture_output=True, text=True,
                           timeout=120)
        return r.returncode, r.stdout, r.stderr

    # -- escapes ----------------------------------------------------------------------------

    ESCAPES = {
        # what, script; each exits 0 when the action succeeded
        "read /sys/kernel/security": "ls /sys/kernel/security",
        "read /sys/firmware": "ls /sys/firmware",
        "read /proc/kcore": "cat /proc/kcore > /dev/null",
    }

    def assert_escapes(self, handle, outsider_pid, allowed, user="root"):
        scripts = dict(self.ESCAPES)
        scripts["signal a process outside the profile"] = "kill -0 %d" % outsider_pid
        scripts["ptrace-read a process outside the profile"] = \
            "cat /proc/%d/environ > /dev/null" % outsider_pid
        code, out, err = self.sh(handle, one_script(scripts), user=user)
        self.assertEqual(code, 0, err)
        self.assertEqual(outcomes(out), {what: allowed for what in scripts}, out + err)
        if not allowed:
            self.assertGreaterEqual(err.count("Permission denied"), len(scripts), err)


class AppArmorTest(AppArmorCase):
    # -- the shim loaded the profile -------------------------------------------------------

    def test_profile_loaded_and_announced_once(self):
        with open(os.path.join(securityfs(), "apparmor", "profiles")) as f:
            self.assertIn(LABEL, f.read().splitlines())
        log = self.shim.read_log()
        self.assertEqual(log.count("unprivileged containers run under AppArmor profile "
                                   "garden-default"), 1, log)
        self.assertNotIn("AppArmor is not enabled", log)

    # -- labels -----------------------------------------------------------------------------

    def test_every_process_of_an_unprivileged_container_runs_under_the_profile(self):
        h = self.create(handle="aa-labels")
        with open("/proc/%d/attr/current" % self.init_pid(h)) as f:
            self.assertEqual(f.read().strip(), LABEL)  # garden-init, seen from the host
        code, out, _ = self.run_proc(h, "cat", "/proc/1/attr/current")
        self.assertEqual((code, out.strip()), (0, LABEL))
        self.assertEqual(self.label_of(h), LABEL)
        self.assertEqual(self.label_of(h, user="user"), LABEL)
        self.assertEqual(self.label_of(h, tty={"window_size": {"columns": 80, "rows": 24}}),
                         LABEL)
        # An attached process: the second client sees the label of the same process.
        p = self.client.run(h, {"id": "attached", "path": "sh",
                                "args": ["-c", "read x; cat /proc/self/attr/current"]})
        a = self.client.attach(h, "attached")
        p.write_stdin("go\n")
        p.close_stdin()
        self.assertEqual(a.read_stream("stdout").decode().strip(), LABEL)
        self.assertEqual(a.wait(), 0)
        self.assertEqual(p.wait(), 0)
        # A pea: its own rootfs and mount namespace, the container's profile.
        code, out, err = self.run_proc(h, "cat", "/proc/self/attr/current", id="pea",
                                       image={"uri": "raw://" + self.rootfs})
        self.assertEqual((code, out.strip()), (0, LABEL), err)

    def test_stream_out_runs_under_the_profile(self):
        # The tar of stream-out is refused what garden-default denies (it has no label of
        # its own to read back: it is gone when the stream ends).
        h = self.create(handle="aa-stream")
        with self.assertRaises(Exception) as e:
            self.client.stream_out(h, "/sys/kernel/security")
        self.assertIn("error streaming out", str(e.exception.message))
        self.assertIn("Permission denied", str(e.exception.message))
        p = self.create(handle="aa-stream-priv", privileged=True)
        self.assertTrue(self.client.stream_out(p, "/sys/kernel/security"))

    def test_privileged_container_is_unconfined(self):
        h = self.create(handle="aa-priv", privileged=True)
        with open("/proc/%d/attr/current" % self.init_pid(h)) as f:
            self.assertEqual(f.read().strip(), "unconfined")
        self.assertEqual(self.label_of(h), "unconfined")
        code, out, _ = self.run_proc(h, "cat", "/proc/self/attr/current", id="privpea",
                                     image={"uri": "raw://" + self.rootfs})
        self.assertEqual((code, out.strip()), (0, "unconfined"))

    # -- escapes ----------------------------------------------------------------------------

    def test_escapes_denied_in_an_unprivileged_container(self):
        h = self.create(handle="aa-escape")
        inside, _ = self.outsider(h, privileged=False)
        self.assert_escapes(h, inside, allowed=False, user="user")
        # Among its own processes signals and ptrace reads work.
        code, out, err = self.sh(h, "sleep 600 & p=$!; cat /proc/$p/environ > /dev/null && "
                                    "kill $p && wait $p; echo $?")
        self.assertEqual((code, out.strip()), (0, "143"), err)

    def test_same_actions_allowed_in_a_privileged_container(self):
        h = self.create(handle="aa-escape-priv", privileged=True)
        inside, _ = self.outsider(h, privileged=True)
        self.assert_escapes(h, inside, allowed=True)

    def test_profile_content_where_nothing_else_stands_in_the_way(self):
        # A privileged container: real root, every capability, no seccomp, no user
        # namespace. Unconfined setup first: lift the read-only /proc paths, a fresh
        # writable sysfs (the container's own network namespace's), securityfs.
        h = self.create(handle="aa-content", privileged=True)
        code, out, err = self.sh(
            h, "umount /proc/sysrq-trigger && umount /proc/sys && mount -o remount,rw /sys && "
               "mount -t securityfs securityfs /sys/kernel/security && mkdir -p /mnt/new/old")
        self.assertEqual(code, 0, out + err)
        actions = {
            "mount": "mount -t tmpfs none /mnt && umount /mnt",
            "umount": "umount /dev/shm && mount -t tmpfs -o nodev shm /dev/shm",
            # EINVAL unconfined (new_root is no mount point); the LSM decides before that.
            "pivot_root": "pivot_root /mnt/new /mnt/new/old 2>&1 | grep -v 'Permission denied'",
            "/proc/sysrq-trigger": "echo h > /proc/sysrq-trigger",
            "/proc/sys/kernel/core_pattern":
                "cat /proc/sys/kernel/core_pattern > /tmp/cp && "
                "cat /tmp/cp > /proc/sys/kernel/core_pattern",
            "/sys write": "cat /sys/class/net/lo/mtu > /tmp/mtu && "
                          "cat /tmp/mtu > /sys/class/net/lo/mtu",
            "/sys/kernel/security": "cat /sys/kernel/security/apparmor/profiles > /dev/null",
            "/proc/kcore": "cat /proc/kcore > /dev/null",
        }
        inside, _ = self.outsider(h, privileged=True)
        actions["signal a process outside the profile"] = "kill -0 %d" % inside
        actions["ptrace-read a process outside the profile"] = "cat /proc/%d/environ" % inside
        code, out, err = self.runtime_exec(h, one_script(actions))
        self.assertEqual((code, outcomes(out)), (0, {what: True for what in actions}), out + err)
        code, out, err = self.runtime_exec(h, one_script(actions), apparmor=PROFILE)
        self.assertEqual((code, outcomes(out)), (0, {what: False for what in actions}), out + err)
        # The container's own namespaces' sysctls stay writable under the profile.
        code, out, err = self.runtime_exec(
            h, "cat /proc/sys/net/ipv4/ip_forward > /tmp/f && "
               "cat /tmp/f > /proc/sys/net/ipv4/ip_forward && cat /proc/self/attr/current",
            apparmor=PROFILE)
        self.assertEqual((code, out.strip()), (0, LABEL), err)

    # -- a normal app -----------------------------------------------------------------------

    def test_a_normal_app_is_unaffected(self):
        h = self.create(handle="aa-app")
        # A shell; ps reads the other processes' /proc entries, kill signals one.
        code, out, err = self.sh(
            h, "echo hi; mkdir -p /tmp/x && echo ok > /tmp/x/f && cat /tmp/x/f && ls / >/dev/null; "
               "sleep 600 & p=$!; for i in $(seq 100); do ps | grep -q '[s]leep 600' && "
               "echo seen && break; sleep 0.1; done; kill $p; wait $p; echo $?")
        self.assertEqual((code, out.split()), (0, ["hi", "ok", "seen", "143"]), err)
        # A small server on loopback and its client.
        code, out, err = self.sh(
            h, "mkdir -p /www && echo hello > /www/index.html && "
               "httpd -p 127.0.0.1:8080 -h /www && "
               "for i in $(seq 100); do wget -q -O- http://127.0.0.1:8080/index.html "
               "&& exit 0; sleep 0.1; done; exit 1")
        self.assertEqual((code, out.strip()), (0, "hello"), err)
        # Its own /proc entries (the network namespace's sysctls would need CAP_NET_ADMIN,
        # which Garden does not grant).
        code, out, err = self.sh(h, "echo 500 > /proc/self/oom_score_adj && "
                                    "cat /proc/self/oom_score_adj")
        self.assertEqual((code, out.strip()), (0, "500"), err)
        # Stream in and out, as a non-root user, who then works on the files.
        self.client.stream_in(h, "/home/user/in", make_tar({"a.txt": b"streamed\n"}),
                              user="user")
        code, out, err = self.sh(h, "id -u; cat in/a.txt; echo more >> in/a.txt",
                                 user="user")
        self.assertEqual((code, out.split()), (0, ["1000", "streamed"]), err)
        data = self.client.stream_out(h, "/home/user/in/a.txt", user="user")
        with tarfile.open(fileobj=io.BytesIO(data)) as tar:
            self.assertEqual(tar.extractfile("a.txt").read(), b"streamed\nmore\n")



class WithoutProfileTest(AppArmorCase):
    """The same shim with `--apparmor ""`: the escapes the unprivileged container is refused
    above succeed, so what refused them was the profile (not the user namespace, seccomp or
    the masked paths)."""
    shim_extra = ["--apparmor", ""]

    def test_the_same_escapes_succeed_without_the_profile(self):
        h = self.create(handle="aa-none")
        self.assertEqual(self.label_of(h), "unconfined")
        inside, _ = self.outsider(h, privileged=False)
        self.assert_escapes(h, inside, allowed=True, user="user")
        self.assertNotIn("AppArmor profile", self.shim.read_log())


if __name__ == "__main__":
    main()
