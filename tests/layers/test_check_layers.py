#!/usr/bin/env python3
"""scripts/check-layers.py on small trees: a clean one passes; an include that runs up, one
sideways, one from base/ and one into tests/ each fail, naming the file, line and include."""

import os
import subprocess
import sys
import tempfile
import unittest

SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts",
                      "check-layers.py")

# Every include here runs down (or stays in its folder, or is not ours).
CLEAN = {
    "base/error.hpp": "#pragma once\n#include <string>\n",
    "base/file.cpp": '#include "base/error.hpp"\n',
    "cgroups/v2.cpp": '#include "base/error.hpp"\n#include "cgroups/v2.hpp"\n',
    "cgroups/v2.hpp": "#pragma once\n",
    "seccomp/load.cpp": '#include "base/file.hpp"\n',
    "libcontainer/container.cpp": ('#include "cgroups/v2.hpp"\n#include "seccomp/seccomp.hpp"\n'
                                   '#include "criu/rpc.pb-c.h"\n'),
    "image/store.cpp": '#include "libcontainer/spec.hpp"\n#include "seccomp/sha256.hpp"\n',
    "garden/api/processes.cpp": '#include "garden/bundle/bundle.hpp"\n#include "base/fd.hpp"\n',
    "cmd/crunner-image/main.cpp": '#include "output.hpp"\n#include "image/store.hpp"\n',
    "cmd/garden-shim/main.cpp": '#include "garden/api/server.hpp"\n',
    "tests/unit/x_test.cpp": '#include "cmd/crunner/cli.hpp"\n#include "libcontainer/init.hpp"\n',
    "fuzz/x_fuzz.cpp": '#include "garden/http/request.hpp"\n',
}


def run(tree):
    with tempfile.TemporaryDirectory() as root:
        for rel, text in tree.items():
            path = os.path.join(root, rel)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w") as f:
                f.write(text)
        p = subprocess.run([sys.executable, SCRIPT, "--root", root], capture_output=True,
                           text=True, timeout=60)
        return p.returncode, p.stdout + p.stderr


class CheckLayers(unittest.TestCase):
    def fails_with(self, rel, text, line):
        tree = dict(CLEAN)
        tree[rel] = tree.get(rel, "") + text
        rc, out = run(tree)
        self.assertEqual(rc, 1, out)
        self.assertIn(line, out)
        self.assertEqual(out.count(f"{rel}:"), 1, out)  # only the bad line is reported

    def test_clean_tree_passes(self):
        rc, out = run(CLEAN)
        self.assertEqual(rc, 0, out)
        self.assertIn("every include runs down", out)

    def test_upward_include_fails(self):
        self.fails_with("cgroups/v2.cpp", '#include "libcontainer/container.hpp"\n',
                        'cgroups/v2.cpp:3: includes "libcontainer/container.hpp" '
                        "(container lifecycle) from kernel features: runs up")

    def test_include_from_base_fails(self):
        self.fails_with("base/file.cpp", '  #  include "seccomp/names.hpp"\n',
                        'base/file.cpp:2: includes "seccomp/names.hpp" (kernel features) '
                        "from ground: runs up")

    def test_sideways_include_fails(self):
        self.fails_with("garden/api/processes.cpp", '#include "image/store.hpp"\n',
                        'garden/api/processes.cpp:3: includes "image/store.hpp" '
                        "(image store, Garden) from image store, Garden: sideways")
        self.fails_with("seccomp/load.cpp", '#include "cgroups/v2.hpp"\n',
                        "seccomp/load.cpp:2: includes \"cgroups/v2.hpp\" (kernel features) "
                        "from kernel features: sideways")

    def test_include_of_tests_fails(self):
        self.fails_with("libcontainer/container.cpp", '#include "tests/unit/fake.hpp"\n',
                        'libcontainer/container.cpp:4: includes "tests/unit/fake.hpp" (-) '
                        "from container lifecycle: into a folder that is no layer")

    def test_list_names_every_floor(self):
        p = subprocess.run([sys.executable, SCRIPT, "--list"], capture_output=True, text=True,
                           timeout=60)
        self.assertEqual(p.returncode, 0)
        for folder in ("base/", "cgroups/", "libcontainer/", "garden/", "cmd/", "tests/"):
            self.assertIn(folder, p.stdout)


if __name__ == "__main__":
    unittest.main(verbosity=2)
