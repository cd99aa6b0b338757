// The crunner command line: global options, the command table, and the
// helpers every command uses (error reporting, logging).
#pragma once

#include <functional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "base/error.hpp"
#include "libcontainer/state.hpp"

namespace crunner::cli {

struct Globals {
  std::string root = "/run/crunner";
  std::string log;
  std::string log_format = "text";
  bool debug = false;
  bool systemd_cgroup = false;
  std::string rootless = "auto";
  bool rootless_cgroups = false;  // --rootless resolved after parsing (runc's rule for auto)
  std::string criu = "criu";
  // When set, only this command is registered (main() found it in argv): building the
  // whole command table cost ~0.8 ms of every start.
  std::string only;

  StateStore store() const { return StateStore(root); }
};

// runc's default --root: $XDG_RUNTIME_DIR/crunner when not running as real root (euid != 0,
// or in a user namespace as a USER other than root), else /run/crunner.
std::string default_root();

// What a command does once parsing succeeded; returns the exit code.
using Handler = std::function<int()>;

// Every command registers itself on `app`, storing its handler in `*out` when
// it is the one selected.
void register_lifecycle(CLI::App& app, Globals& g, Handler* out);   // create start run delete kill
void register_info(CLI::App& app, Globals& g, Handler* out);        // state list spec features
void register_exec(CLI::App& app, Globals& g, Handler* out);        // exec
void register_cgroups(CLI::App& app, Globals& g, Handler* out);     // pause resume ps events update
void register_check(CLI::App& app, Globals& g, Handler* out);       // check
void register_checkpoint(CLI::App& app, Globals& g, Handler* out);  // checkpoint restore

// Prints the error once: text on stderr, and a line in --log (JSON with
// --log-format json). Returns 1.
int report(const Globals& g, const Error& e);
// Debug line in the log (stderr without --log) when --debug.
void debug(const Globals& g, const std::string& msg);
// --debug: reports each phase (libcontainer/phase.hpp) as a debug line; the
// first phase starts at t0_ns.
void enable_phases(const Globals& g, long long t0_ns);

// Adds the command `name`, or returns nullptr when main() registers only another one (see
// Globals::only).
CLI::App* add_command(CLI::App& app, const Globals& g, const std::string& name,
                      const std::string& description);
// Makes `run` the handler main() calls when the parser selects `cmd`.
void on_run(CLI::App* cmd, Handler* out, Handler run);

// Adds the positional "container-id" plus optional trailing arguments.
CLI::Option* add_id(CLI::App* cmd, std::string* id);

}  // namespace crunner::cli
