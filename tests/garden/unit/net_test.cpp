// garden/net/: the address and port pools and the iptables batches (pure, no kernel).
#include <catch2/catch.hpp>

#include "garden/net/firewall.hpp"
#include "garden/net/pool.hpp"

using namespace garden::net;
using json = nlohmann::json;

namespace {

Cidr cidr(const std::string& s) {
  Cidr c;
  REQUIRE(parse_cidr(s, c));
  return c;
}

}  // namespace

TEST_CASE("cidr parsing", "[net]") {
  Cidr c;
  uint32_t ip = 0;
  REQUIRE(parse_cidr("10.254.1.7/24", c, &ip));
  CHECK(c.str() == "10.254.1.0/24");
  CHECK(ip_str(ip) == "10.254.1.7");
  CHECK(ip_str(c.gateway()) == "10.254.1.1");
  CHECK(ip_str(c.last()) == "10.254.1.255");
  CHECK_FALSE(parse_cidr("10.254.1.7", c));
  CHECK_FALSE(parse_cidr("10.254.1.7/33", c));
  CHECK_FALSE(parse_cidr("10.254.1/24", c));
  CHECK_FALSE(parse_cidr("::1/64", c));
}

TEST_CASE("dynamic /30s, exhaustion, release", "[net]") {
  SubnetPool p(cidr("10.254.0.0/29"));  // two /30s
  CHECK(p.capacity() == 2);
  Allocation a, b, c;
  REQUIRE(p.acquire("", a) == "");
  CHECK(a.subnet.str() == "10.254.0.0/30");
  CHECK(ip_str(a.ip) == "10.254.0.2");
  REQUIRE(p.acquire("", b) == "");
  CHECK(b.subnet.str() == "10.254.0.4/30");
  CHECK(p.acquire("", c) == "network pool 10.254.0.0/29 is exhausted: no free /30 subnet left");
  CHECK(p.release(a));  // its subnet is empty now
  REQUIRE(p.acquire("", c) == "");
  CHECK(c.subnet.str() == "10.254.0.0/30");
}

TEST_CASE("shared subnets and static addresses", "[net]") {
  SubnetPool p(cidr("10.254.0.0/22"));
  Allocation a, b, c, d;
  REQUIRE(p.acquire("10.254.1.0/24", a) == "");
  REQUIRE(p.acquire("10.254.1.0/24", b) == "");
  CHECK(ip_str(a.ip) == "10.254.1.2");
  CHECK(ip_str(b.ip) == "10.254.1.3");
  REQUIRE(p.acquire("10.254.1.7/24", c) == "");
  CHECK(ip_str(c.ip) == "10.254.1.7");
  CHECK(p.acquire("10.254.1.7/24", d) ==
        "network `10.254.1.7/24`: address 10.254.1.7 is already in use");
  CHECK(p.acquire("10.254.1.1/24", d).find("is the gateway") != std::string::npos);
  CHECK(p.acquire("10.254.1.255/24", d).find("broadcast") != std::string::npos);
  CHECK(p.acquire("10.254.1.128/25", d) ==
        "network `10.254.1.128/25`: subnet 10.254.1.128/25 overlaps the existing subnet "
        "10.254.1.0/24");
  CHECK(p.acquire("10.254.9.0/31", d).find("too small") != std::string::npos);
  // Dynamic /30s step around the shared subnet.
  for (int i = 0; i < 64; ++i) {
    Allocation x;
    REQUIRE(p.acquire("", x) == "");
    CHECK_FALSE(x.subnet.overlaps(cidr("10.254.1.0/24")));
  }
  // The bridge goes with the last address only.
  CHECK_FALSE(p.release(a));
  CHECK_FALSE(p.release(b));
  CHECK(p.release(c));
}

TEST_CASE("restore re-registers and detects conflicts", "[net]") {
  SubnetPool p(cidr("10.254.0.0/22"));
  Allocation a{cidr("10.254.0.0/30"), 0};
  parse_ip("10.254.0.2", a.ip);
  REQUIRE(p.restore(a) == "");
  CHECK(p.restore(a) == "address 10.254.0.2 is already in use");
  Allocation n;
  REQUIRE(p.acquire("", n) == "");
  CHECK(n.subnet.str() == "10.254.0.4/30");
}

TEST_CASE("port pool", "[net]") {
  PortPool p(61001, 2);
  uint32_t a = 0, b = 0, c = 0;
  REQUIRE(p.acquire(a) == "");
  REQUIRE(p.acquire(b) == "");
  CHECK(a == 61001);
  CHECK(b == 61002);
  CHECK(p.acquire(c).find("port pool is exhausted") == 0);
  p.release(a);
  REQUIRE(p.acquire(c) == "");
  CHECK(c == 61001);
  CHECK(p.take(61002) == "host port 61002 is already mapped");
  CHECK(p.in_range(61002));
  CHECK_FALSE(p.in_range(61003));
}

