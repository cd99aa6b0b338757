"""Container networking (garden/net/): the whole shim runs inside a network namespace this
test creates ("shim"), whose veth ext0 (192.0.2.1/24, default route) leads to a second
namespace standing for the outside world ("out": 192.0.2.2, plus 198.51.100.10 and .20 on
its loopback, running net_peer.py). Nothing here touches the host's interfaces, routes or
firewall; both namespaces are deleted afterwards."""

import json
import os
import re
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import GardenError, ShimTestCase, cgroup_mounts, main  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


def sh(*args, check=True):
    return subprocess.run(list(args), check=check, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True).stdout


class NetTestCase(ShimTestCase):
    """Base: fresh namespaces and a shim inside them per class."""

    shim_flags = []

    @classmethod
    def setUpClass(cls):
        if os.geteuid() != 0:
            raise AssertionError("needs root")
        tag = "%d%s" % (os.getpid(), cls.__name__[:4].lower())
        cls.ns_shim, cls.ns_out = "crn-net-%ss" % tag, "crn-net-%so" % tag
        cls.peer = None
        cls.addClassCleanup(cls._net_cleanup)
        for ns in (cls.ns_shim, cls.ns_out):
            sh("ip", "netns", "add", ns)
        S, O = ("ip", "-n", cls.ns_shim), ("ip", "-n", cls.ns_out)
        sh(*S, "link", "add", "ext0", "type", "veth", "peer", "name", "ext0", "netns", cls.ns_out)
        sh(*S, "addr", "add", "192.0.2.1/24", "dev", "ext0")
        sh(*S, "addr", "add", "192.0.2.100/24", "dev", "ext0")  # secondary: --external-ip
        sh(*O, "addr", "add", "192.0.2.2/24", "dev", "ext0")
        for ns in (S, O):
            sh(*ns, "link", "set", "ext0", "up")
            sh(*ns, "link", "set", "lo", "up")
        sh(*S, "route", "add", "default", "via", "192.0.2.2")
        sh(*O, "addr", "add", "198.51.100.10/32", "dev", "lo")
        sh(*O, "addr", "add", "198.51.100.20/32", "dev", "lo")
        sh(*O, "route", "add", "10.254.0.0/16", "via", "192.0.2.1")
        cls.peer_dir = os.path.join("/tmp", "crn-net-peer-%s" % tag)
        os.makedirs(cls.peer_dir, exist_ok=True)
        cls.peer_log = os.path.join(cls.peer_dir, "log")
        ready = os.path.join(cls.peer_dir, "ready")
        cls.peer = subprocess.Popen(["nsenter", "--net=/run/netns/" + cls.ns_out, "--",
                                     sys.executable, os.path.join(HERE, "net_peer.py"),
                                     cls.peer_log, ready], start_new_session=True)
        for _ in range(500):
            if os.path.exists(ready):
                break
            time.sleep(0.01)
        cls.shim_extra = list(cls.shim_flags)
        cls.shim_netns = cls.ns_shim
        super().setUpClass()

    @classmethod
    def _net_cleanup(cls):
        if cls.peer is not None:
            cls.peer.kill()
            cls.peer.wait()
        for ns in (cls.ns_shim, cls.ns_out):
            subprocess.run(["ip", "netns", "del", ns], stderr=subprocess.DEVNULL)
        subprocess.run(["rm", "-rf", cls.peer_dir])

    def in_shim_ns(self, *args):
        return sh("ip", "netns", "exec", self.ns_shim, *args)

    def peer_lines(self, prefix):
        try:
            with open(self.peer_log) as f:
                return [l.split()[1] for l in f if l.startswith(prefix + " ")]
        except FileNotFoundError:
            return []

    def tcp(self, h, ip, port=9000):
        code, out, _ = self.run_proc(h, "nc", "-w", "3", ip, str(port), stdin="")
        return "pong" in out

    def udp(self, h, ip):
        """Whether a DNS query from the container reached the peer's UDP 53 on ip."""
        before = len(self.peer_lines("udp"))
        self.run_proc(h, "nslookup", "-timeout=1", "-retry=1", "x.invalid", ip)
        return len(self.peer_lines("udp")) > before

    def ping(self, h, ip):
        code, _, _ = self.run_proc(h, "ping", "-c", "1", "-W", "2", ip)
        return code == 0


