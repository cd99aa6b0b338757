"""The CRI suite's world: a private containerd with its CRI plugin, two runtime handlers
(`runc` and crunner's, the latter registered exactly as docs/callers/kubernetes.md says),
bridge CNI, and busybox images in a local docker-registry.

Runs inside the suite's own network namespace and a private mount namespace (test_cri.py
enters both before importing this): tmpfs over /run and /var/lib keeps containerd's shim
sockets, fifos and the CNI result cache out of the host's, and every mount containerd or a
runtime makes dies with the namespace. Pod cgroups go under one parent of the suite's own.
"""

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import tomllib

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.environ.get("CRUNNER_SOURCE_DIR") or os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(SOURCE_DIR, "tests", "image"))
import imagelib  # noqa: E402  (the image suite's registry and umoci helpers)

import cri_client  # noqa: E402

DOC = os.path.join(SOURCE_DIR, "docs", "callers", "kubernetes.md")
RUNC = shutil.which("runc") or "/usr/sbin/runc"
CNI_BIN = "/usr/lib/cni"
# Pods' addresses: a bridge inside the suite's network namespace only (not podman's 10.88/16,
# so a rule or route of ours left in the host's namespace cannot be mistaken for another's).
SUBNET = "10.213.147.0/24"


def doc_snippet(name):
    """The fenced block after `<!-- snippet: NAME -->` in docs/callers/kubernetes.md."""
    text = open(DOC).read()
    m = re.search(r"<!-- snippet: %s -->\n```\w*\n(.*?)```" % re.escape(name), text, re.S)
    if not m:
        raise AssertionError("%s has no snippet %r" % (DOC, name))
    return m.group(1)


def runtime_class_handler():
    """The kubelet's resolution: the pod's runtimeClassName names a RuntimeClass, whose
    handler is the CRI runtime handler."""
    rc = yaml.safe_load(doc_snippet("runtimeclass.yaml"))
    assert rc["kind"] == "RuntimeClass" and rc["apiVersion"] == "node.k8s.io/v1", rc
    pod = yaml.safe_load(doc_snippet("pod-runtimeclass.yaml"))
    assert pod["spec"]["runtimeClassName"] == rc["metadata"]["name"], (pod, rc)
    return rc["handler"]


def crunner_handler_toml(crunner, state_root):
    """The doc's handler with BinaryName pointed at the crunner under test, and the runtime's
    state root moved into the suite's temp dir (a real node keeps the shim's default)."""
    snippet = doc_snippet("containerd-config.toml")
    out, n = re.subn(r'(?m)^(\s*)BinaryName = ".*"$',
                     lambda m: '%sBinaryName = "%s"\n%sRoot = "%s"' % (m.group(1), crunner, m.group(1), state_root),
                     snippet)
    assert n == 1, "the config.toml snippet sets BinaryName once"
    return out


def busybox_rootfs(dst):
    """busybox-static with every applet, users root/user(1000)/nobody, groups."""
    for d in ["bin", "etc", "tmp", "root", "home/user", "proc", "sys", "dev", "var/log"]:
        os.makedirs(os.path.join(dst, d), exist_ok=True)
    shutil.copy2("/bin/busybox", os.path.join(dst, "bin", "busybox"))
    applets = subprocess.run(["/bin/busybox", "--list"], capture_output=True, text=True, check=True).stdout.split()
    for a in applets:
        if a != "busybox" and "/" not in a:
            os.symlink("busybox", os.path.join(dst, "bin", a))
    with open(os.path.join(dst, "etc", "passwd"), "w") as f:
        f.write("root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000:user:/home/user:/bin/sh\n"
                "nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n")
    with open(os.path.join(dst, "etc", "group"), "w") as f:
        f.write("root:x:0:\nuser:x:1000:\nextra:x:1500:user\nnogroup:x:65534:\n")
    os.chown(os.path.join(dst, "home", "user"), 1000, 1000)
    os.chmod(os.path.join(dst, "tmp"), 0o1777)


