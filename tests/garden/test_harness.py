"""The test harness itself: a shim that fails to start, or a test class whose setUpClass
fails after starting one, leaves no process, mount, loop device or directory behind."""

import os
import tempfile
import unittest

from harness import Shim, ShimTestCase, cleanup_workdir, main


def processes_mentioning(text):
    """Pids whose command line mentions text."""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % d, "rb") as f:
                if text.encode() in f.read():
                    out.append(int(d))
        except OSError:
            pass
    return out


_seen_workdirs = []


class _FailingSetUp(ShimTestCase):
    """Its shim listens on a unix socket, so the harness's TCP ping never succeeds."""

    @classmethod
    def setUpClass(cls):
        cls.shim_extra = ["--bind-socket",
                          os.path.join(tempfile.gettempdir(), "crunner-test-garden-%d.sock"
                                       % os.getpid())]
        try:
            super().setUpClass()
        finally:
            _seen_workdirs.append(cls.workdir)

    def test_never_runs(self):
        raise AssertionError("setUpClass should have failed")


class HarnessTest(unittest.TestCase):
    def test_failed_start_kills_the_shim(self):
        d = tempfile.mkdtemp(prefix="crunner-test-garden-start-")
        self.addCleanup(cleanup_workdir, d, None, "runc", None)
        sock = os.path.join(d, "s.sock")
        shim = Shim(d, "/nonexistent-rootfs", "crunner-test-unused", ["--bind-socket", sock])
        with self.assertRaises(RuntimeError):
            shim.start()
        self.assertIsNone(shim.proc)
        self.assertEqual(processes_mentioning(d), [])

    def test_failed_setupclass_cleans_up(self):
        if os.geteuid() != 0:
            self.fail("needs root")
        suite = unittest.defaultTestLoader.loadTestsFromTestCase(_FailingSetUp)
        result = unittest.TestResult()
        suite.run(result)
        self.assertEqual(len(result.errors), 1)  # the setUpClass error
        self.assertEqual(result.testsRun, 0)
        self.assertEqual(len(_seen_workdirs), 1)
        workdir = _seen_workdirs[0]
        self.assertEqual(processes_mentioning(workdir), [])
        self.assertFalse(os.path.exists(workdir))
        sock = _FailingSetUp.shim_extra[1]
        if os.path.exists(sock):
            os.unlink(sock)


def load_tests(loader, tests, pattern):
    # _FailingSetUp is run by test_failed_setupclass_cleans_up only.
    return loader.loadTestsFromTestCase(HarnessTest)


if __name__ == "__main__":
    main()