class TestBasics(NetTestCase):
    shim_flags = ["--dns-server", "192.0.2.53", "--additional-dns-server", "192.0.2.54",
                  "--additional-host-entry", "192.0.2.9 extra.example", "--mtu", "1400"]

    def test_address_info_properties_interfaces(self):
        h = self.create(handle="crn-net-a")
        info = self.client.info(h)
        self.assertEqual(info["ContainerIP"], "10.254.0.2")
        self.assertEqual(info["HostIP"], "10.254.0.1")
        self.assertEqual(info["ExternalIP"], "192.0.2.1")  # the default route's interface
        self.assertEqual(info["MappedPorts"], [])
        p = info["Properties"]
        self.assertEqual(p["garden.network.container-ip"], "10.254.0.2")
        self.assertEqual(p["garden.network.host-ip"], "10.254.0.1")
        self.assertEqual(p["garden.network.external-ip"], "192.0.2.1")
        self.assertEqual(p["garden.network.mapped-ports"], "[]")
        self.assertEqual(p["kawasaki.subnet"], "10.254.0.0/30")
        self.assertEqual(p["kawasaki.iptable-prefix"], "w--")
        self.assertEqual(p["kawasaki.mtu"], "1400")
        self.assertEqual(p["kawasaki.dns-servers"], "192.0.2.53, 192.0.2.54")
        inst = p["kawasaki.iptable-inst"]
        self.assertRegex(inst, r"^[0-9a-v]{11}$")
        self.assertEqual(p["kawasaki.host-interface"], "w%s-0" % inst)
        self.assertEqual(p["kawasaki.container-interface"], "w%s-1" % inst)
        self.assertEqual(p["kawasaki.bridge-interface"], "wbrdg-0afe0000")
        # Inside: lo up, the stable interface name, address, MTU, default route.
        _, out, _ = self.run_proc(h, "ip", "addr")
        self.assertIn("inet 10.254.0.2/30", out)
        self.assertIn("w%s-1" % inst, out)
        self.assertIn("mtu 1400", out)
        self.assertRegex(out, r"lo: <LOOPBACK,UP")
        _, out, _ = self.run_proc(h, "ip", "route")
        self.assertIn("default via 10.254.0.1", out)
        # Outside: bridge with the gateway, veth enslaved, both with the MTU.
        out = self.in_shim_ns("ip", "-d", "addr", "show", "wbrdg-0afe0000")
        self.assertIn("inet 10.254.0.1/30", out)
        self.assertIn("mtu 1400", out)
        out = self.in_shim_ns("ip", "-d", "link", "show", "w%s-0" % inst)
        self.assertIn("master wbrdg-0afe0000", out)
        # Capacity is capped by the pool: 10.254.0.0/22 holds 256 /30s.
        self.assertEqual(self.client.capacity()["max_containers"], 256)
        # bulk_info carries the same.
        bulk = self.client.bulk_info([h])
        self.assertEqual(bulk[h]["Info"]["ContainerIP"], "10.254.0.2")
        # A second container gets the next /30.
        h2 = self.create(handle="crn-net-b")
        self.assertEqual(self.client.info(h2)["ContainerIP"], "10.254.0.6")

    def test_dns_files(self):
        h = self.create(handle="crn-net-dns")
        _, out, _ = self.run_proc(h, "cat", "/etc/resolv.conf")
        self.assertEqual(out, "nameserver 192.0.2.53\nnameserver 192.0.2.54\n")
        _, out, _ = self.run_proc(h, "cat", "/etc/hosts")
        ip = self.client.info(h)["ContainerIP"]
        self.assertEqual(out, "127.0.0.1 localhost\n%s crn-net-dns\n192.0.2.9 extra.example\n" % ip)
        # Owned by the container's root: it may rewrite them.
        code, out, err = self.run_proc(h, "sh", "-c",
                                       "stat -c %u:%g /etc/hosts /etc/resolv.conf && "
                                       "echo '10.0.0.1 x' >> /etc/hosts && "
                                       "echo 'nameserver 10.0.0.2' > /etc/resolv.conf")
        self.assertEqual((code, out), (0, "0:0\n0:0\n"), err)

    def test_shared_subnet_and_isolation(self):
        a = self.create(handle="crn-net-sa", network="10.254.1.0/24")
        b = self.create(handle="crn-net-sb", network="10.254.1.0/24")
        c = self.create(handle="crn-net-sc", network="10.254.1.9/24")
        d = self.create(handle="crn-net-other")
        ips = [self.client.info(x)["ContainerIP"] for x in (a, b, c)]
        self.assertEqual(ips, ["10.254.1.2", "10.254.1.3", "10.254.1.9"])
        self.assertTrue(self.ping(a, "10.254.1.3"))
        self.assertTrue(self.ping(b, "10.254.1.9"))
        other = self.client.info(d)["ContainerIP"]
        self.assertFalse(self.ping(a, other))
        self.assertFalse(self.ping(d, "10.254.1.2"))
        # Without --allow-host-access the host (gateway, external address) rejects them.
        self.assertFalse(self.ping(a, "10.254.1.1"))
        self.assertFalse(self.ping(a, "192.0.2.1"))

    def test_bad_network_requests(self):
        self.create(handle="crn-net-st", network="10.254.2.5/24")
        cases = [("10.254.2.5/24", "already in use"),
                 ("10.254.2.0/25", "overlaps the existing subnet 10.254.2.0/24"),
                 ("10.254.2.1/24", "is the gateway"),
                 ("10.254.2.255/24", "broadcast"),
                 ("10.254.3.0/31", "too small"),
                 ("banana", "expected an IPv4 subnet")]
        for spec, msg in cases:
            with self.assertRaises(GardenError) as cm:
                self.client.create({"handle": "crn-net-bad", "network": spec})
            self.assertIn(msg, cm.exception.message, spec)
            self.assertNotIn("crn-net-bad", self.client.list())


