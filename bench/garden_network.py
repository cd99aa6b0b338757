#!/usr/bin/env python3
"""garden-shim networking cost, in one run: two shims side by side inside a network
namespace this script creates (veth ext0 192.0.2.1 to an "outside" namespace 192.0.2.2), one
with networking and one with --disable-networking; interleaved create + destroy on each
(median ms, and the difference = what networking adds per container), then net-in: the
POST .../net/in request, and a TCP connection from the outside namespace through the DNAT
to a listener in the container (connect + one HTTP GET, median ms). Nothing touches the
host's network namespace; both namespaces are deleted afterwards.

usage: sudo bench/garden_network.py [N]   (env GARDEN_RUNTIME, GARDEN_SHIM as for the tests)
"""

import os
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "garden"))
from harness import CONTAINER_ROOT_UID, SOURCE_DIR, Shim, cleanup_workdir, runtime_path  # noqa: E402


def sh(*a):
    subprocess.run(list(a), check=True, stdout=subprocess.DEVNULL)


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    tag = str(os.getpid())
    ns_s, ns_o = "crn-bench-%ss" % tag, "crn-bench-%so" % tag
    work = tempfile.mkdtemp(prefix="crunner-bench-net-")
    os.chmod(work, 0o755)
    shims, dirs = [], []
    try:
        for ns in (ns_s, ns_o):
            sh("ip", "netns", "add", ns)
        sh("ip", "-n", ns_s, "link", "add", "ext0", "type", "veth", "peer", "name", "ext0", "netns", ns_o)
        sh("ip", "-n", ns_s, "addr", "add", "192.0.2.1/24", "dev", "ext0")
        sh("ip", "-n", ns_o, "addr", "add", "192.0.2.2/24", "dev", "ext0")
        for ns in (ns_s, ns_o):
            sh("ip", "-n", ns, "link", "set", "ext0", "up")
            sh("ip", "-n", ns, "link", "set", "lo", "up")
        sh("ip", "-n", ns_s, "route", "add", "default", "via", "192.0.2.2")
        bundle = os.path.join(work, "bundle")
        sh("bash", os.path.join(SOURCE_DIR, "tests/fixtures/make-bundle.sh"), bundle)
        rootfs = os.path.join(bundle, "rootfs")
        sh("find", rootfs, "-uid", "0", "-exec", "chown", "-h", str(CONTAINER_ROOT_UID), "{}", "+")
        sh("find", rootfs, "-gid", "0", "-exec", "chgrp", "-h", str(CONTAINER_ROOT_UID), "{}", "+")
        clients = []
        for name, extra in (("net", []), ("nonet", ["--disable-networking"])):
            d = os.path.join(work, name)
            os.makedirs(d)
            os.chmod(d, 0o755)
            s = Shim(d, rootfs, "crunner-bench-net-%s-%s" % (tag, name), extra, netns=ns_s)
            dirs.append((d, s))
            clients.append(s.start())
            shims.append(s)
        times = {"net": [], "nonet": []}
        for i in range(n + 2):
            order = [("net", clients[0]), ("nonet", clients[1])]
            if i % 2:
                order.reverse()
            for name, c in order:
                t0 = time.monotonic()
                h = c.create({"handle": "crn-bench-%s-%d" % (name, i)})
                c.destroy(h)
                if i >= 2:  # warm-up
                    times[name].append((time.monotonic() - t0) * 1000)
        c = clients[0]
        h = c.create({"handle": "crn-bench-netin"})
        p = c.run(h, {"path": "sh", "args": ["-c", "mkdir -p /www && echo x > /www/i && httpd -p 80 -h /www"]})
        p.read_stream("stdout")
        p.wait()
        netin, conn = [], []
        for i in range(n):
            t0 = time.monotonic()
            port = c.call("POST", "/containers/%s/net/in" % h, {"container_port": 80})["host_port"]
            netin.append((time.monotonic() - t0) * 1000)
        # Connections through the DNAT, timed inside the outside namespace.
        code = ("import socket,time,statistics as s\nts=[]\nfor i in range(%d):\n"
                " t=time.monotonic(); k=socket.create_connection(('192.0.2.1',%d),timeout=5)\n"
                " k.sendall(b'GET /i HTTP/1.0\\r\\n\\r\\n')\n while k.recv(4096): pass\n"
                " k.close(); ts.append((time.monotonic()-t)*1000)\nprint(s.median(ts))\n" % (n, port))
        out = subprocess.run(["nsenter", "--net=/run/netns/" + ns_o, "--", sys.executable, "-c", code],
                             check=True, stdout=subprocess.PIPE, text=True).stdout
        conn = float(out.strip())
        c.destroy(h)
        med = {k: statistics.median(v) for k, v in times.items()}
        print("create+destroy, median of %d: with networking %.1f ms, without %.1f ms, "
              "networking adds %.1f ms per container" % (n, med["net"], med["nonet"], med["net"] - med["nonet"]))
        print("net-in request: median %.2f ms; TCP connect + HTTP GET through the DNAT from "
              "outside: median %.2f ms" % (statistics.median(netin), conn))
    finally:
        for d, s in dirs:
            cleanup_workdir(d, s, runtime_path(), s.cgroup_parent)
        for ns in (ns_s, ns_o):
            subprocess.run(["ip", "netns", "del", ns], stderr=subprocess.DEVNULL)
        subprocess.run(["rm", "-rf", work])


if __name__ == "__main__":
    main()
