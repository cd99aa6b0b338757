"""A private dockerd (Debian's docker.io) for the Docker suite and the Docker benchmark.

It runs inside a callers.Sandbox (its own network and mount namespaces) with its own
--data-root, --exec-root, --pidfile and unix socket in a temporary directory, starts its own
containerd there, puts every container under one cgroup parent named after the run, and
registers crunner from the daemon.json snippet of docs/callers/docker.md (the tree's binary
in place of the path the doc names); runc is Docker's built-in runtime. No firewall rules
(--iptables=false): the containers talk only over the namespace's bridge.
"""

import json
import os
import socket
import subprocess

import callers as C

DOCKERD = "/usr/sbin/dockerd"
DOCKER = "/usr/bin/docker"  # Debian's client (a PATH lookup may find another one first)
IMAGE = "crunner-test/busybox:latest"


class Dockerd:
    def __init__(self, sandbox, workdir, cgroup_parent, daemon_json=None, flags=(),
                 more_runtimes=None):
        """daemon_json: the daemon.json text (default: the doc's snippet); flags: more
        dockerd flags (e.g. the doc's --add-runtime one); more_runtimes: entries added to
        its `runtimes`."""
        self.sandbox = sandbox
        self.dir = os.path.join(workdir, "docker")
        os.makedirs(self.dir, exist_ok=True)
        self.sock = os.path.join(self.dir, "docker.sock")
        self.config = os.path.join(self.dir, "daemon.json")
        text = daemon_json if daemon_json is not None else C.tree_crunner(
            C.doc_snippet("callers/docker.md", "daemon.json"))
        config = json.loads(text)  # the snippet must be valid JSON
        if more_runtimes:
            config.setdefault("runtimes", {}).update(more_runtimes)
            text = json.dumps(config, indent=2)
        with open(self.config, "w") as f:
            f.write(text)
        self.cgroup_parent = cgroup_parent
        self.flags = list(flags)
        self.proc = None
        self.log_path = os.path.join(self.dir, "dockerd.log")

    def argv(self):
        return [DOCKERD, "--config-file", self.config,
                "--data-root", os.path.join(self.dir, "data"),
                "--exec-root", os.path.join(self.dir, "exec"),
                "--pidfile", os.path.join(self.dir, "docker.pid"),
                "-H", "unix://" + self.sock,
                "--iptables=false", "--ip-masq=false", "--userland-proxy=false",
                "--cgroup-parent", self.cgroup_parent,
                "--live-restore", "--log-level", "warn", *self.flags]

    def start(self, timeout=90):
        log = open(self.log_path, "a")
        try:
            self.proc = subprocess.Popen(self.sandbox.enter(self.argv()), stdout=log,
                                         stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        finally:
            log.close()
        ok = C.wait_for(lambda: self.proc.poll() is not None or self._answers(), timeout, 0.1)
        if self.proc.poll() is not None or not ok:
            raise RuntimeError(f"dockerd did not start: {self.log_tail()}")

    def _answers(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.settimeout(2)
            s.connect(self.sock)
            s.sendall(b"GET /_ping HTTP/1.0\r\n\r\n")
            return b"OK" in s.recv(4096)
        except OSError:
            return False
        finally:
            s.close()

    def stop(self, timeout=60):
        """SIGTERM and wait (dockerd stops its containerd); SIGKILL after timeout."""
        if self.proc:
            C.stop_process(self.proc, timeout)
            self.proc = None

    def log_tail(self, n=20):
        return "\n".join(C.harness.read_file(self.log_path).splitlines()[-n:])

    def docker(self, *args, timeout=120, input=None, stdin=None):
        """Runs the docker client against this daemon: (rc, out, err)."""
        return C.run([DOCKER, "-H", "unix://" + self.sock, *args], timeout=timeout, input=input,
                     stdin=stdin)

    def client_argv(self, *args):
        return [DOCKER, "-H", "unix://" + self.sock, *args]

    def load_busybox(self, workdir):
        """Loads make-bundle.sh's busybox rootfs as IMAGE, also tagged busybox:latest (the
        doc's examples), through a umoci layout and a docker-archive."""
        layout = C.busybox_layout(os.path.join(workdir, "image"))
        archive = os.path.join(workdir, "busybox.tar")
        C.must(["skopeo", "copy", "--quiet", f"oci:{layout}:busybox",
                f"docker-archive:{archive}:{IMAGE}"])
        for args in (("load", "-i", archive), ("tag", IMAGE, "busybox:latest")):
            rc, out, err = self.docker(*args)
            if rc != 0:
                raise RuntimeError(f"docker {args[0]}: {out}{err}")

    def remove_all(self):
        """Removes every container (running or not) and every volume."""
        rc, out, _ = self.docker("ps", "-aq")
        ids = out.split()
        if ids:
            self.docker("rm", "-f", "-v", *ids)
        rc, out, _ = self.docker("volume", "ls", "-q")
        if out.split():
            self.docker("volume", "rm", "-f", *out.split())