class TestNetIn(NetTestCase):
    shim_flags = ["--port-pool-start", "61001", "--port-pool-size", "3",
                  "--external-ip", "192.0.2.100", "--allow-host-access"]

    def serve(self, h, port):
        self.run_proc(h, "sh", "-c", "mkdir -p /www && echo hello-from-%s > /www/index.html && "
                      "httpd -p %d -h /www" % (h, port))

    def fetch(self, port):
        return sh("nsenter", "--net=/run/netns/" + self.ns_out, "--", sys.executable, "-c",
                  "import urllib.request as u; "
                  "print(u.urlopen('http://192.0.2.100:%d/index.html', timeout=5).read().decode())"
                  % port, check=False)

    def test_net_in_from_outside(self):
        h = self.create(handle="crn-net-in")
        self.serve(h, 8080)
        r = self.client.call("POST", "/containers/%s/net/in" % h,
                             {"host_port": 0, "container_port": 8080})
        self.assertEqual(r, {"host_port": 61001, "container_port": 8080})
        self.assertIn("hello-from-crn-net-in", self.fetch(61001))
        self.assertEqual(self.client.info(h)["ExternalIP"], "192.0.2.100")
        # --allow-host-access: the host answers the container (TestBasics: it does not).
        self.assertTrue(self.ping(h, "10.254.0.1"))
        # Explicit host port; container port 0 = the host port.
        r = self.client.call("POST", "/containers/%s/net/in" % h, {"host_port": 7000})
        self.assertEqual(r, {"host_port": 7000, "container_port": 7000})
        info = self.client.info(h)
        self.assertEqual(info["MappedPorts"], [{"HostPort": 61001, "ContainerPort": 8080},
                                               {"HostPort": 7000, "ContainerPort": 7000}])
        self.assertEqual(info["Properties"]["garden.network.mapped-ports"],
                         '[{"ContainerPort":8080,"HostPort":61001},'
                         '{"ContainerPort":7000,"HostPort":7000}]')
        # Pool: next picks go on, exhaustion is a clear error, a taken port is refused.
        self.assertEqual(self.client.call("POST", "/containers/%s/net/in" % h, {})["host_port"], 61002)
        self.assertEqual(self.client.call("POST", "/containers/%s/net/in" % h, {})["host_port"], 61003)
        with self.assertRaises(GardenError) as cm:
            self.client.call("POST", "/containers/%s/net/in" % h, {})
        self.assertIn("port pool is exhausted", cm.exception.message)
        with self.assertRaises(GardenError) as cm:
            self.client.call("POST", "/containers/%s/net/in" % h, {"host_port": 70000})
        self.assertIn("host_port", cm.exception.message)
        # Destroy frees the ports.
        self.client.destroy(h)
        self.created.remove(h)
        h2 = self.create(handle="crn-net-in2", netin=[{"host_port": 0, "container_port": 8081}])
        self.assertEqual(self.client.info(h2)["MappedPorts"],
                         [{"HostPort": 61001, "ContainerPort": 8081}])
        self.serve(h2, 8081)
        self.assertIn("hello-from-crn-net-in2", self.fetch(61001))

    def test_restart_keeps_networks(self):
        h = self.create(handle="crn-net-rs", netin=[{"host_port": 6500, "container_port": 8082}])
        self.serve(h, 8082)
        self.assertIn("hello-from-crn-net-rs", self.fetch(6500))
        ip = self.client.info(h)["ContainerIP"]
        os.kill(self.shim.proc.pid, 9)
        self.shim.proc.wait()
        self.shim.kill()
        type(self).client = self.client = self.shim.start()
        self.assertIn("hello-from-crn-net-rs", self.fetch(6500))
        info = self.client.info(h)
        self.assertEqual(info["ContainerIP"], ip)
        self.assertEqual(info["MappedPorts"], [{"HostPort": 6500, "ContainerPort": 8082}])
        # The pool remembers: a new container does not get the same address.
        h2 = self.create(handle="crn-net-rs2")
        self.assertNotEqual(self.client.info(h2)["ContainerIP"], ip)
        self.assertTrue(self.ping(h2, "192.0.2.2"))

    def snapshot(self):
        links = re.sub(r"^\d+: ", "", self.in_shim_ns("ip", "-d", "-o", "link"), flags=re.M)
        rules = re.sub(r"\[\d+:\d+\]", "", self.in_shim_ns("iptables-save"))
        rules = "\n".join(l for l in rules.splitlines() if not l.startswith("#"))
        return sorted(links.splitlines()), rules

    def test_destroy_containers_on_startup(self):
        before = self.snapshot()
        h = self.create(handle="crn-net-gone", netin=[{"host_port": 6700, "container_port": 1}])
        self.create(handle="crn-net-gone2", network="10.254.2.0/24")
        self.assertNotEqual(self.snapshot(), before)
        os.kill(self.shim.proc.pid, 9)
        self.shim.kill()
        self.shim.extra.append("--destroy-containers-on-startup")
        try:
            type(self).client = self.client = self.shim.start()
        finally:
            self.shim.extra.remove("--destroy-containers-on-startup")
        self.assertEqual(self.client.list(), [])
        self.assertEqual(self.snapshot(), before)
        self.assertFalse(os.path.exists(os.path.join(self.shim.depot, "containers", h)))
        self.created = []
        # The pool starts empty again.
        h = self.create(handle="crn-net-new")
        self.assertEqual(self.client.info(h)["ContainerIP"], "10.254.0.2")

    def test_destroy_leaves_nothing(self):
        snapshot = self.snapshot
        before = snapshot()
        a = self.create(handle="crn-net-d1", netin=[{"host_port": 6600, "container_port": 1}],
                        netout_rules=[{"protocol": 1, "log": True}])
        self.create(handle="crn-net-d2", network="10.254.3.0/24",
                    limits={"bandwidth_limits": {"rate": 100000, "burst": 20000}})
        self.assertNotEqual(snapshot(), before)
        for h in list(self.created):
            self.client.destroy(h)
            self.created.remove(h)
        self.assertEqual(snapshot(), before)
        self.assertNotIn(a, self.client.list())


