// garden-shim's command line (CLI11) and Guardian's INI config file (--config FILE).
//
// The flags keep Guardian's `gdn server` names; `--config FILE` reads Guardian's config as
// `gdn --config FILE server` does (go-flags' INI parser): one `[server]` section whose keys
// are the flags' long names (`depot = /var/vcap/data/garden/depot`), a key repeated for a
// repeatable flag, `true`/`false` for the switches, `;` or `#` comment lines. A flag given
// on the command line wins over the file's key. A key that is no flag of garden-shim is
// refused, naming the key and the file; the Guardian keys that name Guardian's own helper
// binaries or state files are accepted with a warning (kNoEffect in flags.cpp says why).
#pragma once

#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "garden/api/server.hpp"
#include "garden/debug/debug_server.hpp"
#include "garden/http/http_server.hpp"

namespace garden::cli {

struct Options {
  Config cfg;  // set cfg.runtime / cfg.bin_dir before parse(): the defaults
  ListenConfig listen;
  DebugServerConfig debug;
  std::optional<std::string> apparmor;  // --apparmor, nullopt when not given
  std::string config_file;              // --config ("" none)
  std::vector<std::string> warnings;    // for start-up: keys accepted with no effect
};

// Parses argv (argv[0] is the program). Returns -1 to go on serving, else the exit code:
// 0 after --help (printed to out), 2 after bad input (one line naming the flag, or the
// key and the file, printed to err).
int parse(int argc, const char* const* argv, Options& o, std::ostream& out, std::ostream& err);

// Go-style durations ("1h2m3.5s", "300ms", "10us", "5ns"; a bare number is seconds).
bool parse_duration(const std::string& s, long long& ns);

}  // namespace garden::cli
