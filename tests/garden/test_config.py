"""garden-shim started from Guardian's INI config file (`--config FILE`, the [server] section
a Cloud Foundry cell gives `gdn server`): every setting of the shim comes from the file
(listen address, depot, runtime, rootfs, cgroup parent, networking off), a flag on the
command line wins over the file's key, Guardian's keys for its own helpers are accepted with
a warning, and a bad file is refused by key and path before anything exists."""

import os
import subprocess
import tempfile
import unittest
import urllib.request
import json

from harness import SHIM, ShimTestCase, free_port, main


class StartedFromConfigFile(ShimTestCase):
    @classmethod
    def setUpClass(cls):
        cls.debug_port = free_port()
        cls.shim_ini = (
            "; Guardian's own helpers and state files: accepted, each named in a warning\n"
            "  dadoo-bin = /var/vcap/packages/guardian/bin/dadoo\n"
            "  iptables-bin = /var/vcap/packages/iptables/sbin/iptables\n"
            "  skip-setup = true\n"
            "  properties-path = /var/vcap/data/garden/props.json\n"
            "  default-container-blockio-weight = 0\n"
            "  debug-bind-ip = 127.0.0.1\n"
            "  debug-bind-port = %d\n"
            "  max-containers = 3\n"
            "  log-level = debug\n" % cls.debug_port)
        cls.shim_extra = ["--max-containers", "5"]
        super().setUpClass()

    def test_the_file_configures_the_whole_shim(self):
        with open(os.path.join(self.workdir, "garden.ini")) as f:
            ini = f.read()
        for key in ("bind-ip", "bind-port", "depot", "runtime-plugin", "default-rootfs",
                    "cgroup-parent", "stop-timeout", "disable-networking"):
            self.assertIn("\n  %s = " % key, ini)
        with open("/proc/%d/cmdline" % self.shim.proc.pid, "rb") as f:
            argv = f.read().split(b"\0")[:-1]
        self.assertEqual(argv[1:], [b"--config", os.path.join(self.workdir, "garden.ini").encode(),
                                    b"--max-containers", b"5"])
        h = self.create()
        self.assertTrue(os.path.isdir(os.path.join(self.shim.depot, "containers", h)))
        self.assertTrue(any(os.path.isdir(d) for d in self.container_cgroup_dirs(h)))
        self.assertEqual(self.run_proc(h, "/bin/echo", "from", "the", "file"),
                         (0, "from the file\n", ""))

    def test_a_flag_on_the_command_line_wins_over_the_files_key(self):
        self.assertEqual(self.client.capacity()["max_containers"], 5)

    def test_the_files_debug_server_keys_apply(self):
        with urllib.request.urlopen("http://127.0.0.1:%d/debug/vars" % self.debug_port) as r:
            self.assertIn("cmdline", json.loads(r.read()))

    def test_keys_with_no_effect_are_named_in_a_warning(self):
        log = self.shim.read_log()
        for key in ("dadoo-bin", "iptables-bin", "skip-setup", "properties-path"):
            self.assertIn("garden-shim: ignoring Guardian's --%s: " % key, log)
        self.assertNotIn("default-container-blockio-weight", log)


class RefusedConfigFile(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="crunner-test-garden-config-")
        self.depot = os.path.join(self.dir, "depot")
        self.ini = os.path.join(self.dir, "garden.ini")

    def tearDown(self):
        subprocess.run(["rm", "-rf", self.dir])

    def start(self, text, *flags):
        with open(self.ini, "w") as f:
            f.write(text)
        return subprocess.run([SHIM, "--config", self.ini, *flags], capture_output=True,
                              text=True, timeout=30, stdin=subprocess.DEVNULL)

    def test_an_unknown_key_is_refused_by_name_and_file_before_anything_exists(self):
        p = self.start("[server]\n  depot = %s\n  bind-port = %d\n  disable-networking = true\n"
                       "  graph-cleanup-threshold-in-megabytes = 100\n"
                       % (self.depot, free_port()))
        self.assertEqual((p.returncode, p.stdout, p.stderr), (
            2, "", "garden-shim: config file `%s`: unknown key "
                   "`graph-cleanup-threshold-in-megabytes` in [server] (not a garden-shim flag; "
                   "`garden-shim --help` lists them)\n" % self.ini))
        self.assertFalse(os.path.exists(self.depot))

    def test_a_bad_value_is_refused_by_key_and_file(self):
        p = self.start("[server]\n  depot = %s\n  bind-port = 70000\n" % self.depot)
        self.assertEqual((p.returncode, p.stderr), (
            2, "garden-shim: config file `%s`: key `bind-port`: --bind-port: `70000` is not a "
               "number from 0 to 65535\n" % self.ini))
        self.assertFalse(os.path.exists(self.depot))

    def test_a_key_outside_server_is_refused(self):
        p = self.start("depot = %s\n" % self.depot)
        self.assertEqual(p.returncode, 2)
        self.assertIn("config file `%s`: key `depot` is not in the [server] section" % self.ini,
                      p.stderr)
        self.assertFalse(os.path.exists(self.depot))

    def test_a_missing_file_is_refused_by_path(self):
        p = subprocess.run([SHIM, "--config", self.ini + ".missing"], capture_output=True,
                           text=True, timeout=30)
        self.assertEqual((p.returncode, p.stderr), (
            2, "garden-shim: config file `%s.missing`: No such file or directory\n" % self.ini))


if __name__ == "__main__":
    main()
