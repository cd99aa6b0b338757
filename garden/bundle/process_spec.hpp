// The OCI process of a Garden ProcessSpec: user resolution inside the container's rootfs,
// env, working directory, capabilities, rlimits, tty size.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace garden {

struct User {
  std::string name;
  long long uid = 0, gid = 0;
  std::string home = "/";
  std::vector<long long> sgids;  // supplementary groups (/etc/group members)
};

// Reads a file of the container's rootfs (rel is relative), resolving inside it.
std::string read_in_root(const std::string& rootfs, const char* rel);
// Resolves "", "name", "uid", "uid:gid" or "name:group" against the container's files.
bool resolve_user(const std::string& rootfs, const std::string& spec, User& u, std::string& err);
// process.json for `runtime exec --process`; meta is the container's meta.json (its
// "apparmor_profile", set for unprivileged containers created under one, becomes the
// process's, so every process runs under the profile its container's init has).
nlohmann::json build_process(const nlohmann::json& spec, const nlohmann::json& meta, const User& u);

}  // namespace garden
