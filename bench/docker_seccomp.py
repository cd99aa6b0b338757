#!/usr/bin/env python3
"""Writes bench/fixtures/docker-default-seccomp.json: the `linux.seccomp` Docker puts in the
config.json of a default `docker run busybox true` (its built-in default profile, converted by
dockerd for the default capabilities and this architecture), as the runtime receives it.

    sudo python3 bench/docker_seccomp.py [--out FILE]

It starts the Docker suite's private dockerd (tests/callers/dockerd.py: Debian's docker.io,
its own containerd, network and mount namespaces) with one more runtime, a shell script that
copies the bundle's config.json on `create` and then runs runc; runs one container with it;
and keeps `linux.seccomp` of that config, with the Docker and runc versions it came from.
bench/run.py's `+seccomp` scenarios put it into their bundle.
"""

import argparse
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "callers"))
import callers as C  # noqa: E402
from dockerd import IMAGE, Dockerd  # noqa: E402

DEFAULT_OUT = os.path.join(HERE, "fixtures", "docker-default-seccomp.json")

# The runtime Docker calls: on `create`, copies BUNDLE/config.json to $1's directory; then runc.
CAPTURE = """#!/bin/sh
out={out}
bundle=
prev=
for a in "$@"; do
  [ "$prev" = --bundle ] || [ "$prev" = -b ] && bundle=$a
  prev=$a
done
case " $* " in *" create "*) [ -n "$bundle" ] && cp "$bundle/config.json" "$out" ;; esac
exec {runc} "$@"
"""


def capture(tmp):
    """Runs one default container through the capture runtime; returns its config.json."""
    saved = os.path.join(tmp, "captured-config.json")
    script = os.path.join(tmp, "capture-runtime")
    with open(script, "w") as f:
        f.write(CAPTURE.format(out=saved, runc=C.RUNC))
    os.chmod(script, 0o755)
    name = os.path.basename(tmp)
    sandbox = d = None
    try:
        sandbox = C.Sandbox()
        d = Dockerd(sandbox, tmp, "/" + name, more_runtimes={"capture": {"path": script}})
        d.start()
        d.load_busybox(tmp)
        rc, out, err = d.docker("run", "--rm", "--runtime", "capture", IMAGE, "true")
        if rc != 0:
            raise RuntimeError(f"docker run: {out}{err}")
        _, version, _ = d.docker("version", "--format", "{{.Server.Version}}")
        with open(saved) as f:
            return json.load(f), version.strip()
    finally:
        if d and d.proc:
            d.remove_all()
            d.stop()
        if sandbox:
            sandbox.close()
        C.remove_cgroups(name)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=DEFAULT_OUT)
    a = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("docker_seccomp.py: run as root")
    C.teardown_on_signals()
    tmp = C.make_tmpdir("dockerseccomp")
    try:
        config, version = capture(tmp)
    finally:
        subprocess.run(["rm", "-rf", tmp])
    seccomp = config.get("linux", {}).get("seccomp")
    if not seccomp:
        sys.exit("docker_seccomp.py: Docker's config.json has no linux.seccomp")
    caps = config.get("process", {}).get("capabilities", {}).get("bounding", [])
    doc = {"source": f"linux.seccomp of `docker run busybox true`, Docker {version} "
                     f"(Debian docker.io), default profile, capabilities {' '.join(caps)}",
           "seccomp": seccomp}
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    with open(a.out, "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")
    rules = len(seccomp.get("syscalls", []))
    names = sum(len(s.get("names", [])) for s in seccomp.get("syscalls", []))
    print(f"{a.out}: {rules} rules, {names} syscall names ({doc['source']})")


if __name__ == "__main__":
    main()
