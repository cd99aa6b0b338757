// garden-shim: the Cloud Foundry Garden HTTP API over an OCI runtime CLI. Flags follow
// Guardian's `gdn server`.
#include <limits.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <optional>
#include <string>
#include <thread>

#include "garden/api/decode.hpp"
#include "garden/api/server.hpp"
#include "garden/apparmor/profile.hpp"
#include "garden/debug/debug_server.hpp"
#include "garden/http/http_server.hpp"
#include "libcontainer/utils.hpp"

namespace {

// Go-style durations: "1h2m3.5s", "300ms", "10us", "5ns"; a bare number is seconds.
bool parse_duration(const std::string& s, long long& ns) {
  if (s.empty()) return false;
  long long v = 0;
  if (crunner::parse_i64(s, v)) {
    ns = v * 1000000000LL;
    return true;
  }
  double total = 0;
  size_t i = 0;
  while (i < s.size()) {
    size_t j = i;
    while (j < s.size() && (isdigit(static_cast<unsigned char>(s[j])) || s[j] == '.')) ++j;
    if (j == i) return false;
    double num = std::stod(s.substr(i, j - i));
    size_t k = j;
    while (k < s.size() && isalpha(static_cast<unsigned char>(s[k]))) ++k;
    std::string unit = s.substr(j, k - j);
    double mul = 0;
    if (unit == "ns")
      mul = 1;
    else if (unit == "us" || unit == "µs")
      mul = 1e3;
    else if (unit == "ms")
      mul = 1e6;
    else if (unit == "s")
      mul = 1e9;
    else if (unit == "m")
      mul = 60e9;
    else if (unit == "h")
      mul = 3600e9;
    else
      return false;
    total += num * mul;
    i = k;
  }
  ns = static_cast<long long>(total);
  return true;
}

std::string self_dir() {
  char buf[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return ".";
  buf[n] = 0;
  std::string p(buf);
  return p.substr(0, p.rfind('/'));
}

void usage() {
  std::cout << "usage: garden-shim [flags]\n"
               "  --bind-ip IP              (default 127.0.0.1)\n"
               "  --bind-port PORT          (default 7777)\n"
               "  --bind-socket PATH        listen on a unix socket instead\n"
               "  --depot DIR               containers, bundles and process state\n"
               "  --runtime-plugin PATH     the OCI runtime (default: crunner beside us)\n"
               "  --default-rootfs DIR      rootfs of containers that name none\n"
               "  --default-grace-time DUR  e.g. 5m (default 0: never expire)\n"
               "  --max-containers N        (default 1024)\n"
               "  --cgroup-parent NAME      cgroupsPath prefix (default garden)\n"
               "  --stop-timeout DUR        SIGTERM -> SIGKILL on stop (default 10s)\n"
               "  --max-connections N       connections served at once; more get 503\n"
               "                            (default 4096)\n"
               "  --header-timeout DUR      a request header must arrive within DUR; a\n"
               "                            partial one gets 408 (default 60s)\n"
               "  --send-timeout DUR        a client that takes none of a response for DUR\n"
               "                            is dropped (default 60s)\n"
               "  --log-level LEVEL         debug|info|error\n"
               "  --image-plugin PATH       builds unprivileged containers' (and peas') rootfs\n"
               "                            from their image URI (GrootFS's CLI); raw:///dir\n"
               "                            and, without a plugin, every rootfs stay built in\n"
               "  --image-plugin-extra-arg ARG             before the command (repeatable)\n"
               "  --privileged-image-plugin PATH           the same for privileged containers\n"
               "  --privileged-image-plugin-extra-arg ARG  (repeatable)\n"
               "  --debug-bind-ip IP        serve expvar JSON at /debug/vars (default: off)\n"
               "  --debug-bind-port PORT    (default 17013)\n"
               "  --apparmor PROFILE        AppArmor profile of unprivileged containers'\n"
               "                            processes (default: garden-default, shipped\n"
               "                            with garden-shim and loaded at start-up where\n"
               "                            the host has AppArmor; another name must be\n"
               "                            loaded already; \"\" for none)\n"
               "networking (Guardian's kawasaki; details in garden/net/README.md):\n"
               "  --disable-networking      containers get a loopback only\n"
               "  --network-pool CIDR       (default 10.254.0.0/22, a /30 per container)\n"
               "  --mtu N                   (default: the external interface's, at most 1500)\n"
               "  --external-ip IP          net-in address (default: the default route's)\n"
               "  --port-pool-start N       (default 61001)\n"
               "  --port-pool-size N        (default 4534)\n"
               "  --iptable-prefix P        (default w--)\n"
               "  --network-interface-prefix P  (default w)\n"
               "  --deny-network CIDR       repeatable\n"
               "  --allow-host-access       containers may reach the host\n"
               "  --dns-server IP           repeatable (default: the host's resolv.conf)\n"
               "  --additional-dns-server IP  repeatable\n"
               "  --additional-host-entry LINE  repeatable, appended to /etc/hosts\n"
               "  --destroy-containers-on-startup\n"
               "  --network-plugin PATH     external networker (Guardian's up/down contract)\n"
               "  --network-plugin-extra-arg ARG  repeatable, passed before --action\n";
}

}  // namespace

int main(int argc, char** argv) {
  signal(SIGPIPE, SIG_IGN);
  garden::Config cfg;
  garden::ListenConfig lc;
  garden::DebugServerConfig dbg;
  std::optional<std::string> apparmor;  // --apparmor, nullopt when not given
  for (int i = 0; i < argc; ++i) dbg.cmdline.push_back(argv[i]);
  cfg.bin_dir = self_dir();
  cfg.runtime = cfg.bin_dir + "/../crunner/crunner";
  if (!crunner::path_exists(cfg.runtime)) cfg.runtime = cfg.bin_dir + "/crunner";
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i], val;
    if (a == "-h" || a == "--help") {
      usage();
      return 0;
    }
    if (a.rfind("--", 0) != 0) {
      std::cerr << "garden-shim: unexpected argument `" << a << "`\n";
      return 2;
    }
    if (a == "--allow-host-access") {
      cfg.net.allow_host_access = true;
      continue;
    }
    if (a == "--destroy-containers-on-startup") {
      cfg.net.destroy_on_startup = true;
      continue;
    }
    if (a == "--disable-networking") {
      cfg.net.enabled = false;
      continue;
    }
    auto eq = a.find('=');
    if (eq != std::string::npos) {
      val = a.substr(eq + 1);
      a = a.substr(0, eq);
    } else if (i + 1 < argc) {
      val = argv[++i];
    } else {
      std::cerr << "garden-shim: flag " << a << " needs a value\n";
      return 2;
    }
    long long n = 0;
    if (a == "--bind-ip")
      lc.bind_ip = val;
    else if (a == "--bind-port" && crunner::parse_i64(val, n) && n >= 0 && n < 65536)
      lc.bind_port = static_cast<int>(n);
    else if (a == "--bind-socket")
      lc.bind_socket = val;
    else if (a == "--depot")
      cfg.depot = val;
    else if (a == "--runtime-plugin")
      cfg.runtime = val;
    else if (a == "--default-rootfs")
      cfg.default_rootfs = val;
    else if (a == "--default-grace-time" && parse_duration(val, n))
      cfg.default_grace_ns = n;
    else if (a == "--stop-timeout" && parse_duration(val, n))
      cfg.stop_timeout_ms = n / 1000000;
    else if (a == "--max-containers" && crunner::parse_i64(val, n) && n > 0)
      cfg.max_containers = static_cast<int>(n);
    else if (a == "--max-connections" && crunner::parse_i64(val, n) && n > 0 && n <= 1000000)
      lc.max_connections = static_cast<int>(n);
    else if (a == "--header-timeout" && parse_duration(val, n) && n >= 1000000)
      lc.header_timeout_ms = n / 1000000;
    else if (a == "--send-timeout" && parse_duration(val, n) && n >= 1000000)
      lc.send_timeout_ms = n / 1000000;
    else if (a == "--cgroup-parent")
      cfg.cgroup_parent = val;
    else if (a == "--debug-bind-ip" && !val.empty())
      dbg.bind_ip = val;
    else if (a == "--debug-bind-port" && crunner::parse_i64(val, n) && n >= 0 && n < 65536)
      dbg.bind_port = static_cast<int>(n);
    else if (a == "--apparmor")
      apparmor = val;
    else if (a == "--log-level")
      cfg.log_level = val;
    else if (a == "--image-plugin")
      cfg.image_plugins.unprivileged.path = val;
    else if (a == "--image-plugin-extra-arg")
      cfg.image_plugins.unprivileged.extra_args.push_back(val);
    else if (a == "--privileged-image-plugin")
      cfg.image_plugins.privileged.path = val;
    else if (a == "--privileged-image-plugin-extra-arg")
      cfg.image_plugins.privileged.extra_args.push_back(val);
    else if (a == "--network-pool")
      cfg.net.pool = val;
    else if (a == "--mtu" && crunner::parse_i64(val, n) && n > 0 && n < 65536)
      cfg.net.mtu = static_cast<int>(n);
    else if (a == "--external-ip")
      cfg.net.external_ip = val;
    else if (a == "--port-pool-start" && crunner::parse_i64(val, n) && n > 0 && n < 65536)
      cfg.net.port_pool_start = static_cast<uint32_t>(n);
    else if (a == "--port-pool-size" && crunner::parse_i64(val, n) && n > 0 && n < 65536)
      cfg.net.port_pool_size = static_cast<uint32_t>(n);
    else if (a == "--iptable-prefix")
      cfg.net.iptable_prefix = val;
    else if (a == "--network-interface-prefix")
      cfg.net.interface_prefix = val;
    else if (a == "--deny-network")
      cfg.net.deny_networks.push_back(val);
    else if (a == "--dns-server")
      cfg.net.dns_servers.push_back(val);
    else if (a == "--additional-dns-server")
      cfg.net.additional_dns.push_back(val);
    else if (a == "--additional-host-entry")
      cfg.net.additional_hosts.push_back(val);
    else if (a == "--network-plugin")
      cfg.net.plugin = val;
    else if (a == "--network-plugin-extra-arg")
      cfg.net.plugin_args.push_back(val);
    else {
      std::cerr << "garden-shim: invalid flag or value: " << a << " " << val << "\n";
      return 2;
    }
  }
  for (auto* p : {&cfg.image_plugins.unprivileged, &cfg.image_plugins.privileged})
    if (p->configured() && access(p->path.c_str(), X_OK) < 0) {
      std::cerr << "garden-shim: image plugin `" << p->path << "`: " << strerror(errno) << "\n";
      return 2;
    }
  if (auto e = garden::net::validate(cfg.net); !e.empty() && cfg.net.enabled) {
    std::cerr << "garden-shim: " << e << "\n";
    return 2;
  }
  garden::apparmor::Choice aa;
  if (auto e = garden::apparmor::choose_profile(apparmor, aa); !e.empty()) {
    std::cerr << "garden-shim: " << e << "\n";
    return 2;
  }
  cfg.apparmor_profile = aa.profile;
  if (!aa.note.empty() && cfg.log_level != "error") std::cerr << "garden-shim: " << aa.note << "\n";
  garden::Server server(cfg);
  if (!dbg.bind_ip.empty()) {
    dbg.depot = cfg.depot;
    std::string derr = garden::start_debug_server(dbg);
    if (!derr.empty()) {
      std::cerr << "garden-shim: " << derr << "\n";
      return 1;
    }
  }
  std::string err = server.load();
  if (!err.empty()) {
    std::cerr << "garden-shim: load depot: " << err << "\n";
    return 1;
  }
  std::thread([&server] {
    for (;;) {
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      try {
        server.reap_expired();
      } catch (const std::exception& e) {
        std::cerr << "garden-shim: grace-time reaper: " << e.what() << "\n";
      }
    }
  }).detach();
  err = garden::serve(
      lc, [&server](garden::Request& r) { return server.handle(r); }, garden::streams_body,
      [&] {
        if (cfg.log_level != "error")
          std::cerr << "garden-shim: listening on "
                    << (lc.bind_socket.empty() ? lc.bind_ip + ":" + std::to_string(lc.bind_port)
                                               : lc.bind_socket)
                    << " (runtime " << cfg.runtime << ", depot " << cfg.depot << ")\n";
      });
  std::cerr << "garden-shim: " << err << "\n";
  return 1;
}