class TestNetOut(NetTestCase):
    shim_flags = ["--deny-network", "0.0.0.0/0"]

    def test_default_deny_and_rules(self):
        h = self.create(handle="crn-net-out")
        self.assertFalse(self.tcp(h, "192.0.2.2"))
        self.assertFalse(self.udp(h, "192.0.2.2"))
        self.assertFalse(self.ping(h, "192.0.2.2"))
        # tcp to one port: only tcp, only that port.
        self.client.call("POST", "/containers/%s/net/out" % h,
                         {"protocol": 1, "networks": [{"start": "192.0.2.2", "end": "192.0.2.2"}],
                          "ports": [{"start": 9000, "end": 9000}]})
        self.assertTrue(self.tcp(h, "192.0.2.2"))
        self.assertIn("192.0.2.1", self.peer_lines("tcp"))  # masqueraded as the shim's host
        self.assertFalse(self.tcp(h, "192.0.2.2", 9002))
        self.assertFalse(self.udp(h, "192.0.2.2"))
        self.assertFalse(self.ping(h, "192.0.2.2"))
        # bulk: udp port range and icmp echo-request, atomically.
        self.client.call("POST", "/containers/%s/net/out/bulk" % h,
                         [{"protocol": 2, "ports": [{"start": 50, "end": 60}]},
                          {"protocol": 3, "icmps": {"type": 8, "code": 0}}])
        self.assertTrue(self.udp(h, "192.0.2.2"))
        self.assertTrue(self.ping(h, "192.0.2.2"))
        # IP ranges: .10-.15 allowed, .20 not.
        self.assertFalse(self.tcp(h, "198.51.100.10"))
        self.client.call("POST", "/containers/%s/net/out" % h,
                         {"protocol": 0,
                          "networks": [{"start": "198.51.100.10", "end": "198.51.100.15"}]})
        self.assertTrue(self.tcp(h, "198.51.100.10"))
        self.assertFalse(self.tcp(h, "198.51.100.20"))

    def test_invalid_rules_rejected_whole(self):
        h = self.create(handle="crn-net-bad-out")
        cases = [([{"protocol": 1}, {"protocol": 0, "ports": [{"start": 80}]}],
                  "net-out rule 1: ports: ports cannot be specified for protocol all"),
                 ([{"protocol": 1, "networks": [{"start": "1.2.3.400"}]}],
                  "net-out rule 0: networks[0].start: expected an IPv4 address"),
                 ([{"protocol": 1, "ports": [{"start": 90, "end": 80}]}],
                  "net-out rule 0: ports[0]: end 80 is before start 90"),
                 ([{"protocol": 9}], "net-out rule 0: protocol: invalid protocol 9"),
                 ([{"protocol": 1, "icmps": {"type": 8}}],
                  "net-out rule 0: icmps: only allowed with protocol icmp, not tcp")]
        for rules, msg in cases:
            with self.assertRaises(GardenError) as cm:
                self.client.call("POST", "/containers/%s/net/out/bulk" % h, rules)
            self.assertEqual(cm.exception.message, msg)
        # The valid first rule of the first case was not applied either.
        self.assertFalse(self.tcp(h, "192.0.2.2"))
        # A spec with an invalid rule is refused and leaves nothing.
        with self.assertRaises(GardenError) as cm:
            self.client.create({"handle": "crn-net-badspec", "netout_rules": [{"protocol": 7}]})
        self.assertIn("protocol: invalid protocol 7", cm.exception.message)
        self.assertNotIn("crn-net-badspec", self.client.list())

    def test_spec_rules_and_log(self):
        h = self.create(handle="crn-net-spec",
                        netout_rules=[{"protocol": 1, "ports": [{"start": 9000, "end": 9002}],
                                       "log": True}])
        self.assertTrue(self.tcp(h, "192.0.2.2"))
        inst = self.client.info(h)["Properties"]["kawasaki.iptable-inst"]
        rules = self.in_shim_ns("iptables-save", "-t", "filter")
        self.assertIn('-A w--instance-%s-log -m conntrack --ctstate INVALID,NEW,UNTRACKED '
                      '-j LOG --log-prefix "crn-net-spec "' % inst, rules)
        self.assertRegex(rules, r"-A w--instance-%s -p tcp -m tcp --dport 9000:9002 "
                                r"-g w--instance-%s-log" % (inst, inst))


