#include "garden/net/firewall.hpp"

#include <algorithm>
#include <map>
#include <sstream>

#include "base/text.hpp"
#include "garden/net/sys.hpp"
#include "garden/runtime/runtime.hpp"

namespace garden::net {

using json = nlohmann::json;

namespace {

// The -A lines and chain names of one table of iptables-save output.
struct Table {
  std::vector<std::string> chains;
  std::vector<std::string> rules;  // "-A CHAIN ..."
};

std::map<std::string, Table> parse_save(const std::string& text) {
  std::map<std::string, Table> out;
  std::string table;
  for (auto& line : crunner::split(text, '\n')) {
    if (line.empty() || line[0] == '#') continue;
    if (line[0] == '*') {
      table = line.substr(1);
      out[table];
    } else if (line[0] == ':' && !table.empty()) {
      out[table].chains.push_back(line.substr(1, line.find(' ') - 1));
    } else if (line.rfind("-A ", 0) == 0 && !table.empty()) {
      out[table].rules.push_back(line);
    }
  }
  return out;
}

bool has_chain(const Table& t, const std::string& c) {
  for (auto& x : t.chains)
    if (x == c) return true;
  return false;
}

bool has_rule(const Table& t, const std::string& rule) {
  for (auto& r : t.rules)
    if (r == rule) return true;
  return false;
}

std::vector<std::string> tokens(const std::string& line) {
  std::vector<std::string> out;
  std::istringstream in(line);
  std::string t;
  while (in >> t) {
    if (t.size() >= 2 && t.front() == '"' && t.back() == '"') t = t.substr(1, t.size() - 2);
    out.push_back(t);
  }
  return out;
}

}  // namespace

std::string global_batch(const FirewallNames& n, const GlobalRules& g, const std::string& current) {
  auto tables = parse_save(current);
  const Table& filter = tables["filter"];
  const Table& nat = tables["nat"];
  std::string in_jump = "-A INPUT -i " + n.if_prefix + "+ -j " + n.input();
  std::string fwd_jump = "-A FORWARD -i " + n.if_prefix + "+ -j " + n.forward();
  std::ostringstream b;
  b << "*filter\n";
  // Declaring a chain in a --noflush batch creates it or empties it.
  b << ":" << n.input() << " - [0:0]\n:" << n.default_chain() << " - [0:0]\n";
  bool new_forward = !has_chain(filter, n.forward());
  if (new_forward) b << ":" << n.forward() << " - [0:0]\n";
  b << "-A " << n.input() << " -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT\n";
  if (g.allow_host_access)
    b << "-A " << n.input() << " -j ACCEPT\n";
  else
    b << "-A " << n.input() << " -j REJECT --reject-with icmp-host-prohibited\n";
  b << "-A " << n.default_chain() << " -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT\n";
  // Containers of different subnets reach each other only through a net-out rule.
  b << "-A " << n.default_chain() << " -o " << n.if_prefix
    << "+ -j REJECT --reject-with icmp-port-unreachable\n";
  for (auto& d : g.deny_networks)
    b << "-A " << n.default_chain() << " -d " << d.str()
      << " -j REJECT --reject-with icmp-port-unreachable\n";
  if (new_forward) b << "-A " << n.forward() << " -j DROP\n";
  if (!has_rule(filter, in_jump)) b << in_jump << "\n";
  if (!has_rule(filter, fwd_jump)) b << fwd_jump << "\n";
  b << "COMMIT\n*nat\n";
  if (!has_chain(nat, n.prerouting())) b << ":" << n.prerouting() << " - [0:0]\n";
  if (!has_chain(nat, n.postrouting())) b << ":" << n.postrouting() << " - [0:0]\n";
  for (std::string j :
       {"-A PREROUTING -j " + n.prerouting(), "-A OUTPUT -o lo -j " + n.prerouting(),
        "-A POSTROUTING -j " + n.postrouting()})
    if (!has_rule(nat, j)) b << j << "\n";
  b << "COMMIT\n";
  return b.str();
}

std::string instance_batch(const FirewallNames& n, const InstanceRules& r) {
  std::string chain = n.instance(r.id), log = n.log(r.id);
  std::string ip = ip_str(r.ip) + "/32";
  std::ostringstream b;
  b << "*nat\n:" << chain << " - [0:0]\n";
  b << "-A " << n.prerouting() << " -j " << chain << "\n";
  b << "-A " << n.postrouting() << " -s " << ip << " ! -d " << r.subnet.str()
    << " -m comment --comment " << chain << " -j MASQUERADE\n";
  b << "COMMIT\n*filter\n:" << chain << " - [0:0]\n:" << log << " - [0:0]\n";
  b << "-A " << chain << " -s " << r.subnet.str() << " -d " << r.subnet.str() << " -j ACCEPT\n";
  b << "-A " << chain << " -g " << n.default_chain() << "\n";
  b << "-I " << n.forward() << " 1 -i " << r.bridge << " -s " << ip << " -g " << chain << "\n";
  // iptables caps the prefix at 29 characters.
  std::string prefix = r.handle.substr(0, 28) + " ";
  b << "-A " << log << " -m conntrack --ctstate INVALID,NEW,UNTRACKED -j LOG --log-prefix \""
    << prefix << "\"\n";
  b << "-A " << log << " -j ACCEPT\n";
  b << "COMMIT\n";
  return b.str();
}

std::string teardown_batch(const std::string& current, const std::vector<std::string>& chains) {
  auto tables = parse_save(current);
  std::ostringstream b;
  for (auto& [name, t] : tables) {
    std::vector<std::string> present;
    for (auto& c : chains)
      if (has_chain(t, c)) present.push_back(c);
    std::vector<std::string> dels;
    for (auto& r : t.rules) {
      auto tok = tokens(r);
      if (tok.size() < 2) continue;
      bool own = false;
      for (auto& c : chains)
        if (tok[1] == c) own = true;
      if (own) continue;  // flushed with its chain
      bool refers = false;
      for (size_t i = 2; i + 1 < tok.size(); ++i)
        if (tok[i] == "-j" || tok[i] == "-g" || tok[i] == "--comment")
          for (auto& c : chains)
            if (tok[i + 1] == c) refers = true;
      if (refers) dels.push_back("-D" + r.substr(2));
    }
    if (present.empty() && dels.empty()) continue;
    b << "*" << name << "\n";
    for (auto& d : dels) b << d << "\n";
    for (auto& c : present) b << "-F " << c << "\n";
    for (auto& c : present) b << "-X " << c << "\n";
    b << "COMMIT\n";
  }
  return b.str();
}

std::vector<std::string> chains_with_prefix(const std::string& current, const std::string& prefix) {
  std::vector<std::string> out;
  for (auto& [name, t] : parse_save(current))
    for (auto& c : t.chains)
      if (c.rfind(prefix, 0) == 0 && std::find(out.begin(), out.end(), c) == out.end())
        out.push_back(c);
  return out;
}

std::string netin_batch(const FirewallNames& n, const std::string& id, uint32_t external_ip,
                        uint32_t host_port, uint32_t container_ip, uint32_t container_port) {
  std::ostringstream b;
  b << "*nat\n-A " << n.instance(id) << " -d " << ip_str(external_ip)
    << "/32 -p tcp -m tcp --dport " << host_port << " -j DNAT --to-destination "
    << ip_str(container_ip) << ":" << container_port << "\nCOMMIT\n";
  return b.str();
}

namespace {

// One NetOutRule -> its iptables match clauses (one per network x port range, as Guardian's
// rule translator expands them); err names the field.
std::vector<std::string> translate(const json& rule, std::string& err, bool& log) {
  std::vector<std::string> out;
  if (!rule.is_object()) {
    err = "expected an object";
    return out;
  }
  for (auto& [k, v] : rule.items())
    if (k != "protocol" && k != "networks" && k != "ports" && k != "icmps" && k != "log") {
      err = "unknown field `" + k + "`";
      return out;
    }
  int proto = 0;
  if (rule.contains("protocol") && !rule["protocol"].is_null()) {
    if (!rule["protocol"].is_number_integer()) {
      err = "protocol: expected a number";
      return out;
    }
    proto = rule["protocol"].get<int>();
  }
  static const char* const kProtos[] = {"all", "tcp", "udp", "icmp"};
  if (proto < 0 || proto > 3) {
    err = "protocol: invalid protocol " + std::to_string(proto) +
          (proto == 4 ? " (icmpv6: the networker is IPv4 only)" : "");
    return out;
  }
  log = rule.contains("log") && rule["log"].is_boolean() && rule["log"].get<bool>();
  if (rule.contains("log") && !rule["log"].is_null() && !rule["log"].is_boolean()) {
    err = "log: expected a boolean";
    return out;
  }
  std::string base = std::string(" -p ") + kProtos[proto];
  std::string icmp;
  if (rule.contains("icmps") && !rule["icmps"].is_null()) {
    const json& ic = rule["icmps"];
    if (proto != 3) {
      err = std::string("icmps: only allowed with protocol icmp, not ") + kProtos[proto];
      return out;
    }
    if (!ic.is_object() || !ic.contains("type") || !ic["type"].is_number_unsigned() ||
        ic["type"].get<unsigned>() > 255) {
      err = "icmps.type: expected a number 0-255";
      return out;
    }
    icmp = " -m icmp --icmp-type " + std::to_string(ic["type"].get<unsigned>());
    if (ic.contains("code") && !ic["code"].is_null()) {
      if (!ic["code"].is_number_unsigned() || ic["code"].get<unsigned>() > 255) {
        err = "icmps.code: expected a number 0-255";
        return out;
      }
      icmp += "/" + std::to_string(ic["code"].get<unsigned>());
    }
  }
  std::vector<std::string> nets{""}, ports{""};
  if (rule.contains("networks") && !rule["networks"].is_null()) {
    if (!rule["networks"].is_array()) {
      err = "networks: expected an array";
      return out;
    }
    if (!rule["networks"].empty()) nets.clear();
    for (size_t i = 0; i < rule["networks"].size(); ++i) {
      const json& r = rule["networks"][i];
      std::string f = "networks[" + std::to_string(i) + "]";
      uint32_t s = 0, e = 0;
      if (!r.is_object() || !r.contains("start") || !r["start"].is_string() ||
          !parse_ip(r["start"].get<std::string>(), s)) {
        err = f + ".start: expected an IPv4 address";
        return out;
      }
      e = s;
      if (r.contains("end") && !r["end"].is_null() &&
          (!r["end"].is_string() || !parse_ip(r["end"].get<std::string>(), e))) {
        err = f + ".end: expected an IPv4 address";
        return out;
      }
      if (e < s) {
        err = f + ": end " + ip_str(e) + " is before start " + ip_str(s);
        return out;
      }
      nets.push_back(s == e ? " -d " + ip_str(s) + "/32"
                            : " -m iprange --dst-range " + ip_str(s) + "-" + ip_str(e));
    }
  }
  if (rule.contains("ports") && !rule["ports"].is_null()) {
    if (!rule["ports"].is_array()) {
      err = "ports: expected an array";
      return out;
    }
    if (!rule["ports"].empty()) {
      if (proto != 1 && proto != 2) {
        err = std::string("ports: ports cannot be specified for protocol ") + kProtos[proto];
        return out;
      }
      ports.clear();
    }
    for (size_t i = 0; i < rule["ports"].size(); ++i) {
      const json& r = rule["ports"][i];
      std::string f = "ports[" + std::to_string(i) + "]";
      if (!r.is_object() || !r.contains("start") || !r["start"].is_number_unsigned() ||
          r["start"].get<unsigned long>() < 1 || r["start"].get<unsigned long>() > 65535) {
        err = f + ".start: expected a port 1-65535";
        return out;
      }
      unsigned long s = r["start"].get<unsigned long>(), e = s;
      if (r.contains("end") && !r["end"].is_null()) {
        if (!r["end"].is_number_unsigned() || r["end"].get<unsigned long>() < 1 ||
            r["end"].get<unsigned long>() > 65535) {
          err = f + ".end: expected a port 1-65535";
          return out;
        }
        e = r["end"].get<unsigned long>();
      }
      if (e < s) {
        err = f + ": end " + std::to_string(e) + " is before start " + std::to_string(s);
        return out;
      }
      ports.push_back(std::string(" -m ") + kProtos[proto] + " --dport " + std::to_string(s) +
                      (e != s ? ":" + std::to_string(e) : ""));
    }
  }
  for (auto& p : ports)
    for (auto& nw : nets) out.push_back(base + nw + p + icmp);
  return out;
}

}  // namespace

std::string netout_batch(const FirewallNames& n, const std::string& id, const json& rules,
                         std::string& err) {
  if (!rules.is_array()) {
    err = "net-out rules: expected an array";
    return "";
  }
  std::ostringstream b;
  b << "*filter\n";
  for (size_t i = 0; i < rules.size(); ++i) {
    bool log = false;
    std::string e;
    auto matches = translate(rules[i], e, log);
    if (!e.empty()) {
      err = "net-out rule " + std::to_string(i) + ": " + e;
      return "";
    }
    for (auto& m : matches)
      b << "-I " << n.instance(id) << " 1" << m
        << (log ? " -g " + n.log(id) : std::string(" -j ACCEPT")) << "\n";
  }
  b << "COMMIT\n";
  return b.str();
}

std::string apply(const std::string& batch) {
  std::string bin = find_program("iptables-restore");
  if (bin.empty()) return "iptables-restore not found in PATH";
  auto r = run_cmd({bin, "--noflush", "--wait"}, batch);
  if (r.status != 0)
    return "iptables-restore: " + crunner::trim(r.err.empty() ? r.out : r.err) + " (batch:\n" +
           batch + ")";
  return "";
}

std::string save(std::string& err) {
  std::string bin = find_program("iptables-save");
  if (bin.empty()) {
    err = "iptables-save not found in PATH";
    return "";
  }
  auto r = run_cmd({bin});
  if (r.status != 0) {
    err = "iptables-save: " + crunner::trim(r.err);
    return "";
  }
  return r.out;
}

}  // namespace garden::net
