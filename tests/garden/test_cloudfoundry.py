"""docs/callers/cloudfoundry.md, run: Guardian's config.ini swapped to garden-shim with
crunner-image as both image plugins, every snippet taken from the doc (`/var/vcap/` moved into
a temporary directory, `/usr/local/bin/...` replaced by the tree's binaries). The stores are
initialised with the doc's init-store lines, garden-shim starts with the doc's `start`
arguments (the harness's flags, which win over the file, keep it on a free loopback port with
its own depot, runtime and cgroup parent, networking off), and containers come from a
docker:// image in a local registry through crunner-image, each kind in its own store."""

import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import unittest

import yaml

from harness import SHIM, SOURCE_DIR, ShimTestCase, main, runtime_path

sys.path.insert(0, os.path.join(SOURCE_DIR, "tests", "image"))

DOC = os.path.join(SOURCE_DIR, "docs", "callers", "cloudfoundry.md")
IMAGE_BIN = os.environ.get("CRUNNER_IMAGE", "")


def doc_snippet(name):
    """The fenced block after `<!-- snippet: NAME -->` in the doc."""
    with open(DOC) as f:
        text = f.read()
    m = re.search(r"<!-- snippet: %s -->\n```\w*\n(.*?)```" % re.escape(name), text, re.S)
    if not m:
        raise AssertionError("%s has no snippet %r" % (DOC, name))
    return m.group(1)


class CloudFoundryDoc(ShimTestCase):
    @classmethod
    def setUpClass(cls):
        if not IMAGE_BIN:
            raise AssertionError("CRUNNER_IMAGE (crunner-image) is not set")
        if os.geteuid() != 0:
            raise AssertionError("garden-shim tests need root")
        import imagelib
        from test_image_plugin_e2e import build_image
        cls.tmp = tempfile.mkdtemp(prefix="crunner-test-cf-doc-")
        os.chmod(cls.tmp, 0o711)  # unprivileged container roots traverse it to their rootfs
        cls.addClassCleanup(shutil.rmtree, cls.tmp, True)
        cls.vcap = os.path.join(cls.tmp, "vcap") + "/"
        cls.registry = imagelib.Registry(cls.tmp, "cfdoc")
        cls.addClassCleanup(cls.registry.close)
        cls.registry.push(build_image(cls.tmp), "e2e", "busybox:e2e")
        cls.image = "docker://%s/busybox#e2e" % cls.registry.host

        config_dir = cls.here("/var/vcap/jobs/garden/config")
        os.makedirs(config_dir)
        cls.stores = []
        for name in ("grootfs_config.yml", "privileged_grootfs_config.yml"):
            cfg = yaml.safe_load(cls.here(doc_snippet(name)))
            cfg["create"]["insecure_registries"] = [cls.registry.host]
            cls.stores.append(cfg["store"])
            with open(os.path.join(config_dir, name), "w") as f:
                yaml.safe_dump(cfg, f)
        for store in cls.stores:
            cls.addClassCleanup(subprocess.run, [IMAGE_BIN, "--store", store, "delete-store"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for line in cls.here(doc_snippet("init-store")).splitlines():
            subprocess.run(shlex.split(line), check=True)
        cls.ini = os.path.join(config_dir, "config.ini")
        with open(cls.ini, "w") as f:
            f.write(cls.here(doc_snippet("config.ini")))
        start = shlex.split(cls.here(doc_snippet("start")))
        assert start[:2] == ["exec", SHIM], start
        cls.shim_extra = start[2:]
        super().setUpClass()

    @classmethod
    def here(cls, text):
        """The doc's paths on this machine: the tree's binaries, /var/vcap/ in cls.tmp."""
        for name, path in (("crunner-image", IMAGE_BIN), ("garden-shim", SHIM),
                           ("crunner", runtime_path())):
            text = text.replace("/usr/local/bin/" + name, path)
        return text.replace("/var/vcap/", cls.vcap)

    def images(self, store):
        r = subprocess.run([IMAGE_BIN, "--store", store, "list"], check=True,
                           stdout=subprocess.PIPE, text=True)
        return [os.path.basename(l) for l in r.stdout.split() if l.startswith("/")]

    def check_container(self, h):
        code, out, err = self.run_proc(h, "sh", "-c", "cat /etc/e2e-marker; echo $E2E_VAR")
        self.assertEqual((code, out.splitlines()), (0, ["from the registry", "from-image"]), err)

    def test_the_shim_runs_from_the_docs_config(self):
        with open("/proc/%d/cmdline" % self.shim.proc.pid, "rb") as f:
            argv = [a.decode() for a in f.read().split(b"\0")[:-1]]
        self.assertEqual(argv[-2:], ["--config", self.ini])

    def test_guardians_own_keys_are_named_in_warnings(self):
        log = self.shim.read_log()
        for key in ("iptables-bin", "iptables-restore-bin", "init-bin", "dadoo-bin",
                    "nstar-bin", "tar-bin", "properties-path", "port-pool-properties-path",
                    "skip-setup"):
            self.assertIn("garden-shim: ignoring Guardian's --%s: " % key, log)

    def test_unprivileged_container_through_the_docs_image_plugin(self):
        h = self.create(handle="cf-doc-u", image={"uri": self.image})
        self.assertIn(h, self.images(self.stores[0]))
        self.assertNotIn(h, self.images(self.stores[1]))
        self.check_container(h)

    def test_privileged_container_through_the_docs_privileged_image_plugin(self):
        h = self.create(handle="cf-doc-p", privileged=True, image={"uri": self.image})
        self.assertIn(h, self.images(self.stores[1]))
        self.assertNotIn(h, self.images(self.stores[0]))
        self.check_container(h)


if __name__ == "__main__":
    main()
