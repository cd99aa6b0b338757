// The config.json `crunner spec` writes: runc 1.1.5's default, field for field (ociVersion
// 1.0.2-dev, terminal true, args ["sh"], hostname "runc", a cgroup namespace only on cgroup v2
// hosts, no seccomp); --rootless maps the caller's uid/gid in a user namespace like runc's.
// with_seccomp (`spec --seccomp`, crunner's own flag) adds crunner's default allowlist profile.
#pragma once

#include <nlohmann/json.hpp>

namespace crunner {

nlohmann::ordered_json default_spec(bool rootless, bool with_seccomp = false);

}  // namespace crunner
