#include "garden/net/pool.hpp"

#include <arpa/inet.h>

#include "base/text.hpp"

namespace garden::net {

bool parse_ip(const std::string& s, uint32_t& ip) {
  in_addr a;
  if (s.empty() || s.size() > 15 || inet_pton(AF_INET, s.c_str(), &a) != 1) return false;
  ip = ntohl(a.s_addr);
  return true;
}

std::string ip_str(uint32_t ip) {
  in_addr a;
  a.s_addr = htonl(ip);
  char buf[INET_ADDRSTRLEN];
  inet_ntop(AF_INET, &a, buf, sizeof buf);
  return buf;
}

std::string Cidr::str() const {
  return ip_str(base) + "/" + std::to_string(prefix);
}

bool parse_cidr(const std::string& s, Cidr& cidr, uint32_t* ip) {
  auto slash = s.find('/');
  if (slash == std::string::npos) return false;
  uint32_t addr = 0;
  unsigned long long n = 0;
  if (!parse_ip(s.substr(0, slash), addr) || !crunner::parse_u64(s.substr(slash + 1), n) || n > 32)
    return false;
  cidr.prefix = static_cast<int>(n);
  cidr.base = addr & cidr.mask();
  if (ip) *ip = addr;
  return true;
}

uint64_t SubnetPool::capacity() const {
  if (dynamic_.prefix > 30) return 0;
  return uint64_t(1) << (30 - dynamic_.prefix);
}

// Reserves ip (or, with pick, the first free host address) in subnet, creating the subnet
// entry unless an overlapping one of another shape exists.
std::string SubnetPool::take(const Cidr& subnet, uint32_t& ip, bool pick) {
  if (subnet.prefix > 30)
    return "subnet " + subnet.str() + " is too small: it needs a gateway and a container address";
  auto it = subnets_.find(subnet.base);
  if (it == subnets_.end() || !(it->second.cidr == subnet)) {
    for (auto& [b, e] : subnets_)
      if (e.cidr.overlaps(subnet))
        return "subnet " + subnet.str() + " overlaps the existing subnet " + e.cidr.str();
  }
  std::set<uint32_t> none;
  const std::set<uint32_t>& used = it != subnets_.end() ? it->second.ips : none;
  if (pick) {
    ip = 0;
    for (uint32_t cand = subnet.gateway() + 1; cand < subnet.last(); ++cand)
      if (!used.count(cand)) {
        ip = cand;
        break;
      }
    if (!ip) return "subnet " + subnet.str() + " has no free address left";
  } else {
    if (!subnet.contains(ip)) return "address " + ip_str(ip) + " is not in subnet " + subnet.str();
    if (ip == subnet.base)
      return "address " + ip_str(ip) + " is the network address of " + subnet.str();
    if (ip == subnet.gateway())
      return "address " + ip_str(ip) + " is the gateway of " + subnet.str();
    if (ip == subnet.last())
      return "address " + ip_str(ip) + " is the broadcast address of " + subnet.str();
    if (used.count(ip)) return "address " + ip_str(ip) + " is already in use";
  }
  auto& e = subnets_[subnet.base];
  e.cidr = subnet;
  e.ips.insert(ip);
  return "";
}

std::string SubnetPool::acquire(const std::string& spec, Allocation& out) {
  if (spec.empty()) {
    if (capacity() == 0) return "network pool " + dynamic_.str() + " has no /30 subnets";
    for (uint64_t i = 0; i < capacity(); ++i) {
      Cidr c{dynamic_.base + static_cast<uint32_t>(i * 4), 30};
      bool clash = false;
      for (auto& [b, e] : subnets_)
        if (e.cidr.overlaps(c)) {
          clash = true;
          break;
        }
      if (clash) continue;
      out.subnet = c;
      out.ip = c.gateway() + 1;
      return take(c, out.ip, false);
    }
    return "network pool " + dynamic_.str() + " is exhausted: no free /30 subnet left";
  }
  Cidr c;
  uint32_t ip = 0;
  if (!parse_cidr(spec, c, &ip))
    return "network `" + spec + "`: expected an IPv4 subnet such as 10.254.1.0/24";
  bool pick = ip == c.base;
  std::string err = take(c, ip, pick);
  if (!err.empty()) return "network `" + spec + "`: " + err;
  out.subnet = c;
  out.ip = ip;
  return "";
}

std::string SubnetPool::restore(const Allocation& a) {
  uint32_t ip = a.ip;
  return take(a.subnet, ip, false);
}

bool SubnetPool::release(const Allocation& a) {
  auto it = subnets_.find(a.subnet.base);
  if (it == subnets_.end() || !(it->second.cidr == a.subnet)) return !in_use(a.subnet);
  it->second.ips.erase(a.ip);
  if (!it->second.ips.empty()) return false;
  subnets_.erase(it);
  return true;
}

std::string PortPool::acquire(uint32_t& port) {
  for (uint32_t i = 0; i < size_; ++i) {
    uint32_t p = start_ + (next_ + i) % size_;
    if (!taken_.count(p)) {
      taken_.insert(p);
      next_ = (p - start_ + 1) % size_;
      port = p;
      return "";
    }
  }
  return "port pool is exhausted: all " + std::to_string(size_) + " ports from " +
         std::to_string(start_) + " are in use";
}

std::string PortPool::take(uint32_t port) {
  if (taken_.count(port)) return "host port " + std::to_string(port) + " is already mapped";
  taken_.insert(port);
  return "";
}

}  // namespace garden::net
