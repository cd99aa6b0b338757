"""crunner-image's store: oci:// layouts, tar archives and rootfs directories, delete, stats,
list, clean (only unused layers, threshold), delete-store, the config file, uid-shifted
images seen from inside an unprivileged container, and disk limits refused on a store
without XFS project quotas (guest_xfs.py proves them biting in the XFS guest)."""

import json
import os
import subprocess
import tarfile

import imagelib as L
from imagelib import case, check, eq


def setup(env):
    layout = L.build_layout(env.tmp)
    env.image("init-store")
    return {"layout": layout}


@case
def oci_layout_source(env, ctx):
    p = env.image("create", "oci://%s:test" % ctx["layout"], "o1")
    rootfs = os.path.join(env.store, "images", "o1", "rootfs")
    check("oci:///path:tag creates", json.loads(p.stdout)["root"]["path"] == rootfs, p.stdout)
    eq("its layers are there", sorted(os.listdir(os.path.join(rootfs, "opq"))), ["new"])
    p = env.image("create", "oci://%s:nope" % ctx["layout"], "o2", check=False)
    check("an unknown tag is refused", p.returncode == 1 and "no image tagged `nope`" in p.stdout, p.stdout)
    p = env.image("create", "oci:///nonexistent/layout:test", "o3", check=False)
    check("a missing layout", p.returncode == 1 and "Image source doesn't exist" in p.stdout, p.stdout)


@case
def log_level(env, ctx):
    oci = "oci://%s:test" % ctx["layout"]
    p = L.run([L.IMAGE_BIN, "--store", env.store, "--log-level", "debug", "create", oci, "log1"])
    lines = [json.loads(l) for l in p.stderr.splitlines()]
    check("--log-level debug: lager-style JSON lines on stderr",
          any(l["message"] == "crunner-image.create.layer-cached" and l["log_level"] == 0 for l in lines), p.stderr)
    p = L.run([L.IMAGE_BIN, "--store", env.store, "--log-level", "error", "create", oci, "log2"])
    eq("--log-level error: nothing on stderr", p.stderr, "")
    p = L.run([L.IMAGE_BIN, "--store", env.store, "--log-level", "loud", "list"], check=False)
    check("an unknown level is refused", p.returncode == 1 and "invalid --log-level" in p.stdout, p.stdout)
    env.image("delete", "log1")
    env.image("delete", "log2")


@case
def tar_and_directory_sources(env, ctx):
    src = os.path.join(env.tmp, "stack")
    L.busybox_rootfs(src)
    tarball = os.path.join(env.tmp, "stack.tar")
    with tarfile.open(tarball, "w") as t:
        t.add(src, arcname=".")
    p = env.image("create", tarball, "t1")
    rootfs = json.loads(p.stdout)["root"]["path"]
    eq("a tar archive (CF stack) becomes the rootfs", open(os.path.join(rootfs, "data", "a")).read(), "a\n")
    env.image("create", tarball, "t2")
    eq("the archive is unpacked once (keyed by its digest)", len(os.listdir(os.path.join(env.store, "layers"))), 4)
    p = env.image("create", src, "d1")
    rootfs = json.loads(p.stdout)["root"]["path"]
    eq("a rootfs directory is used in place as the lower layer", open(os.path.join(rootfs, "data", "gone")).read(), "gone\n")
    with open(os.path.join(rootfs, "written"), "w") as f:
        f.write("x")
    check("writes do not reach the source directory", not os.path.exists(os.path.join(src, "written")))


@case
def stats_reports_usage(env, ctx):
    p = env.image("stats", "t1")
    s = json.loads(p.stdout)
    eq("stats prints GrootFS's JSON shape", list(s.keys()) + list(s["disk_usage"].keys()),
       ["disk_usage", "total_bytes_used", "exclusive_bytes_used"])
    rootfs = os.path.join(env.store, "images", "t1", "rootfs")
    with open(os.path.join(rootfs, "big"), "wb") as f:
        f.write(os.urandom(3 << 20))
    s2 = json.loads(env.image("stats", "t1").stdout)["disk_usage"]
    check("exclusive grows by what the container wrote", s2["exclusive_bytes_used"] - s["disk_usage"]["exclusive_bytes_used"] >= 3 << 20, str(s2))
    check("total = exclusive + the image's layers", s2["total_bytes_used"] - s2["exclusive_bytes_used"] >= 1 << 20, str(s2))
    p = env.image("stats", "nope", check=False)
    check("stats of an unknown id fails", p.returncode == 1 and "not found" in p.stdout, p.stdout)


@case
def delete_and_clean(env, ctx):
    layers = lambda: set(os.listdir(os.path.join(env.store, "layers")))
    before = layers()
    p = env.image("delete", "t1")
    eq("delete says so", p.stdout, "Image t1 deleted\n")
    check("the image dir is gone", not os.path.exists(os.path.join(env.store, "images", "t1")))
    p = env.image("delete", "t1")
    eq("deleting again is not an error (GrootFS)", p.stdout, "Image `t1` not found. Skipping delete.\n")
    p = env.image("clean", "--threshold-bytes", str(1 << 40))
    eq("below the threshold nothing is cleaned", (p.stdout, layers()), ("threshold not reached: skipping clean\n", before))
    env.image("clean")
    eq("clean keeps layers still used (t2 uses the tar layer)", layers(), before)
    env.image("delete", "t2")
    env.image("clean")
    eq("then removes exactly the unused one", len(before - layers()), 1)
    env.image("delete", "o1")
    env.image("clean")
    eq("and the oci layers once no image uses them", layers(), set())
    rootfs = os.path.join(env.store, "images", "d1", "rootfs")
    check("images on other sources keep working", os.path.exists(os.path.join(rootfs, "bin", "busybox")))


