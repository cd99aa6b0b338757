"""Shared fixtures of crunner-image's tests (Python 3 standard library only).

A real registry: Debian's `docker-registry`, started on 127.0.0.1 on a free port with a
temporary storage directory (optionally with basic auth over TLS, with a throw-away
certificate made by openssl). Test images are built from busybox-static into OCI layouts with
umoci (the base layer) and `umoci raw add-layer` (crafted layers: a whiteout, an opaque
directory, a hard link, a setuid file), plus one zstd layer, and pushed with skopeo.

Everything started or mounted here is stopped/unmounted by Env.close(), also on failure.
"""

import gzip
import hashlib
import io
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import tempfile
import time
import traceback
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.environ.get("CRUNNER_SOURCE_DIR") or os.path.dirname(os.path.dirname(HERE))
BUILD = os.environ.get("CRUNNER_BUILD_DIR") or os.path.join(SOURCE_DIR, "build")
IMAGE_BIN = os.environ.get("CRUNNER_IMAGE") or os.path.join(BUILD, "cmd", "crunner-image", "crunner-image")
CRUNNER = os.environ.get("CRUNNER") or os.path.join(BUILD, "cmd", "crunner", "crunner")
MAKE_BUNDLE = os.path.join(SOURCE_DIR, "tests", "fixtures", "make-bundle.sh")

_results = {"pass": 0, "fail": 0}


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def run(args, check=True, env=None, timeout=300, input=None):
    p = subprocess.run(args, capture_output=True, text=True, env=env, timeout=timeout, input=input)
    if check and p.returncode != 0:
        raise AssertionError("%s failed (%d): %s%s" % (" ".join(args), p.returncode, p.stdout, p.stderr))
    return p