PAUSE = "trap 'exit 0' TERM INT; while :; do sleep 3600 & wait $!; done"


def build_images(work):
    """OCI layout with tags busybox (cmd sh) and pause (a shell that reaps and exits on TERM)."""
    layout = os.path.join(work, "layout")
    imagelib.run(["umoci", "init", "--layout", layout])
    imagelib.run(["umoci", "new", "--image", layout + ":busybox"])
    bundle = os.path.join(work, "umoci-bundle")
    imagelib.run(["umoci", "unpack", "--image", layout + ":busybox", bundle])
    busybox_rootfs(os.path.join(bundle, "rootfs"))
    imagelib.run(["umoci", "repack", "--image", layout + ":busybox", bundle])
    shutil.rmtree(bundle)
    imagelib.run(["umoci", "config", "--image", layout + ":busybox", "--config.cmd", "sh",
                  "--config.env", "PATH=/bin", "--config.env", "FROM_IMAGE=yes", "--config.workingdir", "/"])
    imagelib.run(["umoci", "config", "--image", layout + ":busybox", "--tag", "pause",
                  "--config.entrypoint", "/bin/sh", "--config.entrypoint", "-c", "--config.entrypoint", PAUSE])
    return layout


def cgroup_mounts():
    """(fstype, mountpoint) of every real cgroup/cgroup2 mount."""
    out = []
    for line in open("/proc/self/mountinfo"):
        left, right = line.split(" - ", 1)
        fstype = right.split()[0]
        if fstype in ("cgroup", "cgroup2"):
            out.append((fstype, left.split()[4]))
    return out


def cgroup_dirs_under(parent):
    """Every directory at or below `parent` (a cgroup path) in any hierarchy."""
    found = []
    for _, mnt in cgroup_mounts():
        top = os.path.join(mnt, parent.lstrip("/"))
        for root, dirs, _ in os.walk(top):
            found.append(root)
    return found


def remove_cgroup_tree(parent):
    for _, mnt in cgroup_mounts():
        top = os.path.join(mnt, parent.lstrip("/"))
        for root, dirs, _ in os.walk(top, topdown=False):
            try:
                os.rmdir(root)
            except OSError:
                pass


class Isolation:
    """The host side: a temp dir, a network namespace (ip netns) and a cgroup parent named
    after `tag`; run() starts a command inside the netns (nsenter --net) and a new private
    mount namespace; close() removes all of it and reports what was left behind."""

    def __init__(self, tag):
        self.tag = tag
        self.tmp = tempfile.mkdtemp(prefix="crunner-cri-")
        os.chmod(self.tmp, 0o755)
        self.cgroup_root = "/" + tag
        self.mntns = None  # the inner's mount namespace (inode), once it reported it
        subprocess.run(["ip", "netns", "add", tag], check=True)
        subprocess.run(["ip", "-n", tag, "link", "set", "lo", "up"], check=True)

    def run(self, argv, timeout):
        return subprocess.run(["nsenter", "--net=/run/netns/" + self.tag, "--",
                               "unshare", "--mount", "--propagation", "private", "--"] + argv,
                              timeout=timeout).returncode

    def snapshot(self):
        """What the suite could leave in the host's namespaces, named so that other suites'
        objects (their netns, links, rules) are not counted."""
        tag, tmp = self.tag, self.tmp
        mounts = [l.split()[4] for l in open("/proc/self/mountinfo") if tmp in l or tag in l]
        netns = sorted(n for n in os.listdir("/run/netns") if tag in n) if os.path.isdir("/run/netns") else []
        links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
        links = [l.split(":")[1].strip() for l in links.splitlines() if ": cri0" in l]
        rules = subprocess.run(["iptables-save"], capture_output=True, text=True).stdout
        rules = [l for l in rules.splitlines() if SUBNET.rsplit(".", 1)[0] + "." in l or "crunner-cri" in l]
        routes = subprocess.run(["ip", "route"], capture_output=True, text=True).stdout
        routes = [l for l in routes.splitlines() if SUBNET.rsplit(".", 1)[0] + "." in l]
        return {"mounts": mounts, "netns": netns, "links": links, "iptables": rules, "routes": routes}

    def close(self, keep=False):
        """Removes everything; returns [(check name, ok, detail)]."""
        out = []
        if self.mntns is not None:
            left = procs_in_mntns(self.mntns)
            out.append(("no process of the suite's mount namespace outlives it", not left, left))
            for pid in left:
                os.kill(pid, signal.SIGKILL)
        subprocess.run(["ip", "netns", "del", self.tag])
        # the pods' parents (the kubelet's to make and remove) may stay; nothing below them
        cg = [d for d in cgroup_dirs_under(self.cgroup_root) if d.split(self.tag, 1)[1].count("/") > 1]
        out.append(("no container cgroup is left under the pods' parent", not cg, cg))
        remove_cgroup_tree(self.cgroup_root)
        left = cgroup_dirs_under(self.cgroup_root)
        out.append(("the pods' parent cgroup is removed", not left, left))
        for k, v in self.snapshot().items():
            out.append(("nothing left in the host's namespaces: " + k, not v, v))
        if keep:
            print("kept", self.tmp)
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)
        return out