@case
def config_file(env, ctx):
    cfg = os.path.join(env.tmp, "config.yml")
    store = os.path.join(env.tmp, "store-cfg")
    env.stores.append(store)
    with open(cfg, "w") as f:
        f.write("store: %s\nlog_level: debug\ncreate:\n  without_mount: true\nclean:\n  threshold_bytes: 0\n" % store)
    L.run([L.IMAGE_BIN, "--config", cfg, "init-store"])
    p = L.run([L.IMAGE_BIN, "--config", cfg, "create", "oci://%s:test" % ctx["layout"], "cfg1"])
    check("the config's store and create keys apply", "mounts" in json.loads(p.stdout) and
          os.path.isdir(os.path.join(store, "images", "cfg1")), p.stdout)
    with open(cfg, "a") as f:
        f.write("  driver: btrfs\n")
    p = L.run([L.IMAGE_BIN, "--config", cfg, "list"], check=False)
    eq("unknown keys are refused by name", (p.returncode, p.stdout.strip()),
       (1, "invalid config file `%s` line 7: unknown key `clean.driver` (crunner-image does not implement it)" % cfg))


@case
def uid_mapping_seen_from_an_unprivileged_container(env, ctx):
    maps = ["--uid-mapping", "0:100000:65536", "--gid-mapping", "0:100000:65536"]
    p = env.image("create", *maps, "oci://%s:test" % ctx["layout"], "u1")
    rootfs = json.loads(p.stdout)["root"]["path"]
    st = os.stat(os.path.join(rootfs, "data", "b"))
    eq("host side: owners shifted by the mapping", (st.st_uid, st.st_gid), (101000, 101000))
    eq("the upper dir belongs to the container's root", os.stat(os.path.join(env.store, "images", "u1", "diff")).st_uid, 100000)
    p = env.run_container(rootfs, ["sh", "-c", "stat -c '%u:%g' /bin/busybox /data/b; id -u; touch /root-made && "
                                   "stat -c %u /root-made; stat -c %a /bin/suid"], userns=True)
    eq("inside a user namespace the image's own owners show", p.stdout, "0:0\n1000:1000\n0\n0\n4755\n" if p.returncode == 0 else p.stderr)
    how = json.load(open(os.path.join(env.store, "images", "u1", "image.json")))["idmap"]
    if how == "mount":
        check("idmapped mounts: the mapped image shares the unshifted layers", not any(
            "-" in l for l in os.listdir(os.path.join(env.store, "layers"))), str(os.listdir(os.path.join(env.store, "layers"))))
    print("INFO uid mapping done by: " + how)
    env.image("delete", "u1")
    check("delete unmounts the idmapped lowers", not any("/images/u1/" in l for l in open("/proc/self/mountinfo")))
    p = env.image("create", "--without-mount", *maps, "oci://%s:test" % ctx["layout"], "u3")
    lowers = json.loads(p.stdout)["mounts"][0]["options"][0][len("lowerdir="):].split(":")
    st = os.stat(os.path.join(lowers[1], "data", "b"))
    eq("fallback (no mounts possible): a uid-shifted copy of the layers per mapping", (st.st_uid, st.st_gid, len(lowers)),
       (101000, 101000, 3))
    eq("its setuid bit survives the shifted chown", oct(os.stat(os.path.join(lowers[1], "bin", "suid")).st_mode & 0o7777), "0o4755")
    garden = []
    for flag in ("--uid-mapping", "--gid-mapping"):
        garden += [flag, "0:4294967294:1", flag, "1:1:4294967293"]
    p = env.image("create", *garden, "oci://%s:test" % ctx["layout"], "ug")
    r = json.loads(p.stdout)["root"]["path"]
    eq("Guardian's unprivileged mapping (0->4294967294, 1->1): root's files, others unchanged",
       [(os.stat(os.path.join(r, f)).st_uid, os.stat(os.path.join(r, f)).st_gid) for f in ("bin/busybox", "data/b")],
       [(4294967294, 4294967294), (1000, 1000)])
    env.image("delete", "ug")
    env.image("create", "oci://%s:test" % ctx["layout"], "u2")
    eq("privileged image of the same layout: real ownership", os.stat(os.path.join(env.store, "images", "u2", "rootfs", "data", "b")).st_uid, 1000)


@case
def disk_limits_need_xfs_project_quotas(env, ctx):
    # Limits that bite are proven on a kernel with XFS quotas, in the XFS guest
    # (guest_xfs.py); here, a store that is not on XFS: never silently unlimited.
    p = env.image("create", "--disk-limit-size-bytes", str(4 << 20), "oci://%s:test" % ctx["layout"], "q4", check=False)
    check("a limit on a store that is not on XFS is refused clearly", p.returncode == 1 and
          "disk limits need a store on XFS with project quotas (init-store --store-size-bytes)" in p.stdout, p.stdout)
    check("... leaving no image", not os.path.exists(os.path.join(env.store, "images", "q4")))
    store = os.path.join(env.tmp, "store-small")
    p = env.image("init-store", "--store-size-bytes", str(100 << 20), store=store, check=False)
    check("a backing store below XFS's 300 MiB is refused", p.returncode == 1 and "at least 300 MiB" in p.stdout, p.stdout)
    check("... leaving nothing (no store dir, no backing file)", not os.path.exists(store) and
          not os.path.exists(store + ".backing-store"))


if __name__ == "__main__":
    L.main(setup)
