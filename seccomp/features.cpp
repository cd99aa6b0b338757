// The seccomp part of `crunner features`.
#include "seccomp/names.hpp"
#include "seccomp/profile.hpp"
#include "seccomp/seccomp.hpp"

namespace crunner::seccomp {

using json = nlohmann::json;

json features() {
  json supported = json::array();
  for (const std::string& name : names::flag_names()) {
    unsigned f = *names::find_flag(name);
    bool ok = false;
    if (f == kFlagTsync)
      ok = true;  // accepted and ignored (the child is single-threaded)
    else if (f == kFlagWaitKillableRecv)
      ok = kernel_supports_flags(kFlagNewListener | kFlagWaitKillableRecv);
    else
      ok = kernel_supports_flags(f);
    if (ok) supported.push_back(name);
  }
  return json{{"enabled", true},
              {"actions", names::action_names()},
              {"operators", names::operator_names()},
              {"archs", names::arch_names()},
              {"knownFlags", names::flag_names()},
              {"supportedFlags", supported}};
}

}  // namespace crunner::seccomp
