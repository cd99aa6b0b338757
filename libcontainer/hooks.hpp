// OCI hooks: run one hook binary with the container state on stdin.
#pragma once

#include <string>
#include <vector>

#include "base/error.hpp"
#include "libcontainer/spec.hpp"

namespace crunner {

// Runs hook `h` (named `what`, e.g. "prestart[0]" in errors) with `state` on
// stdin; waits up to its timeout. Fails when it cannot start, exits non-zero,
// is killed or times out; the error carries the hook's output.
Status run_hook(const spec::Hook& h, const std::string& state, const std::string& what);
// What run_hook does, for any program (h.path absolute, h.env its whole environment): errors
// begin with `ctx`.
Status run_program(const spec::Hook& h, const std::string& input, const std::string& ctx);
// Runs every hook of a kind in order; stops at the first failure.
Status run_hooks(const std::vector<spec::Hook>& hooks, const std::string& kind,
                 const std::string& state);
// Runs every hook of a kind; failures are warnings on stderr (poststart, poststop).
void run_hooks_warn(const std::vector<spec::Hook>& hooks, const std::string& kind,
                    const std::string& state);

}  // namespace crunner