class Registry:
    """One docker-registry process; .host is "127.0.0.1:PORT"."""

    def __init__(self, workdir, name, tls=False, users=None, log_level="error", token=None):
        self.dir = os.path.join(workdir, "registry-" + name)
        os.makedirs(self.dir)
        self.port = free_port()
        self.host = "127.0.0.1:%d" % self.port
        self.tls = tls
        cfg = ["version: 0.1", "log:", "  level: %s" % log_level, "storage:",
               "  filesystem:", "    rootdirectory: %s/data" % self.dir,
               "  delete:", "    enabled: true",
               "http:", "  addr: 127.0.0.1:%d" % self.port]
        if tls:
            key, crt = os.path.join(self.dir, "key.pem"), os.path.join(self.dir, "cert.pem")
            run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                 "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                 "-keyout", key, "-out", crt])
            cfg += ["  tls:", "    certificate: %s" % crt, "    key: %s" % key]
            self.cert = crt
        if users:
            htp = os.path.join(self.dir, "htpasswd")
            for i, (u, pw) in enumerate(users.items()):
                run(["htpasswd", "-B", "-b"] + (["-c"] if i == 0 else []) + [htp, u, pw])
            cfg += ["auth:", "  htpasswd:", "    realm: crunner-test", "    path: %s" % htp]
        self.token_proc = None
        if token:  # (user, password): bearer tokens from tokenserver.py
            tkey, tcrt = os.path.join(self.dir, "tkey.pem"), os.path.join(self.dir, "tcert.pem")
            run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                 "-subj", "/CN=crunner-test-token", "-keyout", tkey, "-out", tcrt])
            tport = free_port()
            self.token_proc = subprocess.Popen([sys.executable, os.path.join(HERE, "tokenserver.py"), str(tport),
                                                tkey, tcrt, "crunner-registry", token[0], token[1]])
            cfg += ["auth:", "  token:", "    realm: http://127.0.0.1:%d/token" % tport,
                    "    service: crunner-registry", "    issuer: crunner-test", "    rootcertbundle: %s" % tcrt]
            wait_port(tport, self.token_proc, "token server")
        with open(os.path.join(self.dir, "config.yml"), "w") as f:
            f.write("\n".join(cfg) + "\n")
        self.log = open(os.path.join(self.dir, "log"), "w")
        self.proc = subprocess.Popen(["docker-registry", "serve", os.path.join(self.dir, "config.yml")],
                                     stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                break
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError("docker-registry did not start: " +
                                         open(os.path.join(self.dir, "log")).read())
                time.sleep(0.05)

    def push(self, layout, tag, repo, creds=None):
        args = ["skopeo", "copy", "--quiet", "--dest-tls-verify=false"]
        if creds:
            args += ["--dest-creds", "%s:%s" % creds]
        args += ["oci:%s:%s" % (layout, tag), "docker://%s/%s" % (self.host, repo)]
        run(args)

    def blob_path(self, digest):
        hexd = digest.split(":")[1]
        return os.path.join(self.dir, "data", "docker", "registry", "v2", "blobs", "sha256", hexd[:2], hexd, "data")

    def close(self):
        if self.token_proc and self.token_proc.poll() is None:
            self.token_proc.terminate()
            self.token_proc.wait()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def wait_port(port, proc, what):
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(what + " did not start")
            time.sleep(0.05)


def _tar_add(t, name, data=None, mode=0o644, typ=tarfile.REGTYPE, linkname="", uid=0, gid=0):
    ti = tarfile.TarInfo(name)
    ti.type = typ
    ti.mode = mode
    ti.uid, ti.gid = uid, gid
    ti.mtime = 1700000000
    ti.linkname = linkname
    if data is not None:
        ti.size = len(data)
        t.addfile(ti, io.BytesIO(data))
    else:
        t.addfile(ti)


def busybox_rootfs(dst):
    os.makedirs(dst, exist_ok=True)
    for d in ["bin", "etc", "tmp", "root", "data", "opq", "home/user"]:
        os.makedirs(os.path.join(dst, d), exist_ok=True)
    shutil.copy2("/bin/busybox", os.path.join(dst, "bin", "busybox"))
    for a in ["sh", "ls", "cat", "stat", "id", "echo", "test", "dd", "rm", "touch", "sync", "mkdir", "find", "readlink"]:
        os.symlink("busybox", os.path.join(dst, "bin", a))
    with open(os.path.join(dst, "etc", "passwd"), "w") as f:
        f.write("root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000:user:/home/user:/bin/sh\n")
    with open(os.path.join(dst, "etc", "group"), "w") as f:
        f.write("root:x:0:\nuser:x:1000:\n")
    for n in ["a", "gone"]:
        with open(os.path.join(dst, "data", n), "w") as f:
            f.write(n + "\n")
    for n in ["old1", "old2"]:
        with open(os.path.join(dst, "opq", n), "w") as f:
            f.write(n + "\n")
    os.chown(os.path.join(dst, "home", "user"), 1000, 1000)
    os.chmod(os.path.join(dst, "tmp"), 0o1777)


def crafted_layer(path):
    """A layer with a whiteout, an opaque dir, a hard link, a setuid file, an absolute symlink
    and a file owned by 1000."""
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as t:
        _tar_add(t, "data/", mode=0o755, typ=tarfile.DIRTYPE)
        _tar_add(t, "data/.wh.gone", b"")
        _tar_add(t, "data/b", b"b\n", uid=1000, gid=1000)
        _tar_add(t, "data/hl", typ=tarfile.LNKTYPE, linkname="data/b")
        _tar_add(t, "opq/", mode=0o755, typ=tarfile.DIRTYPE)
        _tar_add(t, "opq/.wh..wh..opq", b"")
        _tar_add(t, "opq/new", b"new\n")
        _tar_add(t, "bin/suid", b"#!/bin/sh\n", mode=0o4755)
        _tar_add(t, "etc/abs-link", typ=tarfile.SYMTYPE, linkname="/etc/passwd")


def _sha(b):
    return "sha256:" + hashlib.sha256(b).hexdigest()


def add_zstd_layer(layout, tag, files):
    """Appends a zstd-compressed layer (files: {name: bytes}) to layout:tag by editing the
    layout (umoci 0.4 writes gzip only)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        for n, d in files.items():
            _tar_add(t, n, d)
    raw = buf.getvalue()
    z = subprocess.run(["zstd", "-q", "-c"], input=raw, capture_output=True, check=True).stdout
    blobs = os.path.join(layout, "blobs", "sha256")

    def put(b):
        d = _sha(b)
        with open(os.path.join(blobs, d.split(":")[1]), "wb") as f:
            f.write(b)
        return d

    idx_path = os.path.join(layout, "index.json")
    idx = json.load(open(idx_path))
    ent = [m for m in idx["manifests"] if m.get("annotations", {}).get("org.opencontainers.image.ref.name") == tag][0]
    man = json.load(open(os.path.join(blobs, ent["digest"].split(":")[1])))
    cfg = json.load(open(os.path.join(blobs, man["config"]["digest"].split(":")[1])))
    cfg["rootfs"]["diff_ids"].append(_sha(raw))
    cb = json.dumps(cfg).encode()
    man["config"] = {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": put(cb), "size": len(cb)}
    man["layers"].append({"mediaType": "application/vnd.oci.image.layer.v1.tar+zstd", "digest": put(z), "size": len(z)})
    mb = json.dumps(man).encode()
    ent["digest"], ent["size"] = put(mb), len(mb)
    with open(idx_path, "w") as f:
        json.dump(idx, f)


def build_layout(workdir, zstd=True):
    """OCI layout with tag "test": busybox base (gzip, umoci), crafted layer (gzip), a zstd
    layer; env FOO=bar and workdir /data. Returns the layout path."""
    layout = os.path.join(workdir, "layout")
    run(["umoci", "init", "--layout", layout])
    run(["umoci", "new", "--image", layout + ":test"])
    bundle = os.path.join(workdir, "umoci-bundle")
    run(["umoci", "unpack", "--image", layout + ":test", bundle])
    busybox_rootfs(os.path.join(bundle, "rootfs"))
    run(["umoci", "repack", "--image", layout + ":test", bundle])
    shutil.rmtree(bundle)
    crafted = os.path.join(workdir, "crafted.tar")
    crafted_layer(crafted)
    run(["umoci", "raw", "add-layer", "--image", layout + ":test", crafted])
    os.unlink(crafted)
    run(["umoci", "config", "--image", layout + ":test", "--config.env", "FOO=bar&<baz>",
         "--config.workingdir", "/data"])
    if zstd:  # umoci 0.4's unpack cannot read zstd layers (the benchmark compares with it)
        add_zstd_layer(layout, "test", {"zstd-file": b"from a zstd layer\n"})
    return layout


def manifest_layers(layout, tag="test"):
    blobs = os.path.join(layout, "blobs", "sha256")
    idx = json.load(open(os.path.join(layout, "index.json")))
    ent = [m for m in idx["manifests"] if m.get("annotations", {}).get("org.opencontainers.image.ref.name") == tag][0]
    man = json.load(open(os.path.join(blobs, ent["digest"].split(":")[1])))
    return [l["digest"] for l in man["layers"]]


class Env:
    """A temp dir, a store, and whatever the test started (registries, containers)."""

    def __init__(self, tag):
        self.tmp = tempfile.mkdtemp(prefix="crimg-%s-" % tag)
        os.chmod(self.tmp, 0o711)  # mapped container roots traverse it to their rootfs
        self.store = os.path.join(self.tmp, "store")
        self.registries = []
        self.containers = []
        self.stores = [self.store]

    def registry(self, name, **kw):
        r = Registry(self.tmp, name, **kw)
        self.registries.append(r)
        return r

    def image(self, *args, store=None, check=True, timeout=300):
        p = run([IMAGE_BIN, "--store", store or self.store] + list(args), check=False, timeout=timeout)
        if check and p.returncode != 0:
            raise AssertionError("crunner-image %s failed (%d): %s%s" % (" ".join(args), p.returncode, p.stdout, p.stderr))
        return p

    def bundle(self, rootfs, args, userns=False):
        b = tempfile.mkdtemp(prefix="bundle-", dir=self.tmp)
        run(["bash", MAKE_BUNDLE, b] + args)
        shutil.rmtree(os.path.join(b, "rootfs"))
        cfg = json.load(open(os.path.join(b, "config.json")))
        cfg["root"] = {"path": rootfs, "readonly": False}
        if userns:
            cfg["linux"]["namespaces"].append({"type": "user"})
            cfg["linux"]["uidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
            cfg["linux"]["gidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
            cfg["mounts"] = [m for m in cfg["mounts"] if m["destination"] not in ("/sys", "/sys/fs/cgroup")]
        json.dump(cfg, open(os.path.join(b, "config.json"), "w"))
        return b

    def run_container(self, rootfs, args, userns=False):
        b = self.bundle(rootfs, args, userns)
        cid = "crimg-%d-%d" % (os.getpid(), len(self.containers))
        self.containers.append(cid)
        root = os.path.join(self.tmp, "crunner-root")
        p = run([CRUNNER, "--root", root, "run", "--bundle", b, cid], check=False, timeout=60)
        run([CRUNNER, "--root", root, "delete", "--force", cid], check=False)
        return p

    def close(self):
        for r in self.registries:
            r.close()
        for s in self.stores:
            if os.path.exists(s):
                run([IMAGE_BIN, "--store", s, "delete-store"], check=False)
        # Anything still mounted under our temp dir (a failed test) goes too.
        for line in reversed(open("/proc/self/mountinfo").read().splitlines()):
            mp = line.split()[4]
            if mp.startswith(self.tmp):
                subprocess.run(["umount", "-l", mp], capture_output=True)
        shutil.rmtree(self.tmp, ignore_errors=True)


def check(name, cond, detail=""):
    if cond:
        _results["pass"] += 1
        print("PASS", name)
    else:
        _results["fail"] += 1
        print("FAIL %s: %s" % (name, detail))


def eq(name, got, want):
    check(name, got == want, "got %r, want %r" % (got, want))


CASES = []


def case(f):
    CASES.append(f)
    return f


def main(setup):
    """setup(env) -> ctx; every @case gets (env, ctx). env is closed at the end."""
    if os.geteuid() != 0:
        print("FAIL: these tests need root")
        sys.exit(1)
    env = Env(os.path.splitext(os.path.basename(sys.argv[0]))[0].replace("test_", "")[:8])
    try:
        ctx = setup(env)
        for c in CASES:
            try:
                c(env, ctx)
            except Exception:
                check(c.__name__, False, traceback.format_exc())
    except Exception:
        check("setup", False, traceback.format_exc())
    finally:
        env.close()
        leftover = [l.split()[4] for l in open("/proc/self/mountinfo").read().splitlines() if env.tmp in l]
        check("nothing of ours is left mounted", not leftover, str(leftover))
        check("the temp dir is gone", not os.path.exists(env.tmp), env.tmp)
    print("%d passed, %d failed" % (_results["pass"], _results["fail"]))
    sys.exit(1 if _results["fail"] else 0)