class TestPlugin(NetTestCase):
    """--network-plugin replaces the built-in networker (Guardian's external networker)."""

    @classmethod
    def setUpClass(cls):
        cls.state = tempfile.mkdtemp(prefix="crn-net-plugin-")
        cls.addClassCleanup(subprocess.run, ["rm", "-rf", cls.state])
        cls.shim_flags = ["--network-plugin", os.path.join(HERE, "net_plugin.py"),
                          "--network-plugin-extra-arg", cls.state]
        super().setUpClass()

    def calls(self):
        with open(os.path.join(self.state, "calls")) as f:
            return [json.loads(l) for l in f]

    def test_up_net_in_net_out_down(self):
        h = self.create(handle="crn-net-plug", properties={"network.label": "blue", "x": "y"},
                        netout_rules=[{"protocol": 1}])
        up = [c for c in self.calls() if c["handle"] == h][0]
        self.assertEqual(up["action"], "up")
        self.assertEqual(up["stdin"]["Properties"], {"label": "blue"})
        self.assertEqual(up["stdin"]["netout_rules"], [{"protocol": 1}])
        self.assertGreater(up["stdin"]["Pid"], 1)
        info = self.client.info(h)
        self.assertEqual(info["ContainerIP"], "10.99.0.2")
        self.assertEqual(info["HostIP"], "10.99.0.1")
        self.assertEqual(info["ExternalIP"], "192.0.2.1")
        self.assertEqual(info["Properties"]["plugin.label"], "blue")
        _, out, _ = self.run_proc(h, "cat", "/etc/resolv.conf")
        self.assertEqual(out, "nameserver 10.99.0.53\nsearch plugin.example\n")
        _, out, _ = self.run_proc(h, "cat", "/etc/hosts")
        self.assertIn("10.99.0.2 crn-net-plug\n", out)
        self.assertTrue(self.ping(h, "10.99.0.1"))  # the plugin's wiring is real
        r = self.client.call("POST", "/containers/%s/net/in" % h, {"host_port": 0, "container_port": 80})
        self.assertEqual(r, {"host_port": 7777, "container_port": 80})
        self.assertEqual(self.client.info(h)["MappedPorts"], [{"HostPort": 7777, "ContainerPort": 80}])
        self.client.call("POST", "/containers/%s/net/out" % h, {"protocol": 2})
        self.client.call("POST", "/containers/%s/net/out/bulk" % h, [{"protocol": 3}])
        acts = [c for c in self.calls() if c["handle"] == h]
        self.assertEqual([c["action"] for c in acts], ["up", "net-in", "net-out", "bulk-net-out"])
        self.assertEqual(acts[1]["stdin"], {"HostIP": "192.0.2.1", "HostPort": 0,
                                            "ContainerIP": "10.99.0.2", "ContainerPort": 80})
        self.assertEqual(acts[2]["stdin"], {"container_ip": "10.99.0.2", "netout_rule": {"protocol": 2}})
        self.assertEqual(acts[3]["stdin"], {"container_ip": "10.99.0.2",
                                            "netout_rules": [{"protocol": 3}]})
        self.client.destroy(h)
        self.created.remove(h)
        self.assertEqual(self.calls()[-1], {"action": "down", "handle": h, "stdin": None})
        self.assertNotIn("p2-0", self.in_shim_ns("ip", "-o", "link"))


