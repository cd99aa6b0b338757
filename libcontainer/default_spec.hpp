// The config.json `crunner spec` writes: runc's default (terminal true,
// args ["sh"]), adjusted so it runs on this kind of host; --rootless maps the
// caller's uid/gid in a user namespace like runc's.
#pragma once

#include <nlohmann/json.hpp>

namespace crunner {

nlohmann::ordered_json default_spec(bool rootless);

}  // namespace crunner