def procs_in_mntns(ino):
    pids = []
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                if os.stat("/proc/%s/ns/mnt" % p).st_ino == ino:
                    pids.append(int(p))
            except OSError:
                pass
    return pids


class Env:
    """containerd + registry + images inside the namespaces test_cri.py made."""

    def __init__(self, tmp, crunner, cgroup_root):
        self.tmp = tmp
        self.crunner = crunner
        self.cgroup_root = cgroup_root
        self.registry = None
        self.proc = None
        self.cri = None
        self.handlers = {"runc": RUNC, runtime_class_handler(): crunner}
        self.crunner_handler = runtime_class_handler()
        self.state_roots = {"runc": os.path.join(tmp, "state-runc"),
                            self.crunner_handler: os.path.join(tmp, "state-crunner")}

    # -- setup ---------------------------------------------------------------------------------
    def start(self):
        self._private_dirs()
        self.registry = imagelib.Registry(self.tmp, "cri")
        layout = build_images(self.tmp)
        self.image = "%s/crunner-test/busybox:1" % self.registry.host
        self.pause_image = "%s/crunner-test/pause:1" % self.registry.host
        for tag, ref in (("busybox", self.image), ("pause", self.pause_image)):
            imagelib.run(["skopeo", "copy", "--quiet", "--dest-tls-verify=false",
                          "oci:%s:%s" % (layout, tag), "docker://" + ref])
        self._write_cni()
        self._write_config()
        self._start_containerd()
        pb = cri_client.compile_proto(os.path.join(self.tmp, "pb"))
        self.pb = pb
        self.cri = cri_client.Client(self.sock, pb)
        self.cri.wait_ready(self.proc)
        for img in (self.image, self.pause_image):
            self.cri.PullImage(image={"image": img})

    def _private_dirs(self):
        """tmpfs over /run and /var/lib in this (private) mount namespace."""
        for d in ("/run", "/var/lib"):
            subprocess.run(["mount", "-t", "tmpfs", "-o", "mode=755", "crunner-cri", d], check=True)
        os.makedirs("/run/netns", exist_ok=True)

    def _write_cni(self):
        self.cni_dir = os.path.join(self.tmp, "cni")
        os.makedirs(self.cni_dir)
        conf = ('{"cniVersion": "0.4.0", "name": "crunner-cri", "plugins": [{"type": "bridge", '
                '"bridge": "cri0", "isGateway": false, "ipMasq": false, "ipam": {"type": "host-local", '
                '"ranges": [[{"subnet": "%s"}]], "dataDir": "%s"}}]}\n' % (SUBNET, os.path.join(self.tmp, "ipam")))
        with open(os.path.join(self.cni_dir, "10-crunner-cri.conflist"), "w") as f:
            f.write(conf)

    def _write_config(self):
        t = self.tmp
        self.sock = os.path.join(t, "containerd.sock")
        self.config = os.path.join(t, "config.toml")
        host = self.registry.host
        text = f'''version = 2
root = "{t}/root"
state = "{t}/state"
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs",
  "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs",
  "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]

[grpc]
  address = "{self.sock}"

[ttrpc]
  address = "{self.sock}.ttrpc"

[plugins."io.containerd.internal.v1.opt"]
  path = "{t}/opt"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{self.pause_image}"
  netns_mounts_under_state_dir = true
  # root here lacks CAP_SYS_RESOURCE: no score below containerd's own (the sandbox's -998)
  restrict_oom_score_adj = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"

[plugins."io.containerd.grpc.v1.cri".cni]
  bin_dir = "{CNI_BIN}"
  conf_dir = "{self.cni_dir}"

[plugins."io.containerd.grpc.v1.cri".registry]
  config_path = "{t}/certs.d"

[plugins."io.containerd.grpc.v1.cri".containerd]
  default_runtime_name = "runc"

[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"

[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
  BinaryName = "{RUNC}"
  Root = "{self.state_roots['runc']}"

'''
        text += crunner_handler_toml(self.crunner, self.state_roots[self.crunner_handler])
        with open(self.config, "w") as f:
            f.write(text)
        os.makedirs(os.path.join(t, "certs.d", host))
        with open(os.path.join(t, "certs.d", host, "hosts.toml"), "w") as f:
            f.write('server = "http://%s"\n\n[host."http://%s"]\n  capabilities = ["pull", "resolve"]\n' % (host, host))
        runtimes = tomllib.loads(text)["plugins"]["io.containerd.grpc.v1.cri"]["containerd"]["runtimes"]
        for name, binary in self.handlers.items():
            assert runtimes[name]["runtime_type"] == "io.containerd.runc.v2", runtimes
            assert runtimes[name]["options"]["BinaryName"] == binary, runtimes

    def _start_containerd(self):
        self.log_path = os.path.join(self.tmp, "containerd.log")
        self.log = open(self.log_path, "w")
        level = os.environ.get("CRI_LOG_LEVEL", "warn")
        self.proc = subprocess.Popen(["containerd", "--config", self.config, "--log-level", level],
                                     stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while not os.path.exists(self.sock):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError("containerd did not start:\n" + self.log_tail())
            time.sleep(0.05)

    def log_tail(self, n=40):
        try:
            return "".join(open(self.log_path).readlines()[-n:])
        except OSError:
            return ""

    # -- teardown ------------------------------------------------------------------------------
    def shims(self):
        """pids of containerd-shim-runc-v2 processes started by our containerd."""
        pids = []
        for p in os.listdir("/proc"):
            if not p.isdigit():
                continue
            try:
                cmd = open("/proc/%s/cmdline" % p, "rb").read().split(b"\0")
                if cmd and cmd[0].endswith(b"containerd-shim-runc-v2") and self.sock.encode() in b" ".join(cmd):
                    pids.append(int(p))
            except OSError:
                pass
        return pids

    def remove_all_pods(self):
        for p in self.cri.ListPodSandbox().items:
            for call in (self.cri.StopPodSandbox, self.cri.RemovePodSandbox):
                try:
                    call(pod_sandbox_id=p.id)
                except cri_client.CRIError as e:
                    print("cleanup:", e)

    def stop(self):
        """Stops containerd; returns the shims that outlived it (killed here)."""
        if self.cri:
            self.cri.close()
        left = []
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc:
            for _ in range(50):
                left = self.shims()
                if not left:
                    break
                time.sleep(0.1)
            for pid in left:
                os.kill(pid, signal.SIGKILL)
            self.log.close()
        if self.registry:
            self.registry.close()
        return left