TEST_CASE("net-out rules translate like Guardian's", "[net]") {
  FirewallNames n;
  std::string err;
  auto b = netout_batch(
      n, "abc", json::parse(R"([{"protocol":1,"networks":[{"start":"1.2.3.4","end":"1.2.3.9"},
                          {"start":"5.6.7.8","end":"5.6.7.8"}],"ports":[{"start":80,"end":81}]},
                          {"protocol":3,"icmps":{"type":8,"code":0},"log":true},
                          {"protocol":0}])"),
      err);
  REQUIRE(err == "");
  CHECK(b.find("-I w--instance-abc 1 -p tcp -m iprange --dst-range 1.2.3.4-1.2.3.9 -m tcp "
               "--dport 80:81 -j ACCEPT\n") != std::string::npos);
  CHECK(b.find("-I w--instance-abc 1 -p tcp -d 5.6.7.8/32 -m tcp --dport 80:81 -j ACCEPT\n") !=
        std::string::npos);
  CHECK(b.find("-I w--instance-abc 1 -p icmp -m icmp --icmp-type 8/0 -g w--instance-abc-log\n") !=
        std::string::npos);
  CHECK(b.find("-I w--instance-abc 1 -p all -j ACCEPT\n") != std::string::npos);

  netout_batch(n, "abc", json::parse(R"([{"protocol":1},{"protocol":2,"ports":[{"start":0}]}])"),
               err);
  CHECK(err == "net-out rule 1: ports[0].start: expected a port 1-65535");
  netout_batch(n, "abc", json::parse(R"([{"protocol":4}])"), err);
  CHECK(err.find("net-out rule 0: protocol: invalid protocol 4") == 0);
  netout_batch(n, "abc", json::parse(R"([{"protocol":1,"bogus":1}])"), err);
  CHECK(err == "net-out rule 0: unknown field `bogus`");
  netout_batch(n, "abc",
               json::parse(R"([{"protocol":2,"networks":[{"start":"9.9.9.9","end":"1.1.1.1"}]}])"),
               err);
  CHECK(err == "net-out rule 0: networks[0]: end 1.1.1.1 is before start 9.9.9.9");
}

TEST_CASE("teardown removes chains and every rule that refers to them", "[net]") {
  std::string save =
      "*nat\n:PREROUTING ACCEPT [0:0]\n:w--instance-abc - [0:0]\n:w--prerouting - [0:0]\n"
      ":w--postrouting - [0:0]\n"
      "-A w--instance-abc -d 1.2.3.4/32 -p tcp -m tcp --dport 1 -j DNAT --to-destination "
      "10.0.0.2:1\n"
      "-A w--postrouting -s 10.0.0.2/32 ! -d 10.0.0.0/30 -m comment --comment w--instance-abc -j "
      "MASQUERADE\n"
      "-A w--prerouting -j w--instance-abc\n-A w--prerouting -j w--instance-abcd\nCOMMIT\n"
      "*filter\n:w--forward - [0:0]\n:w--instance-abc - [0:0]\n:w--instance-abc-log - [0:0]\n"
      "-A w--forward -s 10.0.0.2/32 -i wbrdg-0a000000 -g w--instance-abc\n-A w--forward -j DROP\n"
      "-A w--instance-abc -p all -g w--instance-abc-log\nCOMMIT\n";
  auto b = teardown_batch(save, {"w--instance-abc", "w--instance-abc-log"});
  CHECK(b ==
        "*filter\n-D w--forward -s 10.0.0.2/32 -i wbrdg-0a000000 -g w--instance-abc\n"
        "-F w--instance-abc\n-F w--instance-abc-log\n-X w--instance-abc\n-X w--instance-abc-log\n"
        "COMMIT\n"
        "*nat\n-D w--postrouting -s 10.0.0.2/32 ! -d 10.0.0.0/30 -m comment --comment "
        "w--instance-abc -j MASQUERADE\n-D w--prerouting -j w--instance-abc\n"
        "-F w--instance-abc\n-X w--instance-abc\nCOMMIT\n");
  CHECK(teardown_batch(save, {"w--instance-zzz"}) == "");
}

TEST_CASE("global batch keeps the forward chain and jumps that exist", "[net]") {
  FirewallNames n;
  GlobalRules g;
  g.deny_networks.push_back(cidr("0.0.0.0/0"));
  auto fresh = global_batch(n, g, "");
  CHECK(fresh.find(":w--forward - [0:0]\n") != std::string::npos);
  CHECK(fresh.find("-A INPUT -i w+ -j w--input\n") != std::string::npos);
  CHECK(fresh.find("-A w--default -d 0.0.0.0/0 -j REJECT") != std::string::npos);
  CHECK(fresh.find("-A w--input -j REJECT --reject-with icmp-host-prohibited\n") !=
        std::string::npos);
  auto again = global_batch(n, g,
                            "*filter\n:w--forward - [0:0]\n-A INPUT -i w+ -j w--input\n"
                            "-A FORWARD -i w+ -j w--forward\nCOMMIT\n");
  CHECK(again.find(":w--forward") == std::string::npos);  // would flush the instance jumps
  CHECK(again.find("-A INPUT") == std::string::npos);
  CHECK(again.find("-A FORWARD") == std::string::npos);
  g.allow_host_access = true;
  CHECK(global_batch(n, g, "").find("-A w--input -j ACCEPT\n") != std::string::npos);
}
