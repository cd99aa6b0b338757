#include "garden/image/pea.hpp"

#include <regex>

#include "garden/bundle/bundle.hpp"
#include "garden/image/plugin.hpp"
#include "garden/rootfs/rootfs_layer.hpp"
#include "garden/runtime/runtime.hpp"

namespace garden::image {

using json = nlohmann::json;

bool is_pea(const json& spec) {
  if (!spec.is_object() || !spec.contains("image") || !spec["image"].is_object()) return false;
  for (const char* k : {"uri", "username", "password"})
    if (spec["image"].contains(k) && spec["image"][k].is_string() &&
        !spec["image"][k].get<std::string>().empty())
      return true;
  return false;
}

bool valid_pea_id(const std::string& id) {
  static const std::regex re("^[A-Za-z0-9_+.-]{1,128}$");
  return std::regex_match(id, re) && id != "." && id != "..";
}

json pea_config(const json& pspec, const PeaParams& pp, const User& u, std::string& err) {
  // The bundle builder's container, with the process's own limits and bind mounts.
  json cspec = {{"privileged", pp.privileged}, {"limits", json::object()}};
  if (pspec.contains("limits") && pspec["limits"].is_object())
    for (const char* k : {"cpu_limits", "memory_limits"})
      if (pspec["limits"].contains(k)) cspec["limits"][k] = pspec["limits"][k];
  if (pspec.contains("bind_mounts")) cspec["bind_mounts"] = pspec["bind_mounts"];
  BundleParams bp;
  bp.handle = pp.handle;
  bp.rootfs = pp.rootfs;
  bp.init_path = pp.init_path;
  bp.hosts_file = pp.hosts_file;
  bp.resolv_file = pp.resolv_file;
  bp.cgroup_parent = pp.cgroup_parent;
  bp.apparmor_profile = pp.apparmor_profile;
  bp.image_env = pp.image_env;
  bp.image_mounts = pp.image_mounts;
  json config = build_config(cspec, bp, err);
  if (!err.empty()) return nullptr;
  // Shared namespaces are joined through the container's init; the mount namespace is new.
  std::string ns = "/proc/" + std::to_string(pp.init_pid) + "/ns/";
  json nss = json::array({{{"type", "mount"}},
                          {{"type", "network"}, {"path", ns + "net"}},
                          {{"type", "ipc"}, {"path", ns + "ipc"}},
                          {{"type", "pid"}, {"path", ns + "pid"}},
                          {{"type", "uts"}, {"path", ns + "uts"}}});
  if (!pp.privileged) nss.push_back({{"type", "user"}, {"path", ns + "user"}});
  json& lx = config["linux"];
  lx["namespaces"] = nss;
  // A joined user namespace keeps the container's uid/gid mappings in the bundle: runc
  // refuses a user namespace without them (and checks they are the namespace's own).
  lx["cgroupsPath"] = pea_cgroups_path(pp, overrides_container_limits(pspec));
  config.erase("hostname");  // the container's uts namespace keeps its own
  config["annotations"]["garden.pea"] = pp.id;
  // The process: the image's environment (and PATH) first, then the spec's; dir "/".
  json meta = {{"env", config["process"]["env"]},
               {"privileged", pp.privileged},
               {"apparmor_profile", pp.apparmor_profile}};
  json ps = pspec;
  if (ps.value("dir", "").empty()) ps["dir"] = "/";
  config["process"] = build_process(ps, meta, u);
  return config;
}

std::string peas_cgroup_dir_name(const std::string& handle) {
  return "peas@" + handle;
}

bool overrides_container_limits(const json& pspec) {
  return pspec.contains("limits") && pspec["limits"].is_object();
}

std::string pea_cgroups_path(const PeaParams& pp, bool override_limits) {
  if (override_limits)
    return pp.cgroup_parent + "/" + peas_cgroup_dir_name(pp.handle) + "/" + pp.id;
  return pp.cgroup_parent + "/" + pp.handle + "/pea-" + pp.id;
}

json pea_record(const std::string& runtime_root, const std::string& id,
                const std::vector<std::vector<std::string>>& plugin_deletes,
                const std::vector<std::string>& unmounts) {
  return {{"runtime_root", runtime_root},
          {"id", id},
          {"plugin_delete", plugin_deletes},
          {"unmount", unmounts}};
}

}  // namespace garden::image
