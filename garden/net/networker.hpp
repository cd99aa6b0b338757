// garden-shim's container networking, as Guardian's kawasaki networker does it: an address
// from the pool, a bridge per subnet (gateway = first address), a veth pair per container
// (container end inside its network namespace), iptables chains per container, net-in DNATs
// from the external IP, net-out ACCEPTs, /etc/hosts and /etc/resolv.conf, tc shaping.
//
// A container's network state is one JSON object (`meta.json`'s "network"), from which
// restore() rebuilds the pools after a restart and teardown() removes everything.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "garden/net/firewall.hpp"
#include "garden/net/pool.hpp"

namespace garden::net {

struct Config {
  bool enabled = true;                        // --disable-networking turns it off
  std::string pool = "10.254.0.0/22";         // --network-pool
  int mtu = 0;                                // --mtu (0: the external interface's)
  std::string iptable_prefix = "w--";         // --iptable-prefix
  std::string interface_prefix = "w";         // --network-interface-prefix
  std::vector<std::string> deny_networks;     // --deny-network
  bool allow_host_access = false;             // --allow-host-access
  uint32_t port_pool_start = 61001;           // --port-pool-start
  uint32_t port_pool_size = 4534;             // --port-pool-size
  std::string external_ip;                    // --external-ip ("" = default route's)
  std::vector<std::string> dns_servers;       // --dns-server
  std::vector<std::string> additional_dns;    // --additional-dns-server
  std::vector<std::string> additional_hosts;  // --additional-host-entry
  std::string host_resolv = "/etc/resolv.conf";
  bool destroy_on_startup = false;       // --destroy-containers-on-startup
  std::string plugin;                    // --network-plugin: replaces the built-in networker
  std::vector<std::string> plugin_args;  // --network-plugin-extra-arg
};

// Checks the flags; "" or an error naming the flag.
std::string validate(const Config& c);

class Networker {
 public:
  explicit Networker(Config cfg);
  const Config& config() const { return cfg_; }
  bool enabled() const { return cfg_.enabled; }
  // How many containers the pool can network (Guardian caps max_containers with it).
  uint64_t capacity() const {
    return cfg_.enabled && cfg_.plugin.empty() ? SubnetPool(pool_cidr_).capacity() : UINT64_MAX;
  }

  // Start-up: external IP and MTU, global chains. With clean, every chain and bridge of
  // ours goes first (--destroy-containers-on-startup).
  std::string start(bool clean);
  // Re-registers a container's addresses and ports read back from the depot.
  std::string restore(const nlohmann::json& net);

  // Create, before the runtime: validates the spec's network fields, allocates the
  // address, writes hosts and resolv.conf (owned by root_uid). net gets the state.
  std::string prepare(const std::string& handle, const nlohmann::json& spec, uid_t root_uid,
                      const std::string& hosts_file, const std::string& resolv_file,
                      nlohmann::json& net);
  // Create, after the runtime started the init (pid): links, addresses, routes, firewall,
  // then the spec's netin, netout_rules and bandwidth limits.
  std::string attach(const std::string& handle, pid_t pid, const nlohmann::json& spec,
                     nlohmann::json& net);
  // Destroy (or a failed create): rules, veth, ports, address, the bridge with its last user.
  std::string teardown(const nlohmann::json& net);

  std::string net_in(nlohmann::json& net, uint32_t& host_port, uint32_t& container_port);
  // bulk: the request was .../net/out/bulk (a plugin gets bulk-net-out, else net-out).
  std::string net_out(const nlohmann::json& net, const nlohmann::json& rules, bool bulk = true);

  // garden.network.* and kawasaki.* properties, as Guardian records them.
  static void set_properties(const nlohmann::json& net, nlohmann::json& props);

 private:
  std::string resolv_conf(uint32_t gateway, const std::vector<std::string>& plugin_dns = {},
                          const std::vector<std::string>& search = {}) const;
  // --network-plugin: `PATH [extra args] --action A --handle H`, JSON in on stdin, JSON out.
  std::string plugin_exec(const std::string& action, const std::string& handle,
                          const nlohmann::json& in, nlohmann::json* out);
  std::string plugin_attach(const std::string& handle, pid_t pid, const nlohmann::json& spec,
                            nlohmann::json& net);
  Config cfg_;
  FirewallNames names_;
  Cidr pool_cidr_;
  uint32_t external_ip_ = 0;
  int mtu_ = 1500;
  std::mutex mu_;  // pools and kernel state
  SubnetPool subnets_;
  PortPool ports_;
};

// Without networking: hosts (127.0.0.1 localhost, handle) and the host's resolv.conf.
std::string write_plain_dns(const std::string& handle, uid_t root_uid, const std::string& hosts,
                            const std::string& resolv, const std::string& host_resolv);

}  // namespace garden::net
