// Kernel plumbing of the networker: links, addresses and routes through libnl-route-3
// (rtnetlink), traffic control through tc, and small host look-ups.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>

namespace garden::net {

// The absolute path of a program found in PATH (or /usr/sbin, /sbin); "" when missing.
std::string find_program(const std::string& name);

// The interface holding the IPv4 default route of our network namespace, its first IPv4
// address and MTU; err says why there is none.
bool default_route(std::string& ifname, uint32_t& ip, int& mtu, std::string& err);

bool link_exists(const std::string& name);
// Creates the bridge unless it exists, gives it gw/prefix and the MTU, and sets it up.
std::string ensure_bridge(const std::string& name, uint32_t gw, int prefix, int mtu);
// A veth pair: `host` in our namespace (enslaved to bridge, up), `peer` created straight in
// the network namespace of pid. Both get the MTU.
std::string create_veth(const std::string& host, const std::string& peer, int mtu,
                        const std::string& bridge, pid_t pid);
// Inside pid's network namespace: lo up, ifname up with ip/prefix, default route via gw.
std::string configure_container(pid_t pid, const std::string& ifname, uint32_t ip, int prefix,
                                uint32_t gw);
// Deletes a link of our namespace; a missing link is not an error.
std::string delete_link(const std::string& name);
// The number of interfaces enslaved to a bridge (-1 when it does not exist).
int bridge_ports(const std::string& bridge);

// Shapes both directions with tbf (rate in bytes per second, burst in bytes): the host end
// of the veth (traffic to the container) and the container's end inside pid's network
// namespace (traffic from it). Replaces what was there.
std::string set_bandwidth(const std::string& host_if, pid_t pid, const std::string& cont_if,
                          uint64_t rate, uint64_t burst);

}  // namespace garden::net

namespace garden::net {
// Deletes every link of our namespace whose name starts with prefix (clean start-up).
std::string delete_links_with_prefix(const std::string& prefix);
}  // namespace garden::net
