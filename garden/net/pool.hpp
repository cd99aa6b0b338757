// Address and port bookkeeping of the networker (Guardian's kawasaki subnets and port
// pool): a /30 per container from --network-pool, shared subnets and static IPs asked for by
// a spec's `network`, host ports for net-in. Pure state, no kernel calls; the allocations are
// persisted by the caller (each container's meta.json) and restored on start-up.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>

namespace garden::net {

struct Cidr {
  uint32_t base = 0;  // host byte order, host bits cleared
  int prefix = 32;
  uint32_t mask() const { return prefix == 0 ? 0 : ~uint32_t(0) << (32 - prefix); }
  uint32_t last() const { return base | ~mask(); }  // the broadcast address
  uint32_t gateway() const { return base + 1; }
  bool contains(uint32_t ip) const { return (ip & mask()) == base; }
  bool overlaps(const Cidr& o) const { return contains(o.base) || o.contains(base); }
  std::string str() const;
  bool operator==(const Cidr& o) const { return base == o.base && prefix == o.prefix; }
};

bool parse_ip(const std::string& s, uint32_t& ip);
std::string ip_str(uint32_t ip);
// "a.b.c.d/n"; ip gets the address as written (host bits kept), cidr the network.
bool parse_cidr(const std::string& s, Cidr& cidr, uint32_t* ip = nullptr);

struct Allocation {
  Cidr subnet;
  uint32_t ip = 0;
};

class SubnetPool {
 public:
  explicit SubnetPool(Cidr dynamic = {}) : dynamic_(dynamic) {}
  // spec "": a free /30 of the dynamic range; "a.b.c.0/24": that subnet (shared), its next
  // free address; "a.b.c.7/24": that address in that subnet. Error text names the request.
  std::string acquire(const std::string& spec, Allocation& out);
  // Re-registers an allocation read back from the depot.
  std::string restore(const Allocation& a);
  // Returns true when the subnet has no address left (its bridge may go).
  bool release(const Allocation& a);
  bool in_use(const Cidr& subnet) const { return subnets_.count(subnet.base) != 0; }
  // The number of /30 subnets of the dynamic range.
  uint64_t capacity() const;

 private:
  std::string take(const Cidr& subnet, uint32_t& ip, bool pick);
  Cidr dynamic_;
  struct Entry {
    Cidr cidr;
    std::set<uint32_t> ips;
  };
  std::map<uint32_t, Entry> subnets_;  // by base address
};

class PortPool {
 public:
  PortPool(uint32_t start = 61001, uint32_t size = 4534) : start_(start), size_(size) {}
  // A free port of the range (round robin, as Guardian hands them out).
  std::string acquire(uint32_t& port);
  // Marks a port taken (restore, or an explicit host port inside the range); error when it
  // already is.
  std::string take(uint32_t port);
  void release(uint32_t port) { taken_.erase(port); }
  bool in_range(uint32_t port) const { return port >= start_ && port < start_ + size_; }

 private:
  uint32_t start_, size_, next_ = 0;
  std::set<uint32_t> taken_;
};

}  // namespace garden::net