class TestBandwidth(NetTestCase):
    def test_rate_is_applied_and_bites(self):
        rate, burst = 200000, 50000
        h = self.create(handle="crn-net-bw", netout_rules=[{"protocol": 0}],
                        limits={"bandwidth_limits": {"rate": rate, "burst": burst}})
        self.assertEqual(self.client.limits(h, "bandwidth"), {"rate": rate, "burst": burst})
        host_if = self.client.info(h)["Properties"]["kawasaki.host-interface"]
        q = self.in_shim_ns("tc", "qdisc", "show", "dev", host_if)
        self.assertIn("tbf", q)
        self.assertIn("rate 1600Kbit", q)  # 200000 bytes/s
        # The container's own end shapes what it sends (this kernel has no ingress
        # policing action); container root lacks CAP_NET_ADMIN to undo it.
        _, q, _ = self.run_proc(h, "tc", "qdisc", "show")
        cont_if = self.client.info(h)["Properties"]["kawasaki.container-interface"]
        self.assertRegex(q, r"qdisc tbf \S+ dev %s root" % cont_if)
        # The container sends as fast as it can for ~2 s; whatever the load, the peer cannot
        # get more than rate * elapsed + burst (plus a TCP window of slack). Unshaped, the
        # same pipe moves hundreds of megabytes.
        # Everything the peer counts passed the shaper between start and the moment its
        # count shows up (the socket buffer drains after nc is killed).
        start = time.monotonic()
        self.run_proc(h, "sh", "-c", "timeout 2 nc 192.0.2.2 9002 < /dev/zero")
        deadline = time.monotonic() + 30
        while not self.peer_lines("sink") and time.monotonic() < deadline:
            time.sleep(0.1)
        elapsed = time.monotonic() - start
        got = int(self.peer_lines("sink")[-1])
        self.assertGreater(got, 0)
        self.assertLess(got, rate * elapsed + 2 * burst + 256 * 1024)



# The v1 hierarchies no Garden feature needs: a host may leave any of them unmounted.
OPTIONAL_HIERARCHIES = {"net_cls", "net_prio", "blkio", "freezer", "cpuset", "perf_event",
                        "hugetlb", "rdma", "misc"}


