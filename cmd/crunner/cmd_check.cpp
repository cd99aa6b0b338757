// check: diagnoses the host (libcontainer/hostcheck.hpp).
#include <unistd.h>

#include <cstdio>

#include "cmd/crunner/cli.hpp"
#include "libcontainer/hostcheck.hpp"

namespace crunner::cli {

void register_check(CLI::App& app, Globals& g, Handler* out) {
  static bool json = false;
  static std::string host_root = "/";
  if (auto* c =
          add_command(app, g, "check",
                      "diagnose this host for running containers (exit 1 when something required "
                      "is missing)")) {
    c->add_flag("--json", json, "print the findings as JSON");
    c->add_option("--host-root", host_root,
                  "diagnose the host tree below this directory instead of / (its proc, sys, "
                  "etc files)")
        ->capture_default_str();
    on_run(c, out, [&g]() -> int {
      hostcheck::Options o;
      o.root = host_root;
      o.uid = getuid();
      o.criu = g.criu;
      auto findings = hostcheck::run(o);
      bool ok = hostcheck::usable(findings);
      if (json) {
        nlohmann::ordered_json j;
        j["usable"] = ok;
        j["checks"] = nlohmann::ordered_json::array();
        for (auto& f : findings)
          j["checks"].push_back({{"name", f.name},
                                 {"status", hostcheck::status_name(f.status)},
                                 {"required", f.required},
                                 {"detail", f.detail},
                                 {"fix", f.fix}});
        printf("%s\n", j.dump(2).c_str());
      } else {
        for (auto& f : findings) {
          printf("%-4s  %-17s %s\n", hostcheck::status_name(f.status), f.name.c_str(),
                 f.detail.c_str());
          if (!f.fix.empty() && f.status != hostcheck::Status::Ok)
            printf("      %-17s fix: %s\n", "", f.fix.c_str());
        }
        printf("%s\n", ok ? "this host can run containers"
                          : "this host cannot run containers: see the failed checks above");
      }
      return ok ? 0 : 1;
    });
  }
}

}  // namespace crunner::cli
