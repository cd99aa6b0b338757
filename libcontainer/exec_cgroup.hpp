// `exec --cgroup`: run the new process in an existing sub-cgroup of the container, as
// runc 1.1.5 does.
//
//   --cgroup PATH                 one PATH for every hierarchy (all v1 controllers, the hybrid
//                                 unified one too; the only form on cgroup v2)
//   --cgroup CTRL[,CTRL...]:PATH  per v1 controller (repeatable); the other hierarchies keep
//                                 the container's cgroup
//
// PATH is relative to the container's cgroup in each hierarchy (a leading '/' too); it must
// stay inside it after lexical cleaning (`..` escapes are refused, also into a sibling that
// shares the name's prefix, which runc 1.1.5 lets through) and must exist: crunner never
// creates it.
#pragma once

#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/error.hpp"

namespace crunner {

// Controller -> sub path; the key "" stands for every hierarchy. Errors as runc's:
// "invalid --cgroup argument: a:b:c", "... (missing <controller>: prefix)",
// "... (empty <controller> prefix)", "controller X specified multiple times".
Result<std::map<std::string, std::string>> parse_sub_cgroups(const std::vector<std::string>& args);

// Where the process goes, from the container's saved cgroup state (Manager::to_json()).
struct SubCgroupTargets {
  std::vector<std::string> v1_dirs;  // cgroup.procs writes after clone (deduplicated)
  std::string unified_dir;           // cgroup2 directory (clone3 CLONE_INTO_CGROUP); "" none
  std::string unified_mount;         // where that hierarchy is mounted (hybrid: root/unified)
};

// Resolves `subs` against the saved state; every directory is checked to exist. The
// hierarchies not named keep the container's own cgroup (so they are in the result too).
Result<SubCgroupTargets> resolve_sub_cgroups(const nlohmann::json& saved,
                                             const std::map<std::string, std::string>& subs);

}  // namespace crunner
