// crunner-image: the GrootFS role as a standalone CLI. Commands, flags and stdout follow
// GrootFS (what Guardian's image plugin runs and parses):
//
//   crunner-image [--store DIR] [--config FILE] [--log-level L] init-store [--store-size-bytes N]
//                 [--uid-mapping C:H:S]... [--gid-mapping C:H:S]...
//   crunner-image ... create [--disk-limit-size-bytes N] [--exclude-image-from-quota]
//                 [--uid-mapping ..] [--gid-mapping ..] [--username U --password P]
//                 [--insecure-registry HOST]... [--registry-mirror URL]
//                 [--with-mount|--without-mount] IMAGE ID
//   crunner-image ... delete ID | stats ID | list | clean [--threshold-bytes N] | delete-store
#include <unistd.h>
#include <CLI/CLI.hpp>

#include <cstdio>
#include <iostream>

#include "image/config.hpp"
#include "image/log.hpp"
#include "image/store.hpp"
#include "output.hpp"

using namespace crunner;
using namespace crunner::image;

namespace {

int fail(const Error& e) {
  std::string msg = e.what();
  // Guardian shows the plugin's stdout in the error it returns, GrootFS-style; the log
  // (stderr) gets it too.
  std::cout << msg << std::endl;
  std::cerr << msg << std::endl;
  return 1;
}

Result<IdMap> parse_maps(const std::vector<std::string>& u, const std::vector<std::string>& g) {
  IdMap m;
  for (const auto& s : u) {
    CR_ASSIGN(IdRange r, parse_id_range(s));
    m.uids.push_back(r);
  }
  for (const auto& s : g) {
    CR_ASSIGN(IdRange r, parse_id_range(s));
    m.gids.push_back(r);
  }
  if (m.uids.empty() != m.gids.empty())
    return invalid_spec("give both --uid-mapping and --gid-mapping, or neither");
  return m;
}

bool valid_store_path(const std::string& p) {
  return !p.empty() && p[0] == '/' && p.find_first_of(",:\\\n") == std::string::npos &&
         p.size() < 1024;
}

}  // namespace

