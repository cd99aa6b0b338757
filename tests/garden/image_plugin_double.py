#!/usr/bin/env python3
"""A test double of the image plugin interface garden-shim speaks (GrootFS's CLI, as Guardian
calls it), over a raw busybox directory:

  image_plugin_double.py --store=DIR --base=ROOTFS [more extra args] COMMAND ARGS...

Every invocation is appended as one JSON line {"argv": [...]} to DIR/calls.log, so tests
assert exactly what garden-shim passed. Commands:

  create [--uid-mapping M]... [--gid-mapping M]... [--disk-limit-size-bytes N
         [--exclude-image-from-quota]] [--username U] [--password P] URI HANDLE
      copies ROOTFS to DIR/images/HANDLE/rootfs, writes HANDLE into its /etc/image-handle,
      and prints a runtime spec fragment: root.path, process.env (IMAGE_VAR, IMAGE_URI,
      PATH), and a bind mount of DIR/images/HANDLE/shared at /image-mount.
      URIs ending in a behaviour name misbehave, for the error paths:
        .../fail        "image not found" on stdout, exit 1 (as GrootFS reports errors)
        .../stderr-fail nothing on stdout, "registry said no" on stderr, exit 3
        .../malformed   "not json" on stdout, exit 0
        .../relative    root.path "relative/rootfs"
        .../nodir       root.path a directory that does not exist
        .../huge        2 MiB of output
  delete HANDLE   removes DIR/images/HANDLE (success when unknown, as GrootFS); fails with
                  "device or resource busy" while DIR/busy-HANDLE exists
  stats HANDLE    {"disk_usage":{"total_bytes_used":T,"exclusive_bytes_used":E}} with T, E
                  from DIR/stats-HANDLE ("T E"), default "4096000 1024"; "bad" -> malformed
"""

import json
import os
import shutil
import subprocess
import sys


def main():
    argv = sys.argv[1:]
    store = base = None
    i = 0
    while i < len(argv) and argv[i].startswith("--"):
        if argv[i].startswith("--store="):
            store = argv[i].split("=", 1)[1]
        elif argv[i].startswith("--base="):
            base = argv[i].split("=", 1)[1]
        i += 1
    if store is None:
        print("no --store given")
        return 2
    os.makedirs(store, exist_ok=True)
    with open(os.path.join(store, "calls.log"), "a") as f:
        f.write(json.dumps({"argv": sys.argv[1:]}) + "\n")
    cmd, args = argv[i], argv[i + 1:]
    if cmd == "create":
        uri, handle = args[-2], args[-1]
        behaviour = uri.rstrip("/").rsplit("/", 1)[-1]
        if behaviour == "fail":
            print("image not found")
            return 1
        if behaviour == "stderr-fail":
            sys.stderr.write('{"log":"noise"}\nregistry said no\n')
            return 3
        if behaviour == "malformed":
            print("not json")
            return 0
        if behaviour == "huge":
            sys.stdout.write("x" * (2 << 20))
            return 0
        img = os.path.join(store, "images", handle)
        rootfs = os.path.join(img, "rootfs")
        shutil.rmtree(img, ignore_errors=True)
        os.makedirs(os.path.join(img, "shared"))
        with open(os.path.join(img, "shared", "from-plugin"), "w") as f:
            f.write("mounted by the plugin\n")
        subprocess.run(["cp", "-a", os.path.realpath(base), rootfs], check=True)
        with open(os.path.join(rootfs, "etc", "image-handle"), "w") as f:
            f.write(handle + "\n")
        if behaviour == "relative":
            rootfs = "relative/rootfs"
        if behaviour == "nodir":
            rootfs = os.path.join(img, "missing")
        print(json.dumps({
            "root": {"path": rootfs},
            "process": {"env": ["IMAGE_VAR=from-image", "IMAGE_URI=" + uri,
                                "PATH=/usr/sbin:/usr/bin:/sbin:/bin"]},
            "mounts": [{"destination": "/image-mount", "type": "bind",
                        "source": os.path.join(img, "shared"), "options": ["bind", "ro"]}],
        }))
        return 0
    if cmd == "delete":
        handle = args[-1]
        if os.path.exists(os.path.join(store, "busy-" + handle)):
            print("deleting image: device or resource busy")
            return 1
        shutil.rmtree(os.path.join(store, "images", handle), ignore_errors=True)
        return 0
    if cmd == "stats":
        handle = args[-1]
        try:
            with open(os.path.join(store, "stats-" + handle)) as f:
                text = f.read().strip()
        except OSError:
            text = "4096000 1024"
        if text == "bad":
            print('{"disk_usage":{"total_bytes_used":"lots"}}')
            return 0
        total, excl = text.split()
        print(json.dumps({"disk_usage": {"total_bytes_used": int(total),
                                         "exclusive_bytes_used": int(excl)}}))
        return 0
    print("unknown command " + cmd)
    return 2


if __name__ == "__main__":
    sys.exit(main())
