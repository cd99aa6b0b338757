// The config.json `crunner spec` writes: runc's default (terminal true,
// args ["sh"], hostname "runc", a cgroup namespace only on cgroup v2 hosts), plus a default
// seccomp profile (runc writes none; see docs/DESIGN.md); --rootless maps the caller's
// uid/gid in a user namespace like runc's.
#pragma once

#include <nlohmann/json.hpp>

namespace crunner {

nlohmann::ordered_json default_spec(bool rootless);

}  // namespace crunner
