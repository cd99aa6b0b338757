#!/usr/bin/env python3
"""A minimal external network plugin speaking Guardian's contract, for test_network.py:
`net_plugin.py STATE_DIR --action A --handle H`, JSON on stdin. "up" creates a veth pair
(host end p<n>-0 with 10.99.0.1/24 in our namespace, the other end moved into the
container's network namespace as eth0 with 10.99.0.<n>/24) and answers the container's
properties; "down" deletes it; net-in / net-out / bulk-net-out are recorded. Every call is
appended to STATE_DIR/calls as {"action","handle","stdin"}."""

import json
import os
import subprocess
import sys

state, args = sys.argv[1], sys.argv[2:]
action = args[args.index("--action") + 1]
handle = args[args.index("--handle") + 1]
data = json.loads(sys.stdin.read() or "null")
with open(os.path.join(state, "calls"), "a") as f:
    f.write(json.dumps({"action": action, "handle": handle, "stdin": data}) + "\n")
index = os.path.join(state, "index-" + handle)


def ip(*a, ns=None):
    cmd = ["ip"] + (["-n", ns] if ns else []) + list(a)
    subprocess.run(cmd, check=True)


if action == "up":
    n = len([x for x in os.listdir(state) if x.startswith("index-")]) + 2
    with open(index, "w") as f:
        f.write(str(n))
    pid = data["Pid"]
    host = "p%d-0" % n
    ip("link", "add", host, "type", "veth", "peer", "name", "p%d-1" % n)
    ip("link", "set", "p%d-1" % n, "netns", "/proc/%d/ns/net" % pid)
    if subprocess.run(["ip", "addr", "show", "dev", host], stdout=subprocess.DEVNULL).returncode == 0:
        ip("addr", "add", "10.99.0.1/32", "dev", host)
    ip("link", "set", host, "up")
    ip("route", "add", "10.99.0.%d/32" % n, "dev", host)
    nsenter = ["nsenter", "--net=/proc/%d/ns/net" % pid, "--"]
    for c in (["ip", "link", "set", "p%d-1" % n, "name", "eth0"],
              ["ip", "addr", "add", "10.99.0.%d/24" % n, "dev", "eth0"],
              ["ip", "link", "set", "eth0", "up"], ["ip", "link", "set", "lo", "up"],
              ["ip", "route", "add", "10.99.0.1/32", "dev", "eth0"]):
        subprocess.run(nsenter + c, check=True)
    print(json.dumps({"Properties": {"garden.network.container-ip": "10.99.0.%d" % n,
                                     "garden.network.host-ip": "10.99.0.1",
                                     "plugin.label": data["Properties"].get("label", "")},
                      "dns_servers": ["10.99.0.53"], "search_domains": ["plugin.example"]}))
elif action == "down":
    if os.path.exists(index):
        with open(index) as f:
            n = int(f.read())
        subprocess.run(["ip", "link", "del", "p%d-0" % n], stderr=subprocess.DEVNULL)
        os.unlink(index)
elif action == "net-in":
    print(json.dumps({"host_port": data["HostPort"] or 7777,
                      "container_port": data["ContainerPort"] or 8888}))
