// Processes with their own image ("peas", see garden/image/pea.hpp): the rootfs from the
// image plugin, a bundle in the process directory run by garden-dadoo with `runtime run`
// under the container's own runtime root for peas (<container>/peas), clean-up recorded in
// pea.json.
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

#include "base/file.hpp"
#include "garden/api/server.hpp"
#include "garden/bundle/bundle.hpp"
#include "garden/image/disk_share.hpp"
#include "garden/image/pea.hpp"
#include "garden/rootfs/rootfs_layer.hpp"

namespace garden {

namespace {

// A pea of a container with a disk limit writes under that limit: its image's overlay dirs
// join the project quota of the container's image (garden/image/disk_share.hpp). Nothing
// to do for a container without a limit, or one whose image is no overlay we can see (a
// plugin that enforces its limit otherwise).
std::string share_disk_limit(const Container& c, const json& meta, const std::string& pea_rootfs,
                             const json& pea_mounts) {
  if (!meta.contains("image_plugin")) return "";
  std::string err;
  json limits = meta.value("limits", json::object());
  DiskLimits dl =
      parse_disk_limits(limits.is_object() ? limits.value("disk_limits", json()) : json(), err);
  if (!err.empty() || dl.byte_hard == 0) return "";
  json cmounts = json::array();
  if (auto text = crunner::read_file(c.dir + "/config.json"); text) {
    json cfg = json::parse(*text, nullptr, false);
    if (cfg.is_object() && cfg.contains("mounts")) cmounts = cfg["mounts"];
  }
  image::OverlayDirs ctr, pea;
  if (!image::overlay_dirs(meta.value("rootfs", ""), cmounts, ctr)) return "";
  if (!image::overlay_dirs(pea_rootfs, pea_mounts, pea))
    return "the pea's image is no overlay: it cannot share its container's disk limit";
  return image::share_disk_quota(ctr, pea);
}

}  // namespace

std::string Server::prepare_pea(Container& c, const json& spec, const json& meta, Process& p,
                                json& pj, User& u) {
  bool privileged = meta.value("privileged", false);
  std::string err;
  std::string uri = image::spec_image_uri({{"image", spec["image"]}}, err);
  if (!err.empty()) return err;
  if (uri.empty()) uri = cfg_.default_rootfs;  // Guardian's plugin falls back to its default
  int init_pid = 0;
  std::string st = runtime_.status(c.handle, &init_pid);
  if (st != "running" || init_pid <= 0) return "container init is not running";

  image::PeaParams pp;
  pp.handle = c.handle;
  pp.id = p.id;
  pp.init_pid = init_pid;
  pp.privileged = privileged;
  pp.apparmor_profile = meta.value("apparmor_profile", "");
  pp.init_path = cfg_.bin_dir + "/garden-init";
  pp.hosts_file = c.dir + "/hosts";
  pp.resolv_file = c.dir + "/resolv.conf";
  pp.cgroup_parent = cfg_.cgroup_parent;
  std::vector<std::vector<std::string>> deletes;
  std::vector<std::string> unmounts;
  std::string raw;
  bool builtin = image::is_raw(uri, &raw);
  if (!builtin && !cfg_.image_plugins.any()) {
    if (uri.find("://") != std::string::npos) {
      cfg_.image_plugins.for_container(privileged, err);
      return "creating-volume: " + err;
    }
    raw = uri;  // a directory (--default-rootfs) without a plugin: the built-in path
    builtin = true;
  }
  if (builtin) {
    struct stat sb;
    if (raw.empty() || raw[0] != '/' || stat(raw.c_str(), &sb) < 0 || !S_ISDIR(sb.st_mode))
      return "creating-volume: rootfs `" + raw + "` is not a directory";
    // As for containers, the image directory is only ever a lower layer: the pea's writes
    // (the runtime's mount points and device nodes included) go to an overlay of its own,
    // <process dir>/rootfs, unmounted by the clean-up.
    Layer layer;
    if (auto e = create_layer(p.dir, raw, DiskLimits{}, layer, privileged); !e.empty())
      return "creating-volume: " + e;
    pp.rootfs = layer.merged;
    unmounts.push_back(layer.merged);
  } else {
    const image::Plugin* plugin = cfg_.image_plugins.for_container(privileged, err);
    if (!plugin) return "creating-volume: " + err;
    image::ImageSpec is;
    if (!cfg_.image_plugins.create(
            *plugin, image::create_request(spec, uri, p.id, privileged, 0, false), is, err))
      return "creating-volume: " + err;
    for (const image::Plugin* q :
         {&cfg_.image_plugins.unprivileged, &cfg_.image_plugins.privileged})
      if (q->configured()) deletes.push_back(image::delete_argv(*q, p.id));
    pp.rootfs = is.root_path;
    pp.image_env = is.env;
    pp.image_mounts = is.mounts;
  }
  // From here on the clean-up is recorded: whatever fails next undoes the image.
  std::string rt_root = c.dir + "/peas";
  if (auto r = crunner::write_file_atomic(
          p.dir + "/pea.json", image::pea_record(rt_root, p.id, deletes, unmounts).dump());
      !r)
    return r.error().what();
  if (auto r = crunner::mkdir_p(rt_root, 0711); !r) return r.error().what();
  if (!builtin) {
    if (auto e = share_disk_limit(c, meta, pp.rootfs, pp.image_mounts); !e.empty())
      return "creating-volume: " + e;
  }
  if (!resolve_user(pp.rootfs, spec.value("user", ""), u, err)) return err;
  json config = image::pea_config(spec, pp, u, err);
  if (!err.empty()) return err;
  uid_t root_id = privileged ? 0 : static_cast<uid_t>(host_id(0, false));
  err = prepare_mountpoints(pp.rootfs, config, root_id, root_id);
  if (!err.empty()) return "prepare rootfs: " + err;
  if (auto r = crunner::write_file_atomic(p.dir + "/config.json", config.dump(2)); !r)
    return r.error().what();
  pj = config["process"];
  return "";
}

void Server::cleanup_peas(Container& c) {
  std::error_code ec;
  for (auto& e : std::filesystem::directory_iterator(c.dir + "/processes", ec))
    image::cleanup_pea(e.path().string(), runtime_.bin());
  // The peas that overrode the container's limits had cgroups beside the container's
  // (image::pea_cgroups_path); the runtime removed each, their directory is ours, in every
  // hierarchy the container had a cgroup in.
  json dirs;
  {
    std::lock_guard<std::mutex> lk(c.mu);
    dirs = c.meta.value("cgroup_dirs", json::array());
    if (dirs.empty() && !c.meta.value("memory_cgroup", "").empty())
      dirs.push_back(c.meta["memory_cgroup"]);  // recorded by an older garden-shim
  }
  for (const json& d : dirs) {
    if (!d.is_string()) continue;
    const std::string dir = d.get<std::string>();
    rmdir((dir.substr(0, dir.rfind('/') + 1) + image::peas_cgroup_dir_name(c.handle)).c_str());
  }
}

}  // namespace garden
