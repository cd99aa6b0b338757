#include "garden/net/sys.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/link/bridge.h>
#include <netlink/route/link/veth.h>
#include <netlink/route/route.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cstring>
#include <functional>
#include <sstream>
#include <thread>
#include <vector>

#include "base/fd.hpp"
#include "base/file.hpp"
#include "base/text.hpp"
#include "garden/net/pool.hpp"
#include "garden/runtime/runtime.hpp"

namespace garden::net {

namespace {

struct Sock {
  nl_sock* sk = nullptr;
  int err = 0;
  Sock() {
    sk = nl_socket_alloc();
    if (!sk) {
      err = -NLE_NOMEM;
      return;
    }
    err = nl_connect(sk, NETLINK_ROUTE);
  }
  ~Sock() {
    if (sk) nl_socket_free(sk);
  }
  Sock(const Sock&) = delete;
  Sock& operator=(const Sock&) = delete;
};

struct LinkPtr {
  rtnl_link* l = nullptr;
  ~LinkPtr() {
    if (l) rtnl_link_put(l);
  }
};
struct AddrPtr {
  nl_addr* a = nullptr;
  ~AddrPtr() {
    if (a) nl_addr_put(a);
  }
};

std::string nlerr(const std::string& what, int err) {
  return what + ": " + nl_geterror(err < 0 ? -err : err);
}

AddrPtr v4(uint32_t ip, int prefix) {
  AddrPtr p;
  uint32_t be = htonl(ip);
  p.a = nl_addr_build(AF_INET, &be, 4);
  if (p.a) nl_addr_set_prefixlen(p.a, prefix);
  return p;
}

// Sets flags/MTU/master of an existing link by name.
std::string change_link(nl_sock* sk, const std::string& name, int mtu, int master, bool up) {
  LinkPtr cur, chg;
  int e = rtnl_link_get_kernel(sk, 0, name.c_str(), &cur.l);
  if (e < 0) return nlerr("look up link " + name, e);
  chg.l = rtnl_link_alloc();
  if (mtu > 0) rtnl_link_set_mtu(chg.l, static_cast<unsigned>(mtu));
  if (master > 0) rtnl_link_set_master(chg.l, master);
  if (up) rtnl_link_set_flags(chg.l, IFF_UP);
  e = rtnl_link_change(sk, cur.l, chg.l, 0);
  if (e < 0) return nlerr("configure link " + name, e);
  return "";
}

std::string add_addr(nl_sock* sk, const std::string& name, uint32_t ip, int prefix) {
  int idx = 0;
  LinkPtr l;
  int e = rtnl_link_get_kernel(sk, 0, name.c_str(), &l.l);
  if (e < 0) return nlerr("look up link " + name, e);
  idx = rtnl_link_get_ifindex(l.l);
  rtnl_addr* a = rtnl_addr_alloc();
  auto local = v4(ip, prefix);
  rtnl_addr_set_ifindex(a, idx);
  rtnl_addr_set_local(a, local.a);
  Cidr c{ip & (prefix ? ~uint32_t(0) << (32 - prefix) : 0), prefix};
  auto bcast = v4(c.last(), prefix);
  if (prefix < 31) rtnl_addr_set_broadcast(a, bcast.a);
  e = rtnl_addr_add(sk, a, 0);
  rtnl_addr_put(a);
  if (e < 0 && e != -NLE_EXIST)
    return nlerr("add address " + ip_str(ip) + "/" + std::to_string(prefix) + " to " + name, e);
  return "";
}

// Runs fn on a short-lived thread that entered pid's network namespace: setns(CLONE_NEWNET)
// affects the calling thread only, and children it spawns inherit it.
std::string in_netns(pid_t pid, const std::function<std::string()>& fn) {
  std::string err;
  std::thread t([&] {
    auto fd = crunner::open_path("/proc/" + std::to_string(pid) + "/ns/net", O_RDONLY | O_CLOEXEC);
    if (!fd) {
      err = std::string("open network namespace of pid ") + std::to_string(pid) + ": " +
            fd.error().what();
      return;
    }
    if (setns(fd->get(), CLONE_NEWNET) < 0) {
      err = "enter network namespace of pid " + std::to_string(pid) + ": " +
            crunner::errno_text(errno);
      return;
    }
    err = fn();
  });
  t.join();
  return err;
}

}  // namespace

std::string find_program(const std::string& name) {
  std::string path = getenv("PATH") ? getenv("PATH") : "";
  path += ":/usr/sbin:/sbin:/usr/bin:/bin";
  for (auto& d : crunner::split(path, ':')) {
    if (d.empty() || d[0] != '/') continue;
    std::string p = d + "/" + name;
    if (access(p.c_str(), X_OK) == 0) return p;
  }
  return "";
}

bool default_route(std::string& ifname, uint32_t& ip, int& mtu, std::string& err) {
  auto text = crunner::read_file("/proc/net/route");
  if (!text) {
    err = "read /proc/net/route: " + std::string(text.error().what());
    return false;
  }
  ifname.clear();
  for (auto& line : crunner::split(*text, '\n')) {
    std::istringstream in(line);
    std::string iface, dst, gw, flags, refcnt, use, metric, mask;
    if (!(in >> iface >> dst >> gw >> flags >> refcnt >> use >> metric >> mask)) continue;
    if (dst == "00000000" && mask == "00000000") {
      ifname = iface;
      break;
    }
  }
  if (ifname.empty()) {
    err = "no default route in the server's network namespace: give --external-ip";
    return false;
  }
  ifaddrs* ifa = nullptr;
  if (getifaddrs(&ifa) < 0) {
    err = "getifaddrs: " + crunner::errno_text(errno);
    return false;
  }
  bool found = false;
  for (ifaddrs* p = ifa; p; p = p->ifa_next)
    if (p->ifa_addr && p->ifa_addr->sa_family == AF_INET && ifname == p->ifa_name) {
      ip = ntohl(reinterpret_cast<sockaddr_in*>(p->ifa_addr)->sin_addr.s_addr);
      found = true;
      break;
    }
  freeifaddrs(ifa);
  if (!found) {
    err = "the default route's interface " + ifname + " has no IPv4 address: give --external-ip";
    return false;
  }
  crunner::UniqueFd s(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  ifreq req{};
  strncpy(req.ifr_name, ifname.c_str(), IFNAMSIZ - 1);
  mtu = 1500;
  if (s && ioctl(s.get(), SIOCGIFMTU, &req) == 0) mtu = req.ifr_mtu;
  return true;
}

bool link_exists(const std::string& name) {
  Sock s;
  if (s.err < 0) return false;
  LinkPtr l;
  return rtnl_link_get_kernel(s.sk, 0, name.c_str(), &l.l) >= 0;
}

std::string ensure_bridge(const std::string& name, uint32_t gw, int prefix, int mtu) {
  Sock s;
  if (s.err < 0) return nlerr("netlink socket", s.err);
  LinkPtr l;
  if (rtnl_link_get_kernel(s.sk, 0, name.c_str(), &l.l) < 0) {
    int e = rtnl_link_bridge_add(s.sk, name.c_str());
    if (e < 0 && e != -NLE_EXIST) return nlerr("create bridge " + name, e);
  }
  if (auto e = add_addr(s.sk, name, gw, prefix); !e.empty()) return e;
  return change_link(s.sk, name, mtu, 0, true);
}

std::string create_veth(const std::string& host, const std::string& peer, int mtu,
                        const std::string& bridge, pid_t pid) {
  Sock s;
  if (s.err < 0) return nlerr("netlink socket", s.err);
  LinkPtr br;
  int e = rtnl_link_get_kernel(s.sk, 0, bridge.c_str(), &br.l);
  if (e < 0) return nlerr("look up bridge " + bridge, e);
  rtnl_link* veth = rtnl_link_veth_alloc();
  if (!veth) return "create veth " + host + ": out of memory";
  rtnl_link* p = rtnl_link_veth_get_peer(veth);
  rtnl_link_set_name(veth, host.c_str());
  rtnl_link_set_mtu(veth, static_cast<unsigned>(mtu));
  rtnl_link_set_name(p, peer.c_str());
  rtnl_link_set_mtu(p, static_cast<unsigned>(mtu));
  rtnl_link_set_ns_pid(p, pid);
  e = rtnl_link_add(s.sk, veth, NLM_F_CREATE | NLM_F_EXCL);
  rtnl_link_put(p);
  rtnl_link_veth_release(veth);
  if (e < 0) return nlerr("create veth " + host, e);
  return change_link(s.sk, host, 0, rtnl_link_get_ifindex(br.l), true);
}

std::string configure_container(pid_t pid, const std::string& ifname, uint32_t ip, int prefix,
                                uint32_t gw) {
  return in_netns(pid, [&]() -> std::string {
    Sock s;
    if (s.err < 0) return nlerr("netlink socket in the container", s.err);
    if (auto e = change_link(s.sk, "lo", 0, 0, true); !e.empty()) return e;
    if (auto e = add_addr(s.sk, ifname, ip, prefix); !e.empty()) return e;
    if (auto e = change_link(s.sk, ifname, 0, 0, true); !e.empty()) return e;
    LinkPtr l;
    int e = rtnl_link_get_kernel(s.sk, 0, ifname.c_str(), &l.l);
    if (e < 0) return nlerr("look up " + ifname, e);
    rtnl_route* r = rtnl_route_alloc();
    auto dst = v4(0, 0);
    auto via = v4(gw, 32);
    rtnl_route_set_family(r, AF_INET);
    rtnl_route_set_dst(r, dst.a);
    rtnl_route_set_table(r, RT_TABLE_MAIN);
    rtnl_route_set_protocol(r, RTPROT_BOOT);
    rtnl_route_set_scope(r, RT_SCOPE_UNIVERSE);
    rtnl_route_set_type(r, RTN_UNICAST);
    rtnl_nexthop* nh = rtnl_route_nh_alloc();
    rtnl_route_nh_set_gateway(nh, via.a);
    rtnl_route_nh_set_ifindex(nh, rtnl_link_get_ifindex(l.l));
    rtnl_route_add_nexthop(r, nh);
    e = rtnl_route_add(s.sk, r, NLM_F_CREATE);
    rtnl_route_put(r);
    if (e < 0 && e != -NLE_EXIST) return nlerr("add default route via " + ip_str(gw), e);
    return "";
  });
}

std::string delete_link(const std::string& name) {
  Sock s;
  if (s.err < 0) return nlerr("netlink socket", s.err);
  LinkPtr l;
  if (rtnl_link_get_kernel(s.sk, 0, name.c_str(), &l.l) < 0) return "";
  int e = rtnl_link_delete(s.sk, l.l);
  if (e < 0 && e != -NLE_NODEV && e != -NLE_OBJ_NOTFOUND) return nlerr("delete link " + name, e);
  return "";
}

int bridge_ports(const std::string& bridge) {
  Sock s;
  if (s.err < 0) return -1;
  LinkPtr br;
  if (rtnl_link_get_kernel(s.sk, 0, bridge.c_str(), &br.l) < 0) return -1;
  int idx = rtnl_link_get_ifindex(br.l);
  nl_cache* cache = nullptr;
  if (rtnl_link_alloc_cache(s.sk, AF_UNSPEC, &cache) < 0) return -1;
  int n = 0;
  for (nl_object* o = nl_cache_get_first(cache); o; o = nl_cache_get_next(o))
    if (rtnl_link_get_master(reinterpret_cast<rtnl_link*>(o)) == idx) ++n;
  nl_cache_free(cache);
  return n;
}

namespace {

std::string tc_tbf(const std::string& ifname, uint64_t rate, uint64_t burst) {
  std::string tc = find_program("tc");
  if (tc.empty()) return "tc not found in PATH";
  auto res =
      run_cmd({tc, "qdisc", "replace", "dev", ifname, "root", "tbf", "rate",
               std::to_string(rate) + "bps", "burst", std::to_string(burst), "latency", "25ms"});
  if (res.status != 0)
    return "tc on " + ifname + ": " + crunner::trim(res.err.empty() ? res.out : res.err);
  return "";
}

}  // namespace

std::string set_bandwidth(const std::string& host_if, pid_t pid, const std::string& cont_if,
                          uint64_t rate, uint64_t burst) {
  // tbf needs a burst of at least one MTU-sized packet.
  if (burst < 2048) burst = 2048;
  if (auto e = tc_tbf(host_if, rate, burst); !e.empty()) return e;
  // What the container sends is shaped on its own end (tc runs in its namespace).
  return in_netns(pid, [&] { return tc_tbf(cont_if, rate, burst); });
}

}  // namespace garden::net

namespace garden::net {

// Only names of the shapes we create: <prefix>brdg-<8 hex> and <prefix><11 base32>-0.
bool is_our_link(const std::string& n, const std::string& prefix) {
  if (n.rfind(prefix, 0) != 0) return false;
  std::string rest = n.substr(prefix.size());
  auto all_of = [](const std::string& s, const char* set) {
    return !s.empty() && s.find_first_not_of(set) == std::string::npos;
  };
  if (rest.rfind("brdg-", 0) == 0)
    return rest.size() == 13 && all_of(rest.substr(5), "0123456789abcdef");
  return rest.size() == 13 && rest.substr(11) == "-0" &&
         all_of(rest.substr(0, 11), "0123456789abcdefghijklmnopqrstuv");
}

std::string delete_links_with_prefix(const std::string& prefix) {
  Sock s;
  if (s.err < 0) return nlerr("netlink socket", s.err);
  nl_cache* cache = nullptr;
  int e = rtnl_link_alloc_cache(s.sk, AF_UNSPEC, &cache);
  if (e < 0) return nlerr("list links", e);
  std::vector<std::string> names;
  for (nl_object* o = nl_cache_get_first(cache); o; o = nl_cache_get_next(o)) {
    const char* n = rtnl_link_get_name(reinterpret_cast<rtnl_link*>(o));
    if (n && is_our_link(n, prefix)) names.push_back(n);
  }
  nl_cache_free(cache);
  for (auto& n : names)
    if (auto err = delete_link(n); !err.empty()) return err;
  return "";
}

}  // namespace garden::net
