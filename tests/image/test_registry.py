"""crunner-image against real registries: docker:// pulls (anonymous plain HTTP, basic auth
over TLS), create's stdout, digest verification, auth and TLS error messages, concurrent
creates, the mirror option, and the rootfs seen from inside a crunner container."""

import json
import os
import subprocess
import threading

import imagelib as L
from imagelib import case, check, eq


def setup(env):
    layout = L.build_layout(env.tmp)
    plain = env.registry("plain")
    plain.push(layout, "test", "crunner/busybox:test")
    secure = env.registry("secure", tls=True, users={"alice": "s3cret"})
    secure.push(layout, "test", "private/busybox:v1", creds=("alice", "s3cret"))
    env.image("init-store")
    return {"layout": layout, "plain": plain, "secure": secure, "layers": L.manifest_layers(layout)}


def image(ctx, name="crunner/busybox:test"):
    return "docker://%s/%s" % (ctx["plain"].host, name)


@case
def create_prints_grootfs_spec(env, ctx):
    p = env.image("create", "--insecure-registry", ctx["plain"].host, image(ctx), "c1")
    rootfs = os.path.join(env.store, "images", "c1", "rootfs")
    want = ('{"ociVersion":"","process":{"user":{"uid":0,"gid":0},"env":["FOO=bar\\u0026\\u003cbaz\\u003e"],'
            '"cwd":""},"root":{"path":"%s"}}\n' % rootfs)
    eq("create stdout is GrootFS's JSON, byte for byte", p.stdout, want)
    eq("the rootfs is mounted", os.path.ismount(rootfs), True)
    eq("files of every layer are there (zstd layer)", open(os.path.join(rootfs, "zstd-file")).read(), "from a zstd layer\n")
    eq("whiteout hides data/gone", os.path.exists(os.path.join(rootfs, "data", "gone")), False)
    eq("opaque dir hides the lower's files", sorted(os.listdir(os.path.join(rootfs, "opq"))), ["new"])
    st_b, st_hl = os.stat(os.path.join(rootfs, "data", "b")), os.stat(os.path.join(rootfs, "data", "hl"))
    eq("hard link shares the inode", (st_b.st_ino, st_b.st_nlink), (st_hl.st_ino, 2))
    eq("owner kept (privileged: real ownership)", (st_b.st_uid, st_b.st_gid), (1000, 1000))
    eq("setuid bit kept", oct(os.stat(os.path.join(rootfs, "bin", "suid")).st_mode & 0o7777), "0o4755")
    eq("absolute symlink stored as is", os.readlink(os.path.join(rootfs, "etc", "abs-link")), "/etc/passwd")


@case
def container_sees_the_layers(env, ctx):
    rootfs = os.path.join(env.store, "images", "c1", "rootfs")
    p = env.run_container(rootfs, ["sh", "-c", "ls /opq; test -e /data/gone || echo gone-hidden; cat /data/hl; "
                                   "stat -c %a /bin/suid; echo written > /data/new-file"])
    eq("a crunner container on the created rootfs sees whiteouts/opaque dirs", p.stdout, "new\ngone-hidden\nb\n4755\n")
    up = os.path.join(env.store, "images", "c1", "diff", "data", "new-file")
    eq("writes land in the image's private upper dir", open(up).read(), "written\n")
    layers = os.listdir(os.path.join(env.store, "layers"))
    check("layers stay untouched", all(not os.path.exists(os.path.join(env.store, "layers", l, "diff", "data", "new-file"))
                                       for l in layers))


@case
def layers_are_shared(env, ctx):
    before = sorted(os.listdir(os.path.join(env.store, "layers")))
    env.image("create", "--insecure-registry", ctx["plain"].host, image(ctx), "c2")
    eq("three layers, unpacked once for two images", (len(before), sorted(os.listdir(os.path.join(env.store, "layers")))),
       (3, before))
    p = env.image("list")
    eq("list prints image paths", p.stdout.split(), [os.path.join(env.store, "images", i) for i in ("c1", "c2")])
    p = env.image("create", "--insecure-registry", ctx["plain"].host, image(ctx), "c2", check=False)
    check("a duplicate id is refused", p.returncode == 1 and "already exists" in p.stdout, p.stdout)


@case
def pinned_digest_and_bad_references(env, ctx):
    man = L.run(["skopeo", "inspect", "--raw", "--tls-verify=false", "docker://%s/crunner/busybox:test" % ctx["plain"].host]).stdout
    d = "sha256:" + __import__("hashlib").sha256(man.encode()).hexdigest()
    p = env.image("create", "--insecure-registry", ctx["plain"].host, image(ctx, "crunner/busybox@" + d), "pinned")
    check("name@digest pulls", '"root":{"path":' in p.stdout, p.stdout + p.stderr)
    p = env.image("create", "--insecure-registry", ctx["plain"].host, image(ctx, "crunner/missing:x"), "m1", check=False)
    eq("a missing image names itself", (p.returncode, p.stdout.strip()),
       (1, image(ctx, "crunner/missing:x") + " does not exist or you do not have permissions to see it."))
    check("nothing left of a failed create", not os.path.exists(os.path.join(env.store, "images", "m1")))
    p = env.image("create", "docker://%s/Bad Name" % ctx["plain"].host, "m2", check=False)
    check("an invalid name is refused", p.returncode == 1 and "invalid repository name" in p.stdout, p.stdout)
    p = env.image("create", "--insecure-registry", ctx["plain"].host, image(ctx), "../escape", check=False)
    check("an id that is a path is refused", p.returncode == 1 and "invalid id" in p.stdout, p.stdout)