int run(int argc, char** argv) {
  CLI::App app{"crunner-image: container images and layered root filesystems (GrootFS's CLI)",
               "crunner-image"};
  app.require_subcommand(1);
  std::string store_path, config_path, log_level;
  app.add_option("--store", store_path, "store directory (default /var/lib/crunner-image)");
  app.add_option("--config", config_path, "GrootFS-style YAML config file");
  app.add_option("--log-level", log_level, "debug, info, error or fatal");
  app.set_version_flag("--version,-v", std::string("crunner-image version ") + CRUNNER_VERSION);

  auto* init = app.add_subcommand("init-store", "initialize a store");
  uint64_t store_size = 0;
  std::vector<std::string> init_uid, init_gid;
  init->add_option("--store-size-bytes", store_size,
                   "make the store a loop-mounted XFS file of this size");
  init->add_option("--uid-mapping", init_uid, "containerID:hostID:size")->take_all();
  init->add_option("--gid-mapping", init_gid, "containerID:hostID:size")->take_all();

  auto* create = app.add_subcommand("create", "create a root filesystem for IMAGE as ID");
  int64_t disk_limit = -1;
  bool exclude = false, with_mount = false, without_mount = false;
  std::vector<std::string> uidm, gidm, insecure;
  std::string username, password, mirror, image_ref, id;
  create->add_option("--disk-limit-size-bytes", disk_limit,
                     "disk limit (includes the image's layers)");
  create->add_flag("--exclude-image-from-quota", exclude,
                   "the disk limit excludes the image's layers");
  create->add_option("--uid-mapping", uidm, "containerID:hostID:size (repeatable)");
  create->add_option("--gid-mapping", gidm, "containerID:hostID:size (repeatable)");
  create->add_option("--username", username, "registry username");
  create->add_option("--password", password, "registry password");
  create->add_option("--insecure-registry", insecure,
                     "registry host[:port] with unverified TLS or plain HTTP");
  create->add_option("--registry-mirror", mirror,
                     "mirror used for Docker Hub images ([http[s]://]host[:port])");
  create->add_flag("--with-mount", with_mount, "mount the rootfs (default for root)");
  create->add_flag("--without-mount", without_mount, "print the overlay mount instead of mounting");
  create
      ->add_option("image", image_ref, "docker://..., oci:///path[:tag], a rootfs directory or tar")
      ->required();
  create->add_option("id", id, "image id")->required();

  auto* del = app.add_subcommand("delete", "delete the image ID");
  std::string del_id;
  del->add_option("id", del_id)->required();
  auto* stats = app.add_subcommand("stats", "disk usage of the image ID (JSON)");
  std::string stats_id;
  stats->add_option("id", stats_id)->required();
  auto* list = app.add_subcommand("list", "list image paths");
  auto* clean = app.add_subcommand("clean", "remove layers no image uses");
  int64_t threshold = -1;
  clean->add_option("--threshold-bytes", threshold, "only when the layers use more than this");
  auto* delete_store = app.add_subcommand("delete-store", "delete the store and everything in it");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }

  Config cfg;
  if (!config_path.empty()) {
    auto c = load_config(config_path);
    if (!c.ok()) return fail(c.error());
    cfg = std::move(*c);
  }
  if (store_path.empty()) store_path = cfg.store.value_or("/var/lib/crunner-image");
  if (log_level.empty()) log_level = cfg.log_level.value_or("info");
  if (log_level != "debug" && log_level != "info" && log_level != "error" && log_level != "fatal")
    return fail(
        invalid_spec("invalid --log-level `" + log_level + "`: want debug, info, error or fatal"));
  set_log_level(log_level == "debug"   ? LogLevel::Debug
                : log_level == "info"  ? LogLevel::Info
                : log_level == "error" ? LogLevel::Error
                                       : LogLevel::Fatal);
  while (store_path.size() > 1 && store_path.back() == '/') store_path.pop_back();
  if (!valid_store_path(store_path))
    return fail(invalid_spec("invalid --store `" + store_path +
                             "`: want an absolute path without `,` `:` `\\`"));
  Store store(store_path);

  if (*init) {
    if (init_uid.empty()) init_uid = cfg.uid_mappings;
    if (init_gid.empty()) init_gid = cfg.gid_mappings;
    auto m = parse_maps(init_uid, init_gid);
    if (!m.ok()) return fail(m.error());
    if (store_size == 0) store_size = cfg.store_size_bytes.value_or(0);
    auto st = store.init(*m, store_size);
    if (!st.ok()) return fail(st.error().context("init store `" + store_path + "`"));
    return 0;
  }
  if (*create) {
    if (with_mount && without_mount)
      return fail(invalid_spec("with-mount and without-mount cannot be used together"));
    CreateSpec spec;
    spec.id = id;
    spec.image = image_ref;
    spec.disk_limit =
        disk_limit >= 0 ? disk_limit : static_cast<int64_t>(cfg.disk_limit_size_bytes.value_or(0));
    spec.exclude_image_from_quota = exclude || cfg.exclude_image_from_quota.value_or(false);
    spec.mount =
        with_mount || (!without_mount && !cfg.without_mount.value_or(false) && geteuid() == 0);
    IdMap m;
    if (!uidm.empty() || !gidm.empty()) {
      auto r = parse_maps(uidm, gidm);
      if (!r.ok()) return fail(r.error());
      m = *r;
    } else {
      m = store.store_map();
    }
    spec.map = m;
    spec.registry.username = username;
    spec.registry.password = password;
    spec.registry.insecure_registries = insecure.empty() ? cfg.insecure_registries : insecure;
    spec.registry.mirror = mirror.empty() ? cfg.registry_mirror.value_or("") : mirror;
    auto r = store.create(spec);
    if (!r.ok()) return fail(r.error());
    std::cout << create_output(*r) << std::endl;
    return 0;
  }
  if (*del) {
    auto r = store.remove(del_id);
    if (!r.ok()) return fail(r.error().context("delete image `" + del_id + "`"));
    if (!*r)
      std::cout << "Image `" << del_id << "` not found. Skipping delete." << std::endl;
    else
      std::cout << "Image " << del_id << " deleted" << std::endl;
    return 0;
  }
  if (*stats) {
    auto r = store.stats(stats_id);
    if (!r.ok()) return fail(r.error());
    std::cout << stats_output(*r) << std::endl;
    return 0;
  }
  if (*list) {
    auto r = store.list();
    if (!r.ok()) return fail(r.error());
    if (r->empty()) std::cout << "Store empty" << std::endl;
    for (const auto& p : *r) std::cout << p << std::endl;
    return 0;
  }
  if (*clean) {
    uint64_t t =
        threshold >= 0 ? static_cast<uint64_t>(threshold) : cfg.clean_threshold_bytes.value_or(0);
    auto r = store.clean(t);
    if (!r.ok()) return fail(r.error());
    if (*r < 0)
      std::cout << "threshold not reached: skipping clean" << std::endl;
    else
      std::cout << "clean completed: " << *r << " layers removed" << std::endl;
    return 0;
  }
  if (*delete_store) {
    auto st = store.destroy();
    if (!st.ok()) return fail(st.error().context("delete store `" + store_path + "`"));
    return 0;
  }
  return 1;
}

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    return fail(make_error(ErrorKind::Internal, std::string("internal error: ") + e.what()));
  }
}
