// The networker's iptables rules, in Guardian's layout (kawasaki/iptables), applied as
// iptables-restore --noflush batches: one batch per change, so a change applies whole or not
// at all. The batch builders are pure (unit-tested); apply()/save() run the binaries.
//
//   filter INPUT   -i <if>+ -j <p>input     <p>input: established, then REJECT (or ACCEPT
//                                            with --allow-host-access)
//   filter FORWARD -i <if>+ -j <p>forward   <p>forward: -i <bridge> -s <ip> -g <p>instance-<id>
//                                            per container, then DROP
//   <p>instance-<id>: net-out ACCEPTs (prepended), same-subnet ACCEPT, -g <p>default
//   <p>default: established ACCEPT, other subnets REJECT, --deny-network REJECTs
//   nat PREROUTING (and OUTPUT -o lo) -j <p>prerouting -> -j <p>instance-<id>: net-in DNATs
//   nat POSTROUTING -j <p>postrouting: -s <ip> ! -d <subnet> MASQUERADE per container
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "garden/net/pool.hpp"

namespace garden::net {

struct FirewallNames {
  std::string prefix = "w--";   // --iptable-prefix
  std::string if_prefix = "w";  // every interface of ours starts with it
  std::string input() const { return prefix + "input"; }
  std::string forward() const { return prefix + "forward"; }
  std::string default_chain() const { return prefix + "default"; }
  std::string prerouting() const { return prefix + "prerouting"; }
  std::string postrouting() const { return prefix + "postrouting"; }
  std::string instance(const std::string& id) const { return prefix + "instance-" + id; }
  std::string log(const std::string& id) const { return instance(id) + "-log"; }
};

struct GlobalRules {
  bool allow_host_access = false;
  std::vector<Cidr> deny_networks;
};

// Start-up batch: (re)creates the global chains; the forward chain and the jumps from the
// built-in chains only when `current` (iptables-save output) lacks them, so the per-container
// rules of a previous run survive a restart.
std::string global_batch(const FirewallNames& n, const GlobalRules& g, const std::string& current);

struct InstanceRules {
  std::string id;      // kawasaki.iptable-inst
  std::string handle;  // LOG prefix
  std::string bridge;
  Cidr subnet;
  uint32_t ip = 0;
};
std::string instance_batch(const FirewallNames& n, const InstanceRules& r);

// Removes every chain named in `chains` and every rule elsewhere that jumps to one of them
// or carries one of them as its comment, as found in `current` (iptables-save output).
// Chains absent from `current` are skipped, so it is safe to run twice.
std::string teardown_batch(const std::string& current, const std::vector<std::string>& chains);
// The chains of `current` whose names start with prefix (for a clean start-up).
std::vector<std::string> chains_with_prefix(const std::string& current, const std::string& prefix);

std::string netin_batch(const FirewallNames& n, const std::string& id, uint32_t external_ip,
                        uint32_t host_port, uint32_t container_ip, uint32_t container_port);

// Garden NetOutRules -> one batch of ACCEPTs prepended to the instance chain. The whole list
// is validated first: err names the rule index and the field.
std::string netout_batch(const FirewallNames& n, const std::string& id, const nlohmann::json& rules,
                         std::string& err);

// iptables-restore --noflush --wait < batch; "" or the error.
std::string apply(const std::string& batch);
// iptables-save output ("" and err set on failure).
std::string save(std::string& err);

}  // namespace garden::net