@case
def tls_and_basic_auth(env, ctx):
    ref = "docker://%s/private/busybox:v1" % ctx["secure"].host
    p = env.image("create", "--username", "alice", "--password", "s3cret", ref, "s0", check=False)
    eq("an unknown CA gives GrootFS's insecure-registry message", p.stdout.strip(),
       "This registry is insecure. To pull images from this registry, please use the --insecure-registry option.")
    ins = ["--insecure-registry", ctx["secure"].host]
    p = env.image("create", *ins, ref, "s1", check=False)
    eq("no credentials", p.stdout.strip(), ref + " does not exist or you do not have permissions to see it.")
    p = env.image("create", *ins, "--username", "alice", "--password", "wrong", ref, "s2", check=False)
    eq("wrong password", p.stdout.strip(), "authorization failed: username and password are invalid")
    p = env.image("create", *ins, "--username", "alice", "--password", "s3cret", ref, "s3")
    check("basic auth over TLS pulls", os.path.ismount(os.path.join(env.store, "images", "s3", "rootfs")), p.stderr)


@case
def bearer_token_auth(env, ctx):
    reg = env.registry("token", token=("bob", "tok3n"))
    reg.push(ctx["layout"], "test", "tok/busybox:test", creds=("bob", "tok3n"))
    ref = "docker://%s/tok/busybox:test" % reg.host
    ins = ["--insecure-registry", reg.host]
    p = env.image("create", *ins, "--username", "bob", "--password", "tok3n", ref, "tok1", check=False)
    check("bearer token auth (token server + basic credentials) pulls", p.returncode == 0 and
          os.path.ismount(os.path.join(env.store, "images", "tok1", "rootfs")), p.stdout + p.stderr)
    p = env.image("create", *ins, "--username", "bob", "--password", "nope", ref, "tok2", check=False)
    eq("a token server refusing the password", p.stdout.strip(), "authorization failed: username and password are invalid")
    p = env.image("create", *ins, ref, "tok3", check=False)
    eq("an anonymous token without pull rights", p.stdout.strip(),
       ref + " does not exist or you do not have permissions to see it.")


@case
def corrupted_blob_rejected_and_not_cached(env, ctx):
    reg = env.registry("corrupt")
    reg.push(ctx["layout"], "test", "crunner/corrupt:test")
    store = os.path.join(env.tmp, "store-corrupt")
    env.stores.append(store)
    env.image("init-store", store=store)
    top = ctx["layers"][-1]
    path = reg.blob_path(top)
    good = open(path, "rb").read()
    with open(path, "wb") as f:
        f.write(good[:-1] + bytes([good[-1] ^ 1]))
    ref = "docker://%s/crunner/corrupt:test" % reg.host
    p = env.image("create", "--insecure-registry", reg.host, ref, "x", store=store, check=False)
    check("a corrupted blob fails the create", p.returncode == 1 and "digest mismatch" in p.stdout, p.stdout)
    layers = os.listdir(os.path.join(store, "layers"))
    eq("the corrupted layer is not cached (the two good ones are)", len(layers), 2)
    eq("no temp files left", os.listdir(os.path.join(store, "tmp")), [])
    with open(path, "wb") as f:
        f.write(good)
    env.image("create", "--insecure-registry", reg.host, ref, "x", store=store)
    eq("after repair the create succeeds", len(os.listdir(os.path.join(store, "layers"))), 3)


@case
def concurrent_creates_fetch_once(env, ctx):
    reg = env.registry("conc", log_level="info")
    reg.push(ctx["layout"], "test", "crunner/conc:test")
    store = os.path.join(env.tmp, "store-conc")
    env.stores.append(store)
    env.image("init-store", store=store)
    ref = "docker://%s/crunner/conc:test" % reg.host
    procs = [subprocess.Popen([L.IMAGE_BIN, "--store", store, "create", "--insecure-registry", reg.host, ref, "k%d" % i],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(4)]
    rcs = [p.wait(300) for p in procs]
    for p in procs:
        p.stdout.close()
        p.stderr.close()
    eq("four concurrent creates succeed", rcs, [0, 0, 0, 0])
    eq("each layer unpacked once", len(os.listdir(os.path.join(store, "layers"))), 3)
    eq("no temp files left", os.listdir(os.path.join(store, "tmp")), [])
    log = open(os.path.join(reg.dir, "log")).read()
    gets = {d: sum(1 for l in log.splitlines() if "response completed" in l and "GET" in l and
                   "/blobs/" + d in l) for d in ctx["layers"]}
    eq("each layer blob downloaded exactly once (registry access log)", sorted(gets.values()), [1, 1, 1])


@case
def registry_mirror_serves_docker_hub_names(env, ctx):
    ctx["plain"].push(ctx["layout"], "test", "library/mirrored:test")
    p = env.image("create", "--registry-mirror", "http://" + ctx["plain"].host, "docker:///mirrored:test", "mir")
    check("docker:///name is fetched from the mirror", '"root":{"path":' in p.stdout, p.stdout + p.stderr)


@case
def without_mount_prints_the_overlay(env, ctx):
    p = env.image("create", "--without-mount", "--insecure-registry", ctx["plain"].host, image(ctx), "nm")
    spec = json.loads(p.stdout)
    img = os.path.join(env.store, "images", "nm")
    m = spec["mounts"][0]
    eq("mount entry", (m["destination"], m["type"], m["source"]), ("/", "overlay", "overlay"))
    eq("upper and work dirs", m["options"][1:], ["upperdir=%s/diff" % img, "workdir=%s/work" % img])
    eq("three lower layers, top first", len(m["options"][0].split(":")), 3)
    check("not mounted", not os.path.ismount(os.path.join(img, "rootfs")))


if __name__ == "__main__":
    L.main(setup)
