"""garden-shim's --apparmor on the host the suite runs on. This host's kernel has no
AppArmor (the AppArmor guest suite, guest_apparmor.py, covers a kernel with it): garden-shim
starts with its default (garden-default), says once that AppArmor is not enabled, and its
containers work, unconfined; a profile named on purpose is refused at start-up, and
`--apparmor ""` asks for none and says nothing. On a host with AppArmor the same test
checks instead that the default profile was loaded and confines the container."""

import os
import tempfile

from harness import Shim, ShimTestCase, main

NOTE = "AppArmor is not enabled on this host"


def apparmor_enabled():
    try:
        with open("/sys/module/apparmor/parameters/enabled") as f:
            return f.read().startswith("Y")
    except OSError:
        return False


class DefaultProfileTest(ShimTestCase):
    def test_default_profile_on_this_host(self):
        h = self.create(handle="aa-host")
        code, out, err = self.run_proc(h, "sh", "-c", "echo hi; id -u")
        self.assertEqual((code, out.split()), (0, ["hi", "0"]), err)
        self.assertEqual(self.run_proc(h, "id", "-u", user="user")[1].strip(), "1000")
        with open(os.path.join(self.shim.depot, "containers", h, "config.json")) as f:
            config = f.read()
        log = self.shim.read_log()
        if apparmor_enabled():
            self.assertIn('"apparmorProfile": "garden-default"', config)
            code, out, _ = self.run_proc(h, "cat", "/proc/self/attr/current")
            self.assertEqual(out.strip(), "garden-default (enforce)")
            self.assertNotIn(NOTE, log)
            return
        self.assertNotIn("apparmorProfile", config)
        # Said once, at start-up, whatever the containers do afterwards.
        self.assertEqual(log.count(NOTE), 1, log)
        self.assertIn("unprivileged containers run without an AppArmor profile (the seccomp "
                      "allowlist still applies)", log)
        self.assertLess(log.index(NOTE), log.index("listening on"))


class ExplicitProfileTest(ShimTestCase):
    def start_shim(self, *extra):
        """Starts (and kills) a shim of its own, with its own log; returns the log."""
        workdir = tempfile.mkdtemp(dir=self.workdir)
        shim = Shim(workdir, self.rootfs, self.cgroup_parent + "-x", list(extra))
        try:
            shim.start()
        finally:
            shim.kill()
        return shim.read_log()

    def test_a_named_profile_needs_apparmor_or_must_be_loaded(self):
        with self.assertRaises(RuntimeError) as e:
            self.start_shim("--apparmor", "garden-default")
        if apparmor_enabled():
            self.fail("this host has AppArmor: garden-default must load (%s)" % e.exception)
        self.assertIn('garden-shim: --apparmor: apparmor profile "garden-default" requested but '
                      'AppArmor is not enabled on this host', str(e.exception))
        with self.assertRaises(RuntimeError) as e:
            self.start_shim("--apparmor", "bad name")
        self.assertIn('--apparmor: invalid profile name "bad name"', str(e.exception))

    def test_none_asked_for(self):
        log = self.start_shim("--apparmor", "")
        self.assertNotIn(NOTE, log)
        self.assertNotIn("AppArmor profile", log)
        log = self.start_shim("--apparmor=")
        self.assertNotIn(NOTE, log)


if __name__ == "__main__":
    main()
