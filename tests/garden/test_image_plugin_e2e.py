"""garden-shim with crunner-image as its image plugins, end to end: containers (unprivileged
and privileged) and peas from docker:// images in a real registry (Debian's docker-registry
on 127.0.0.1, a busybox image built with umoci and pushed with skopeo: tests/image's
helpers). Runs whenever crunner-image is built (ctest passes CRUNNER_IMAGE): a built but
unusable crunner-image fails here; only a tree without it skips."""

import os
import shutil
import subprocess
import sys
import tempfile
import unittest

from harness import SOURCE_DIR, GardenError, ShimTestCase, main

sys.path.insert(0, os.path.join(SOURCE_DIR, "tests", "image"))

IMAGE_BIN = os.environ.get("CRUNNER_IMAGE", "")


def build_image(workdir):
    """An OCI layout (tag e2e): busybox (tests/image's rootfs plus the applets used here), a
    marker file, env E2E_VAR=from-image."""
    import imagelib
    layout = os.path.join(workdir, "layout")
    imagelib.run(["umoci", "init", "--layout", layout])
    imagelib.run(["umoci", "new", "--image", layout + ":e2e"])
    bundle = os.path.join(workdir, "umoci-bundle")
    imagelib.run(["umoci", "unpack", "--image", layout + ":e2e", bundle])
    rootfs = os.path.join(bundle, "rootfs")
    imagelib.busybox_rootfs(rootfs)
    for a in ["env", "hostname", "sleep", "dd", "true"]:
        if not os.path.lexists(os.path.join(rootfs, "bin", a)):
            os.symlink("busybox", os.path.join(rootfs, "bin", a))
    with open(os.path.join(rootfs, "etc", "e2e-marker"), "w") as f:
        f.write("from the registry\n")
    imagelib.run(["umoci", "repack", "--image", layout + ":e2e", bundle])
    shutil.rmtree(bundle)
    imagelib.run(["umoci", "config", "--image", layout + ":e2e",
                  "--config.env", "E2E_VAR=from-image"])
    return layout


class ImagePluginEndToEnd(ShimTestCase):
    @classmethod
    def setUpClass(cls):
        if not IMAGE_BIN:
            raise AssertionError("CRUNNER_IMAGE (crunner-image) is not set")
        if os.geteuid() != 0:
            raise AssertionError("garden-shim tests need root")
        import imagelib
        cls.tmp = tempfile.mkdtemp(prefix="crunner-test-imgplug-e2e-")
        os.chmod(cls.tmp, 0o711)  # unprivileged container roots traverse it to their rootfs
        cls.addClassCleanup(shutil.rmtree, cls.tmp, True)
        cls.registry = imagelib.Registry(cls.tmp, "e2e")
        cls.addClassCleanup(cls.registry.close)
        cls.registry.push(build_image(cls.tmp), "e2e", "busybox:e2e")
        cls.image = "docker://%s/busybox#e2e" % cls.registry.host
        config = os.path.join(cls.tmp, "crunner-image.yml")
        with open(config, "w") as f:
            f.write("create:\n  insecure_registries:\n  - %s\n" % cls.registry.host)
        cls.stores = {k: os.path.join(cls.tmp, "store-" + k) for k in ("unpriv", "priv")}
        for s in cls.stores.values():
            cls.addClassCleanup(subprocess.run, [IMAGE_BIN, "--store", s, "delete-store"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            subprocess.run([IMAGE_BIN, "--store", s, "init-store"], check=True)
        cls.shim_extra = [
            "--image-plugin", IMAGE_BIN,
            "--image-plugin-extra-arg=--store=" + cls.stores["unpriv"],
            "--image-plugin-extra-arg=--config=" + config,
            "--privileged-image-plugin", IMAGE_BIN,
            "--privileged-image-plugin-extra-arg=--store=" + cls.stores["priv"],
            "--privileged-image-plugin-extra-arg=--config=" + config,
        ]
        super().setUpClass()

    def images(self, store):
        r = subprocess.run([IMAGE_BIN, "--store", self.stores[store], "list"], check=True,
                           stdout=subprocess.PIPE, text=True)
        return [os.path.basename(l) for l in r.stdout.split() if l.startswith("/")]

    def check_container(self, h):
        code, out, err = self.run_proc(
            h, "sh", "-c", "cat /etc/e2e-marker; echo $E2E_VAR; id -u; "
                           "stat -c %u /etc/e2e-marker; hostname")
        self.assertEqual(code, 0, err)
        self.assertEqual(out.splitlines(), ["from the registry", "from-image", "0", "0", h])

    def test_unprivileged_container_from_a_registry(self):
        h = self.create(handle="imgplug-e2e-u", image={"uri": self.image})
        self.assertIn(h, self.images("unpriv"))
        self.check_container(h)  # files owned by the container's root: the uid mapping
        code, _, err = self.run_proc(h, "dd", "if=/dev/zero", "of=/tmp/blob", "bs=1M",
                                     "count=2")
        self.assertEqual(code, 0, err)
        disk = self.client.metrics(h)["DiskStat"]
        self.assertGreaterEqual(disk["ExclusiveBytesUsed"], 2 << 20)
        self.assertGreater(disk["TotalBytesUsed"], disk["ExclusiveBytesUsed"])
        self.client.destroy(h)
        self.created.remove(h)
        self.assertNotIn(h, self.images("unpriv"))

    def test_privileged_container_from_a_registry(self):
        h = self.create(handle="imgplug-e2e-p", privileged=True, image={"uri": self.image})
        self.assertIn(h, self.images("priv"))
        self.assertNotIn(h, self.images("unpriv"))
        self.check_container(h)

    def test_pea_from_a_registry(self):
        h = self.create(handle="imgplug-e2e-pea", rootfs="raw://" + self.rootfs)
        code, out, err = self.run_proc(
            h, "sh", "-c", "cat /etc/e2e-marker; echo $E2E_VAR; hostname",
            id="e2e-pea", image={"uri": self.image})
        self.assertEqual(code, 0, err)
        self.assertEqual(out.splitlines(), ["from the registry", "from-image", h])
        self.assertNotIn("e2e-pea", self.images("unpriv"))  # gone with its process

    def test_unknown_image_error(self):
        with self.assertRaises(GardenError) as e:
            self.create(handle="imgplug-e2e-missing",
                        image={"uri": "docker://%s/nosuch#tag" % self.registry.host})
        self.assertTrue(e.exception.message.startswith("running image plugin create: "),
                        e.exception.message)
        self.assertNotIn("imgplug-e2e-missing", self.client.list())
        self.assertNotIn("imgplug-e2e-missing", self.images("unpriv"))


if __name__ == "__main__":
    main()