class TestOptionalCgroupHierarchiesUnmounted(NetTestCase):
    """A host without the optional cgroup hierarchies (net_cls, net_prio, and blkio,
    freezer, cpuset, ... where this host mounts them): garden-shim runs in a private mount
    namespace where they are unmounted (the host's mounts stay as they are). Guardian's behaviour: what is not
    mounted is skipped quietly, never a failure; a container with a network and limits
    works, metrics answer, the server logs nothing about it, destroy leaves nothing."""

    @classmethod
    def setUpClass(cls):
        if os.geteuid() != 0:
            raise unittest.SkipTest("needs root")
        cls.hidden = [mp for mp, c in cgroup_mounts() if c and c & OPTIONAL_HIERARCHIES]
        # Unmounted in the shim's namespace only (private: nothing propagates to the host's).
        script = ["set -e"] + ["umount '%s'" % mp for mp in cls.hidden] + ['exec "$@"']
        cls.shim_wrap = ["unshare", "-m", "--propagation", "private", "sh", "-c",
                         "\n".join(script), "sh"]
        super().setUpClass()

    def test_container_with_network_and_limits_works(self):
        self.assertEqual(self.shim_cgroup_mounts() & OPTIONAL_HIERARCHIES, set())
        h = self.create(handle="crn-net-nocls",
                        limits={"memory_limits": {"limit_in_bytes": 64 << 20},
                                "cpu_limits": {"weight": 100}, "pid_limits": {"max": 50}},
                        netin=[{"host_port": 0, "container_port": 8080}])
        dirs = self.container_cgroup_dirs(h)
        self.assertTrue(self.tcp(h, "198.51.100.10"))
        code, out, err = self.run_proc(h, "sh", "-c", "ls /sys/fs/cgroup; echo ok")
        self.assertEqual((code, out.split()[-1]), (0, "ok"), err)
        for name in ("net_cls", "net_prio", "net_cls,net_prio"):
            self.assertNotIn(name, out.split())
        m = self.client.metrics(h)
        self.assertGreater(m["MemoryStat"]["TotalUsageTowardLimit"], 0, m)
        self.assertEqual(m["PidStat"]["Max"], 50, m)
        self.assertIsNone(self.client.bulk_metrics([h])[h]["Err"])
        self.assertEqual(self.client.info(h)["Events"], [])
        self.client.destroy(h)
        self.created.remove(h)
        for d in dirs + [os.path.join(mp, self.cgroup_parent) for mp in self.hidden]:
            self.assertFalse(os.path.exists(d), d)
        log = self.shim.read_log()
        for word in ("net_cls", "net_prio", "warning", "error"):
            self.assertNotIn(word, log.lower(), log)

    def shim_cgroup_mounts(self):
        """The controllers of the v1 hierarchies the shim's mount namespace holds."""
        out = set()
        with open("/proc/%d/mountinfo" % self.shim.proc.pid) as f:
            for line in f:
                fields = line.split()
                sep = fields.index("-")
                if fields[sep + 1] == "cgroup":
                    out |= set(fields[sep + 3].split(","))
        return out


class TestExternalIPWithoutDefaultRoute(ShimTestCase):
    """--external-ip is all the shim needs: a network namespace with no default route (and
    no interface but lo) starts, and containers get networks there (fixed: "no default
    route in the server's network namespace: give --external-ip", with the flag given)."""

    @classmethod
    def setUpClass(cls):
        if os.geteuid() != 0:
            raise AssertionError("needs root")
        cls.ns_shim = "crn-net-%dnort" % os.getpid()
        cls.addClassCleanup(subprocess.run, ["ip", "netns", "del", cls.ns_shim],
                            stderr=subprocess.DEVNULL)
        sh("ip", "netns", "add", cls.ns_shim)
        sh("ip", "-n", cls.ns_shim, "link", "set", "lo", "up")
        cls.shim_extra = ["--external-ip", "203.0.113.7"]
        cls.shim_netns = cls.ns_shim
        super().setUpClass()

    def test_starts_and_containers_get_networks(self):
        self.assertEqual(sh("ip", "-n", self.ns_shim, "route", "show", "default"), "")
        h = self.create()
        info = self.client.info(h)
        self.assertEqual(info["ExternalIP"], "203.0.113.7")
        self.assertTrue(info["ContainerIP"].startswith("10."), info)
        code, out, _ = self.run_proc(h, "sh", "-c", "ip -4 -o addr show | grep -c ' inet '")
        self.assertEqual(out.strip(), "2")  # lo and the container's end of its veth

if __name__ == "__main__":
    main()
