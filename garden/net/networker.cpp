#include "garden/net/networker.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <optional>
#include <random>

#include "base/file.hpp"
#include "base/text.hpp"
#include "garden/net/sys.hpp"
#include "garden/runtime/runtime.hpp"

namespace garden::net {

using json = nlohmann::json;

namespace {

std::string random_id() {
  // Guardian's instance ids: 11 base-32 characters.
  static std::mutex m;
  static std::mt19937_64 rng(std::random_device{}());
  std::lock_guard<std::mutex> lk(m);
  uint64_t v = rng();
  std::string s;
  for (int i = 0; i < 11; ++i, v >>= 5) s += "0123456789abcdefghijklmnopqrstuv"[v & 31];
  return s;
}

std::string hex8(uint32_t v) {
  char b[9];
  snprintf(b, sizeof b, "%08x", v);
  return b;
}

std::string write_owned(const std::string& path, const std::string& text, uid_t uid) {
  if (auto st = crunner::write_file(path, text, O_WRONLY | O_CREAT | O_TRUNC, 0644); !st)
    return st.error().what();
  if (chown(path.c_str(), uid, uid) < 0)
    return "chown `" + path + "`: " + crunner::errno_text(errno);
  return "";
}

std::string hosts_text(const std::string& handle, const std::string& ip,
                       const std::vector<std::string>& extra) {
  std::string h = "127.0.0.1 localhost\n";
  if (!ip.empty()) h += ip + " " + handle.substr(0, 63) + "\n";
  for (auto& e : extra) h += e + "\n";
  return h;
}

uint32_t get_u32(const json& j, const char* k) {
  return j.contains(k) && j[k].is_number_unsigned() ? j[k].get<uint32_t>() : 0;
}

bool load_alloc(const json& net, Allocation& a) {
  return net.is_object() && net.contains("subnet") && net["subnet"].is_string() &&
         parse_cidr(net["subnet"].get<std::string>(), a.subnet) && net.contains("ip") &&
         net["ip"].is_string() && parse_ip(net["ip"].get<std::string>(), a.ip);
}

}  // namespace

std::string validate(const Config& c) {
  Cidr x;
  if (!parse_cidr(c.pool, x)) return "--network-pool " + c.pool + ": expected an IPv4 CIDR";
  if (x.prefix > 30) return "--network-pool " + c.pool + ": smaller than one /30";
  for (auto& d : c.deny_networks)
    if (!parse_cidr(d, x)) return "--deny-network " + d + ": expected an IPv4 CIDR";
  uint32_t ip;
  if (!c.external_ip.empty() && !parse_ip(c.external_ip, ip))
    return "--external-ip " + c.external_ip + ": expected an IPv4 address";
  for (auto& d : c.dns_servers)
    if (!parse_ip(d, ip)) return "--dns-server " + d + ": expected an IPv4 address";
  for (auto& d : c.additional_dns)
    if (!parse_ip(d, ip)) return "--additional-dns-server " + d + ": expected an IPv4 address";
  for (auto& h : c.additional_hosts)
    if (h.find('\n') != std::string::npos || h.empty())
      return "--additional-host-entry: one non-empty line expected";
  if (c.iptable_prefix.empty() || c.iptable_prefix.size() > 16)
    return "--iptable-prefix: 1 to 16 characters";
  if (c.interface_prefix.empty() || c.interface_prefix.size() > 2)
    return "--network-interface-prefix: 1 or 2 characters";
  if (c.mtu < 0 || c.mtu > 65535) return "--mtu: out of range";
  if (c.port_pool_start < 1 || c.port_pool_size < 1 ||
      uint64_t(c.port_pool_start) + c.port_pool_size > 65536)
    return "--port-pool-start/--port-pool-size: the range must lie within 1-65535";
  return "";
}

Networker::Networker(Config cfg)
    : cfg_(std::move(cfg)), ports_(cfg_.port_pool_start, cfg_.port_pool_size) {
  names_.prefix = cfg_.iptable_prefix;
  names_.if_prefix = cfg_.interface_prefix;
  parse_cidr(cfg_.pool, pool_cidr_);
  subnets_ = SubnetPool(pool_cidr_);
}

std::string Networker::start(bool clean) {
  if (!cfg_.enabled) return "";
  std::string ifname, route_err, err;
  uint32_t ip = 0;
  int mtu = 1500;
  // The route's error is its own: with --external-ip, having none is no failure (it was
  // once left in `err`, which the iptables calls below read as theirs).
  bool have_route = default_route(ifname, ip, mtu, route_err);
  if (!cfg_.external_ip.empty()) {
    parse_ip(cfg_.external_ip, external_ip_);
  } else if (have_route) {
    external_ip_ = ip;
  } else {
    return "external IP: " + route_err;
  }
  mtu_ = cfg_.mtu > 0 ? cfg_.mtu : (have_route ? mtu : 1500);
  if (!cfg_.plugin.empty()) return "";            // the plugin owns the kernel side
  if (mtu_ > 1500 && cfg_.mtu == 0) mtu_ = 1500;  // as Guardian caps it
  if (auto st = crunner::write_file("/proc/sys/net/ipv4/ip_forward", "1"); !st)
    return std::string("enable IPv4 forwarding: ") + st.error().what();
  std::string current = save(err);
  if (!err.empty()) return err;
  if (clean) {
    auto chains = chains_with_prefix(current, cfg_.iptable_prefix);
    std::string batch = teardown_batch(current, chains);
    if (!batch.empty())
      if (auto e = apply(batch); !e.empty()) return "remove old chains: " + e;
    current = save(err);
    if (!err.empty()) return err;
    if (auto e = delete_links_with_prefix(cfg_.interface_prefix); !e.empty()) return e;
  }
  GlobalRules g;
  g.allow_host_access = cfg_.allow_host_access;
  for (auto& d : cfg_.deny_networks) {
    Cidr c;
    parse_cidr(d, c);
    g.deny_networks.push_back(c);
  }
  if (auto e = apply(global_batch(names_, g, current)); !e.empty()) return "global chains: " + e;
  return "";
}

std::string Networker::restore(const json& net) {
  if (!cfg_.enabled || !net.is_object() || net.empty() || net.contains("plugin")) return "";
  Allocation a;
  if (!load_alloc(net, a)) return "invalid network state in the depot";
  std::lock_guard<std::mutex> lk(mu_);
  if (auto e = subnets_.restore(a); !e.empty()) return e;
  for (auto& m : net.value("mapped_ports", json::array())) {
    uint32_t hp = get_u32(m, "HostPort");
    if (hp && ports_.in_range(hp)) ports_.take(hp);
  }
  return "";
}

std::string Networker::resolv_conf(uint32_t gateway, const std::vector<std::string>& plugin_dns,
                                   const std::vector<std::string>& search) const {
  // A plugin's servers win over the host's, the operator's (--dns-server) over both.
  std::vector<std::string> servers = cfg_.dns_servers.empty() ? plugin_dns : cfg_.dns_servers,
                           other;
  if (!search.empty()) {
    std::string line = "search";
    for (auto& d : search) line += " " + d;
    other.push_back(line);
  }
  if (servers.empty()) {
    auto text = crunner::read_file(cfg_.host_resolv);
    if (text) {
      for (auto& line : crunner::split(*text, '\n')) {
        auto t = crunner::split(crunner::trim(line), ' ');
        std::vector<std::string> f;
        for (auto& x : t)
          if (!x.empty()) f.push_back(x);
        if (f.size() >= 2 && f[0] == "nameserver") {
          uint32_t ip = 0;
          if (!parse_ip(f[1], ip)) continue;  // IPv6 servers are unreachable from the container
          if ((ip >> 24) == 127) {
            // A resolver on the host's loopback (systemd-resolved's stub, dnsmasq) is not
            // reachable from the container: use systemd's upstream servers when they are
            // known, else the host's address on the container's bridge, as Guardian does.
            std::optional<std::string> up;
            if (ip == 0x7f000035)
              if (auto sd = crunner::read_file("/run/systemd/resolve/resolv.conf")) up = *sd;
            bool any = false;
            if (up)
              for (auto& l2 : crunner::split(*up, '\n')) {
                auto g = crunner::split(crunner::trim(l2), ' ');
                uint32_t u = 0;
                if (g.size() >= 2 && g[0] == "nameserver" && parse_ip(g.back(), u) &&
                    (u >> 24) != 127) {
                  servers.push_back(g.back());
                  any = true;
                }
              }
            if (!any && gateway) servers.push_back(ip_str(gateway));
          } else {
            servers.push_back(f[1]);
          }
        } else if (!f.empty() && (f[0] == "search" || f[0] == "options" || f[0] == "domain") &&
                   (search.empty() || f[0] == "options")) {
          other.push_back(crunner::trim(line));
        }
      }
    }
  }
  for (auto& a : cfg_.additional_dns) servers.push_back(a);
  std::string out;
  std::vector<std::string> seen;
  for (auto& s : servers) {
    if (std::find(seen.begin(), seen.end(), s) != seen.end()) continue;
    seen.push_back(s);
    out += "nameserver " + s + "\n";
  }
  for (auto& o : other) out += o + "\n";
  return out;
}

std::string Networker::prepare(const std::string& handle, const json& spec, uid_t root_uid,
                               const std::string& hosts_file, const std::string& resolv_file,
                               json& net) {
  if (!cfg_.plugin.empty()) {
    net = {{"plugin", true},           {"external_ip", ip_str(external_ip_)},
           {"hosts_file", hosts_file}, {"resolv_file", resolv_file},
           {"root_uid", root_uid},     {"mapped_ports", json::array()}};
    std::string e =
        write_owned(hosts_file, hosts_text(handle, "", cfg_.additional_hosts), root_uid);
    return e.empty() ? write_owned(resolv_file, resolv_conf(0), root_uid) : e;
  }
  std::string want = spec.value("network", "");
  Allocation a;
  {
    std::lock_guard<std::mutex> lk(mu_);
    if (auto e = subnets_.acquire(want, a); !e.empty()) return e;
  }
  std::string id = random_id();
  net = {{"id", id},
         {"subnet", a.subnet.str()},
         {"ip", ip_str(a.ip)},
         {"gateway", ip_str(a.subnet.gateway())},
         {"bridge", cfg_.interface_prefix + "brdg-" + hex8(a.subnet.base)},
         {"host_interface", cfg_.interface_prefix + id + "-0"},
         {"container_interface", cfg_.interface_prefix + id + "-1"},
         {"iptable_prefix", cfg_.iptable_prefix},
         {"mtu", mtu_},
         {"external_ip", ip_str(external_ip_)},
         {"mapped_ports", json::array()}};
  std::string resolv = resolv_conf(a.subnet.gateway());
  json dns = json::array();
  for (auto& line : crunner::split(resolv, '\n'))
    if (line.rfind("nameserver ", 0) == 0) dns.push_back(line.substr(11));
  net["dns_servers"] = dns;
  std::string e =
      write_owned(hosts_file, hosts_text(handle, ip_str(a.ip), cfg_.additional_hosts), root_uid);
  if (e.empty()) e = write_owned(resolv_file, resolv, root_uid);
  if (!e.empty()) {
    std::lock_guard<std::mutex> lk(mu_);
    subnets_.release(a);
    net = json();
  }
  return e;
}

std::string Networker::plugin_exec(const std::string& action, const std::string& handle,
                                   const json& in, json* out) {
  std::vector<std::string> argv{cfg_.plugin};
  argv.insert(argv.end(), cfg_.plugin_args.begin(), cfg_.plugin_args.end());
  argv.insert(argv.end(), {"--action", action, "--handle", handle});
  auto r = run_cmd(argv, in.dump());
  if (r.status != 0)
    return "external networker " + action + ": exit status " + std::to_string(r.status) + ": " +
           crunner::trim(r.err.substr(0, 4096));
  if (out && !crunner::trim(r.out).empty()) {
    *out = json::parse(r.out, nullptr, false);
    if (out->is_discarded() || !out->is_object())
      return "external networker " + action + ": its output is not a JSON object";
  }
  return "";
}

std::string Networker::plugin_attach(const std::string& handle, pid_t pid, const json& spec,
                                     json& net) {
  json props = json::object();
  if (spec.contains("properties") && spec["properties"].is_object())
    for (auto& [k, v] : spec["properties"].items())
      if (k.rfind("network.", 0) == 0 && v.is_string()) props[k.substr(8)] = v;
  json in = {{"Pid", pid}, {"Properties", props}};
  if (spec.contains("netout_rules") && spec["netout_rules"].is_array() &&
      !spec["netout_rules"].empty())
    in["netout_rules"] = spec["netout_rules"];
  if (spec.contains("netin") && spec["netin"].is_array() && !spec["netin"].empty())
    in["netin"] = spec["netin"];
  json out = json::object();
  if (auto e = plugin_exec("up", handle, in, &out); !e.empty()) return e;
  json outprops = json::object();
  if (out.contains("Properties") && out["Properties"].is_object())
    for (auto& [k, v] : out["Properties"].items())
      if (v.is_string()) outprops[k] = v;
  net["properties"] = outprops;
  std::string ip = outprops.value("garden.network.container-ip", "");
  uint32_t cip = 0;
  if (!ip.empty() && parse_ip(ip, cip)) {
    net["ip"] = ip;
    net["gateway"] = outprops.value("garden.network.host-ip", "");
    std::vector<std::string> dns, search;
    for (const char* k : {"dns_servers", "search_domains"})
      if (out.contains(k) && out[k].is_array())
        for (auto& d : out[k])
          if (d.is_string()) (std::string(k) == "dns_servers" ? dns : search).push_back(d);
    uid_t uid = net.value("root_uid", 0u);
    std::string e = write_owned(net.value("hosts_file", ""),
                                hosts_text(handle, ip, cfg_.additional_hosts), uid);
    if (e.empty()) e = write_owned(net.value("resolv_file", ""), resolv_conf(0, dns, search), uid);
    if (!e.empty()) return e;
  }
  return "";
}

std::string Networker::attach(const std::string& handle, pid_t pid, const json& spec, json& net) {
  if (net.contains("plugin")) {
    net["handle"] = handle;
    return plugin_attach(handle, pid, spec, net);
  }
  Allocation a;
  if (!load_alloc(net, a)) return "invalid network state";
  std::string id = net["id"], bridge = net["bridge"], host_if = net["host_interface"],
              cont_if = net["container_interface"];
  {
    std::lock_guard<std::mutex> lk(mu_);
    if (auto e = ensure_bridge(bridge, a.subnet.gateway(), a.subnet.prefix, mtu_); !e.empty())
      return e;
    if (auto e = create_veth(host_if, cont_if, mtu_, bridge, pid); !e.empty()) return e;
  }
  if (auto e = configure_container(pid, cont_if, a.ip, a.subnet.prefix, a.subnet.gateway());
      !e.empty())
    return e;
  InstanceRules r{id, handle, bridge, a.subnet, a.ip};
  if (auto e = apply(instance_batch(names_, r)); !e.empty()) return e;
  if (spec.contains("netout_rules") && !spec["netout_rules"].is_null())
    if (auto e = net_out(net, spec["netout_rules"]); !e.empty()) return e;
  if (spec.contains("netin") && spec["netin"].is_array())
    for (size_t i = 0; i < spec["netin"].size(); ++i) {
      const json& m = spec["netin"][i];
      if (!m.is_object()) return "netin[" + std::to_string(i) + "]: expected an object";
      uint32_t hp = get_u32(m, "host_port"), cp = get_u32(m, "container_port");
      if (auto e = net_in(net, hp, cp); !e.empty()) return "netin[" + std::to_string(i) + "]: " + e;
    }
  json bw = spec.contains("limits") && spec["limits"].is_object()
                ? spec["limits"].value("bandwidth_limits", json::object())
                : json::object();
  uint64_t rate = bw.is_object() && bw.contains("rate") && bw["rate"].is_number_unsigned()
                      ? bw["rate"].get<uint64_t>()
                      : 0;
  uint64_t burst = bw.is_object() && bw.contains("burst") && bw["burst"].is_number_unsigned()
                       ? bw["burst"].get<uint64_t>()
                       : 0;
  if (rate > 0)
    if (auto e = set_bandwidth(host_if, pid, cont_if, rate, burst); !e.empty())
      return "bandwidth limits: " + e;
  return "";
}

std::string Networker::teardown(const json& net) {
  if (!net.is_object() || net.empty()) return "";
  if (net.contains("plugin"))
    return net.contains("handle") ? plugin_exec("down", net["handle"], nullptr, nullptr) : "";
  Allocation a;
  if (!load_alloc(net, a)) return "invalid network state";
  std::string id = net.value("id", ""), err;
  std::lock_guard<std::mutex> lk(mu_);
  std::string current = save(err);
  if (!err.empty()) return err;
  std::string batch = teardown_batch(current, {names_.instance(id), names_.log(id)});
  if (!batch.empty())
    if (auto e = apply(batch); !e.empty()) return "remove rules: " + e;
  if (auto e = delete_link(net.value("host_interface", "")); !e.empty()) return e;
  for (auto& m : net.value("mapped_ports", json::array())) ports_.release(get_u32(m, "HostPort"));
  subnets_.release(a);
  if (!subnets_.in_use(a.subnet)) {
    std::string bridge = net.value("bridge", "");
    if (bridge_ports(bridge) <= 0)
      if (auto e = delete_link(bridge); !e.empty()) return e;
  }
  return "";
}

std::string Networker::net_in(json& net, uint32_t& host_port, uint32_t& container_port) {
  if (host_port > 65535) return "host_port: " + std::to_string(host_port) + " is not a port";
  if (container_port > 65535)
    return "container_port: " + std::to_string(container_port) + " is not a port";
  if (net.contains("plugin")) {
    json out = json::object();
    json in = {{"HostIP", net.value("external_ip", "")},
               {"HostPort", host_port},
               {"ContainerIP", net.value("ip", "")},
               {"ContainerPort", container_port}};
    if (auto e = plugin_exec("net-in", net.value("handle", ""), in, &out); !e.empty()) return e;
    host_port = out.contains("host_port") && out["host_port"].is_number_unsigned()
                    ? out["host_port"].get<uint32_t>()
                    : 0;
    container_port = out.contains("container_port") && out["container_port"].is_number_unsigned()
                         ? out["container_port"].get<uint32_t>()
                         : 0;
    net["mapped_ports"].push_back({{"HostPort", host_port}, {"ContainerPort", container_port}});
    return "";
  }
  uint32_t ip = 0;
  parse_ip(net.value("ip", ""), ip);
  std::lock_guard<std::mutex> lk(mu_);
  bool picked = false;
  if (host_port == 0) {
    if (auto e = ports_.acquire(host_port); !e.empty()) return e;
    picked = true;
  } else if (ports_.in_range(host_port)) {
    if (auto e = ports_.take(host_port); !e.empty()) return e;
    picked = true;
  }
  if (container_port == 0) container_port = host_port;
  std::string e =
      apply(netin_batch(names_, net.value("id", ""), external_ip_, host_port, ip, container_port));
  if (!e.empty()) {
    if (picked) ports_.release(host_port);
    return e;
  }
  net["mapped_ports"].push_back({{"HostPort", host_port}, {"ContainerPort", container_port}});
  return "";
}

std::string Networker::net_out(const json& net, const json& rules, bool bulk) {
  std::string err;
  if (net.contains("plugin")) {
    if (!rules.is_array()) return "net-out rules: expected an array";
    return !bulk && rules.size() == 1
               ? plugin_exec("net-out", net.value("handle", ""),
                             {{"container_ip", net.value("ip", "")}, {"netout_rule", rules[0]}},
                             nullptr)
               : plugin_exec("bulk-net-out", net.value("handle", ""),
                             {{"container_ip", net.value("ip", "")}, {"netout_rules", rules}},
                             nullptr);
  }
  std::string batch = netout_batch(names_, net.value("id", ""), rules, err);
  if (!err.empty()) return err;
  return apply(batch);
}

void Networker::set_properties(const json& net, json& props) {
  if (!net.is_object() || net.empty()) return;
  auto s = [&](const char* k) { return net.value(k, ""); };
  if (net.contains("plugin")) {
    json own = net.value("properties", json::object());
    for (auto& [k, v] : own.items()) props[k] = v;
    props["garden.network.external-ip"] = s("external_ip");
    props["garden.network.mapped-ports"] = net.value("mapped_ports", json::array()).dump();
    return;
  }
  props["garden.network.container-ip"] = s("ip");
  props["garden.network.host-ip"] = s("gateway");
  props["garden.network.external-ip"] = s("external_ip");
  props["garden.network.mapped-ports"] = net.value("mapped_ports", json::array()).dump();
  props["kawasaki.host-interface"] = s("host_interface");
  props["kawasaki.container-interface"] = s("container_interface");
  props["kawasaki.bridge-interface"] = s("bridge");
  props["kawasaki.subnet"] = s("subnet");
  props["kawasaki.iptable-prefix"] = s("iptable_prefix");
  props["kawasaki.iptable-inst"] = s("id");
  props["kawasaki.mtu"] = std::to_string(net.value("mtu", 0));
  std::string dns;
  for (auto& d : net.value("dns_servers", json::array()))
    dns += (dns.empty() ? "" : ", ") + d.get<std::string>();
  props["kawasaki.dns-servers"] = dns;
}

std::string write_plain_dns(const std::string& handle, uid_t root_uid, const std::string& hosts,
                            const std::string& resolv, const std::string& host_resolv) {
  std::string e = write_owned(hosts, hosts_text(handle, "", {}), root_uid);
  if (!e.empty()) return e;
  auto text = crunner::read_file(host_resolv);
  return write_owned(resolv, text ? *text : "", root_uid);
}

}  // namespace garden::net
