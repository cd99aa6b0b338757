// Guardian's debug server (guardiancmd: --debug-bind-ip, --debug-bind-port; metrics/debug.go):
// GET /debug/vars answers Go's expvar JSON, with Guardian's published variables numCPUS,
// numGoRoutines (our threads), loopDevices, backingStores and depotDirs next to expvar's own
// cmdline and memstats. Go's pprof pages (/debug/pprof/...) and debugserver's /log-level
// have no counterpart here: those paths answer 404.
#pragma once

#include <string>
#include <vector>

namespace garden {

struct DebugServerConfig {
  std::string bind_ip;    // empty: no debug server (Guardian starts it only when set)
  int bind_port = 17013;  // Guardian's default
  std::string depot;      // the depot whose containers are counted
  std::vector<std::string> cmdline;
};

// The expvar JSON document, as Go prints it: keys sorted, one per line.
std::string debug_vars_json(const DebugServerConfig& cfg);

// Starts the server on its own threads; returns once it listens, or an error text.
std::string start_debug_server(const DebugServerConfig& cfg);

}  // namespace garden
