#!/usr/bin/env python3
"""Test fixture of the Docker suite, registered with dockerd as a runtime whose runtimeArgs
name the real one: `drop_unheld_caps.py REAL_RUNTIME ARGS...`. On `create` it removes from
the bundle's process.capabilities those this process does not hold (root on the test host
lacks CAP_SYS_RESOURCE, and Docker's --privileged asks for every capability, which no runtime
can grant here), then execs REAL_RUNTIME ARGS unchanged. Everything else --privileged sets
(devices, /sys, seccomp, masked paths) reaches the runtime as Docker wrote it."""

import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..",
                                "integration"))
from harness import CAPS  # noqa: E402


def held_mask():
    with open("/proc/self/status") as f:
        for ln in f:
            if ln.startswith("CapPrm:"):
                return int(ln.split()[1], 16)
    return 0


def strip(bundle):
    path = os.path.join(bundle, "config.json")
    with open(path) as f:
        cfg = json.load(f)
    held = held_mask()
    caps = cfg.get("process", {}).get("capabilities") or {}
    for key, names in caps.items():
        caps[key] = [n for n in names if n not in CAPS or held >> CAPS.index(n) & 1]
    with open(path, "w") as f:
        json.dump(cfg, f)


def main():
    real, args = sys.argv[1], sys.argv[2:]
    if "create" in args and "--bundle" in args:
        strip(args[args.index("--bundle") + 1])
    os.execv(real, [real, *args])


if __name__ == "__main__":
    main()
