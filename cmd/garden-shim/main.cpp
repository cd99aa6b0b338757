// garden-shim: the Cloud Foundry Garden HTTP API over an OCI runtime CLI. Flags follow
// Guardian's `gdn server` (garden/cli/flags.cpp), --config reads Guardian's INI config.
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

#include "base/file.hpp"
#include "garden/api/decode.hpp"
#include "garden/api/server.hpp"
#include "garden/apparmor/profile.hpp"
#include "garden/cli/flags.hpp"
#include "garden/debug/debug_server.hpp"
#include "garden/http/http_server.hpp"

namespace {

std::string self_dir() {
  char buf[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return ".";
  buf[n] = 0;
  std::string p(buf);
  return p.substr(0, p.rfind('/'));
}

}  // namespace

int main(int argc, char** argv) {
  signal(SIGPIPE, SIG_IGN);
  garden::cli::Options opts;
  opts.cfg.bin_dir = self_dir();
  opts.cfg.runtime = opts.cfg.bin_dir + "/../crunner/crunner";
  if (!crunner::path_exists(opts.cfg.runtime)) opts.cfg.runtime = opts.cfg.bin_dir + "/crunner";
  if (int rc = garden::cli::parse(argc, argv, opts, std::cout, std::cerr); rc >= 0) return rc;
  garden::Config& cfg = opts.cfg;
  garden::ListenConfig& lc = opts.listen;
  garden::DebugServerConfig& dbg = opts.debug;
  const std::optional<std::string>& apparmor = opts.apparmor;
  if (cfg.log_level != "error")
    for (auto& w : opts.warnings) std::cerr << "garden-shim: " << w << "\n";
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
