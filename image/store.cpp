#include "image/store.hpp"

#include <dirent.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nlohmann/json.hpp>
#include <regex>
#include <set>

#include "base/eintr.hpp"
#include "base/file.hpp"
#include "image/log.hpp"
#include "image/overlay.hpp"
#include "image/quota.hpp"
#include "image/source.hpp"
#include "image/tree.hpp"
#include "image/unpack.hpp"

namespace crunner::image {

using nlohmann::json;

namespace {

class FileLock {
 public:
  static Result<FileLock> take(const std::string& path, int op) {
    int fd = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) return sys_error("open lock `" + path + "`");
    FileLock l;
    l.fd_.reset(fd);
    if (CR_RETRY(flock(fd, op)) < 0) return sys_error("lock `" + path + "`");
    return l;
  }

 private:
  UniqueFd fd_;
};

std::vector<std::string> dir_names(const std::string& path) {
  std::vector<std::string> out;
  DIR* d = opendir(path.c_str());
  if (!d) return out;
  while (struct dirent* e = readdir(d)) {
    std::string n = e->d_name;
    if (n != "." && n != "..") out.push_back(n);
  }
  closedir(d);
  return out;
}

std::string rand_suffix() {
  static unsigned n = 0;
  return std::to_string(getpid()) + "-" + std::to_string(n++);
}

// The idmapped lower mounts of an image (images/<id>/l/<n>).
Status unmount_lowers(const std::string& dir) {
  for (const auto& n : dir_names(dir + "/l")) CR_TRY(unmount_overlay(dir + "/l/" + n));
  return {};
}

}  // namespace

bool valid_image_id(const std::string& id) {
  static const std::regex re("[A-Za-z0-9_+.-]+");
  return !id.empty() && id.size() <= 255 && id != "." && id != ".." && std::regex_match(id, re);
}

bool Store::initialized() const {
  return path_exists(path_ + "/meta/namespace.json");
}

IdMap Store::store_map() const {
  IdMap m;
  auto s = read_file(path_ + "/meta/namespace.json");
  if (!s.ok()) return m;
  try {
    auto j = json::parse(*s);
    for (const auto& v : j.value("uid_mappings", json::array()))
      if (auto r = parse_id_range(v.get<std::string>()); r.ok()) m.uids.push_back(*r);
    for (const auto& v : j.value("gid_mappings", json::array()))
      if (auto r = parse_id_range(v.get<std::string>()); r.ok()) m.gids.push_back(*r);
  } catch (...) {
  }
  return m;
}

Status Store::init(const IdMap& map, uint64_t size_bytes) {
  if (initialized()) return {};
  // Bad input leaves nothing behind: the size is checked before the store dir exists, and a
  // store dir made here goes again when its XFS cannot be made.
  if (size_bytes > 0) CR_TRY(check_backing_size(size_bytes));
  bool made = !path_exists(path_);
  CR_TRY(mkdir_p(path_, 0755));
  if (size_bytes > 0) {
    auto st = mount_xfs_backing(path_, size_bytes);
    if (!st.ok()) {
      if (made) rmdir(path_.c_str());
      return st;
    }
  }
  for (const char* d : {"meta", "layers", "images", "locks", "tmp"})
    CR_TRY(mkdir_p(path_ + "/" + d, 0700));
  // Images of mapped containers are reached by their root: let it traverse to them.
  if (!map.empty()) {
    chmod((path_ + "/images").c_str(), 0711);
    chmod((path_ + "/layers").c_str(), 0711);
    chmod(path_.c_str(), 0711);
  }
  json j;
  j["uid_mappings"] = json::array();
  j["gid_mappings"] = json::array();
  for (const auto& r : map.uids)
    j["uid_mappings"].push_back(std::to_string(r.container) + ":" + std::to_string(r.host) + ":" +
                                std::to_string(r.size));
  for (const auto& r : map.gids)
    j["gid_mappings"].push_back(std::to_string(r.container) + ":" + std::to_string(r.host) + ":" +
                                std::to_string(r.size));
  return write_file_atomic(path_ + "/meta/namespace.json", j.dump());
}

Status Store::ensure_layer(Source& src, const Layer& l, const std::string& key, const IdMap& map) {
  std::string dst = path_ + "/layers/" + key;
  if (path_exists(dst)) {
    log_event(LogLevel::Debug, "create.layer-cached", "layer", key);
    return {};
  }
  auto lock = FileLock::take(path_ + "/locks/layer-" + key + ".lock", LOCK_EX);
  if (!lock.ok()) return std::move(lock).error();
  if (path_exists(dst)) {
    log_event(LogLevel::Debug, "create.layer-unpacked-meanwhile", "layer", key);
    return {};  // another create unpacked it while we waited
  }
  log_event(LogLevel::Debug, "create.fetch-layer", "digest", l.digest);
  std::string tmp = path_ + "/tmp/layer-" + rand_suffix();
  std::string blob = path_ + "/tmp/blob-" + rand_suffix();
  auto cleanup = [&] {
    (void)remove_tree(tmp);
    unlink(blob.c_str());
  };
  Status st = [&]() -> Status {
    CR_TRY(mkdir_p(tmp + "/diff", 0755));
    if (!map.empty() &&
        chown((tmp + "/diff").c_str(), root_host_id(map.uids), root_host_id(map.gids)) < 0)
      return sys_error("chown `" + tmp + "/diff`");
    {
      CR_ASSIGN(UniqueFd b, open_path(blob, O_RDWR | O_CREAT | O_EXCL, 0600));
      CR_TRY_CTX(src.fetch(l, b.get()), "fetch layer " + l.digest);
      if (lseek(b.get(), 0, SEEK_SET) < 0) return sys_error("seek `" + blob + "`");
      CR_ASSIGN(UniqueFd d, open_path(tmp + "/diff", O_RDONLY | O_DIRECTORY));
      auto u = unpack_layer(b.get(), d.get(), map);
      if (!u.ok()) return std::move(u).error().context("unpack layer " + l.digest);
    }
    unlink(blob.c_str());
    json meta{{"digest", l.digest}, {"chain_id", l.chain_id}, {"size", tree_bytes(tmp + "/diff")}};
    CR_TRY(write_file(tmp + "/meta.json", meta.dump(), O_WRONLY | O_CREAT | O_TRUNC, 0600));
    if (rename(tmp.c_str(), dst.c_str()) < 0)
      return sys_error("rename `" + tmp + "` to `" + dst + "`");
    log_event(LogLevel::Debug, "create.layer-unpacked", "layer", key);
    return {};
  }();
  if (!st.ok()) cleanup();
  return st;
}

Result<CreatedImage> Store::create(const CreateSpec& spec) {
  if (!valid_image_id(spec.id))
    return invalid_spec("invalid id `" + spec.id + "`: want [A-Za-z0-9_+.-]+");
  if (!initialized())
    return make_error(ErrorKind::BadState, "Store path is not initialized. Please run init-store.");
  if (spec.disk_limit < 0) return invalid_spec("invalid argument: disk limit cannot be negative");
  CR_ASSIGN(Reference ref, parse_reference(spec.image));
  CR_ASSIGN(FileLock store_lock, FileLock::take(path_ + "/locks/store.lock", LOCK_SH));
  (void)store_lock;
  std::string dir = path_ + "/images/" + spec.id;
  if (mkdir(dir.c_str(), 0700) < 0) {
    if (errno == EEXIST)
      return make_error(ErrorKind::Exists, "image for id `" + spec.id + "` already exists");
    return sys_error("create `" + dir + "`");
  }
  bool mounted = false;
  auto fail = [&](Error e) -> Error {
    if (mounted) umount2((dir + "/rootfs").c_str(), MNT_DETACH);
    (void)unmount_lowers(dir);
    (void)remove_quota(path_, dir);
    (void)remove_tree(dir);
    return e;
  };
  auto src = make_source(ref, spec.registry);
  if (!src.ok()) return fail(std::move(src).error());
  log_event(LogLevel::Debug, "create.resolve", "image", spec.image);
  auto img = (*src)->resolve();
  if (!img.ok()) return fail(std::move(img).error());
  // Mapped images: idmapped mounts of the shared, unshifted layers where the kernel can;
  // else layers unpacked with shifted owners, one copy per mapping (keyed by it).
  UniqueFd userns;
  bool idmapped = false;
  if (!spec.map.empty() && spec.mount) {
    auto u = userns_with(spec.map);
    if (u.ok() && idmapped_mounts_work(path_ + "/layers", u->get())) {
      userns = std::move(*u);
      idmapped = true;
    }
  }
  IdMap unpack_map = idmapped ? IdMap{} : spec.map;
  std::string mkey = unpack_map.key();
  std::vector<std::string> keys;
  std::vector<std::string> lowers;  // top first
  uint64_t base_bytes = 0;
  for (const auto& l : img->layers) {
    std::string key = l.chain_id.substr(7) + (mkey.empty() ? "" : "-" + mkey);
    auto st = ensure_layer(**src, l, key, unpack_map);
    if (!st.ok()) return fail(std::move(st).error());
    keys.push_back(key);
    lowers.insert(lowers.begin(), path_ + "/layers/" + key + "/diff");
    try {
      base_bytes += json::parse(read_file(path_ + "/layers/" + key + "/meta.json").value())
                        .value("size", 0ull);
    } catch (...) {
    }
  }
  if (!img->directory.empty()) {
    lowers.push_back(img->directory);
    base_bytes += tree_bytes(img->directory);
  }
  if (idmapped) {
    if (mkdir((dir + "/l").c_str(), 0700) < 0) return fail(sys_error("create `" + dir + "/l`"));
    for (size_t i = 0; i < lowers.size(); i++) {
      std::string mp = dir + "/l/" + std::to_string(i);
      if (mkdir(mp.c_str(), 0700) < 0) return fail(sys_error("create `" + mp + "`"));
      auto b = idmapped_bind(lowers[i], mp, userns.get());
      if (!b.ok()) return fail(std::move(b).error());
      lowers[i] = mp;
    }
  }
  if (lowers.empty()) {
    // An image without layers: one empty lower directory of its own.
    if (mkdir((dir + "/empty").c_str(), 0755) < 0)
      return fail(sys_error("create `" + dir + "/empty`"));
    lowers.push_back(dir + "/empty");
  }
  uid_t ruid = root_host_id(spec.map.uids);
  gid_t rgid = root_host_id(spec.map.gids);
  for (const char* d : {"/diff", "/work", "/rootfs"}) {
    std::string p = dir + d;
    if (mkdir(p.c_str(), 0755) < 0) return fail(sys_error("create `" + p + "`"));
    if (chown(p.c_str(), ruid, rgid) < 0) return fail(sys_error("chown `" + p + "`"));
  }
  // The container's root (a mapped uid) must be able to reach its rootfs.
  if (!spec.map.empty())
    for (const std::string& p : {path_, path_ + "/images", path_ + "/layers", dir})
      if (chmod(p.c_str(), 0711) < 0) return fail(sys_error("chmod `" + p + "`"));
  if (spec.disk_limit > 0) {
    int64_t limit = spec.disk_limit;
    if (!spec.exclude_image_from_quota) {
      limit -= static_cast<int64_t>(base_bytes);
      if (limit <= 0)
        return fail(invalid_spec("disk limit is smaller than volume size: the image needs " +
                                 std::to_string(base_bytes) + " bytes, the limit is " +
                                 std::to_string(spec.disk_limit)));
    }
    auto q = apply_quota(path_, dir, static_cast<uint64_t>(limit));
    if (!q.ok())
      return fail(std::move(q).error().context("apply disk limit to `" + dir + "/diff`"));
  }
  OverlaySpec ov{lowers, dir + "/diff", dir + "/work", dir + "/rootfs"};
  CreatedImage out;
  out.rootfs = dir + "/rootfs";
  out.env = img->config.env;
  if (spec.mount) {
    auto m = mount_overlay(ov);
    if (!m.ok()) return fail(std::move(m).error());
    mounted = true;
  } else {
    out.options = overlay_options(ov);
  }
  json meta{{"id", spec.id},
            {"image", spec.image},
            {"layers", keys},
            {"directory", img->directory},
            {"env", img->config.env},
            {"user", img->config.user},
            {"workdir", img->config.workdir},
            {"mapping", json::parse(spec.map.to_json())},
            {"disk_limit", spec.disk_limit},
            {"exclude_image_from_quota", spec.exclude_image_from_quota},
            {"base_bytes", base_bytes},
            {"mounted", spec.mount},
            {"idmap", spec.map.empty() ? ""
                      : idmapped       ? "mount"
                                       : "copy"}};
  auto w = write_file_atomic(dir + "/image.json", meta.dump(), 0600);
  if (!w.ok()) return fail(std::move(w).error());
  return out;
}

Result<bool> Store::remove(const std::string& id) {
  if (!valid_image_id(id)) return invalid_spec("invalid id `" + id + "`");
  std::string dir = path_ + "/images/" + id;
  if (!path_exists(dir)) return false;
  CR_TRY(unmount_overlay(dir + "/rootfs"));
  CR_TRY(unmount_lowers(dir));
  (void)remove_quota(path_, dir);
  CR_TRY(remove_tree(dir));
  return true;
}

Result<DiskUsage> Store::stats(const std::string& id) {
  if (!valid_image_id(id)) return invalid_spec("invalid id `" + id + "`");
  std::string dir = path_ + "/images/" + id;
  auto s = read_file(dir + "/image.json");
  if (!s.ok()) return make_error(ErrorKind::NotFound, "image not found: " + id);
  DiskUsage u;
  try {
    auto j = json::parse(*s);
    auto q = quota_usage(path_, dir);
    u.exclusive = q.ok() ? *q : tree_bytes(dir + "/diff");
    u.total = u.exclusive + j.value("base_bytes", 0ull);
  } catch (const std::exception& e) {
    return invalid_spec("read `" + dir + "/image.json`: " + e.what());
  }
  return u;
}

Result<std::vector<std::string>> Store::list() {
  if (!initialized())
    return make_error(ErrorKind::BadState, "Store path is not initialized. Please run init-store.");
  std::vector<std::string> out;
  for (const auto& n : dir_names(path_ + "/images")) out.push_back(path_ + "/images/" + n);
  std::sort(out.begin(), out.end());
  return out;
}

uint64_t Store::layers_bytes() const {
  uint64_t total = 0;
  for (const auto& n : dir_names(path_ + "/layers")) {
    auto s = read_file(path_ + "/layers/" + n + "/meta.json");
    if (!s.ok()) continue;
    try {
      total += json::parse(*s).value("size", 0ull);
    } catch (...) {
    }
  }
  return total;
}

Result<long> Store::clean(uint64_t threshold) {
  if (!initialized())
    return make_error(ErrorKind::BadState, "Store path is not initialized. Please run init-store.");
  CR_ASSIGN(FileLock lock, FileLock::take(path_ + "/locks/store.lock", LOCK_EX));
  (void)lock;
  if (threshold > 0 && layers_bytes() <= threshold) return -1;
  std::set<std::string> used;
  for (const auto& n : dir_names(path_ + "/images")) {
    auto s = read_file(path_ + "/images/" + n + "/image.json");
    if (!s.ok()) continue;
    try {
      for (const auto& k : json::parse(*s).value("layers", json::array()))
        used.insert(k.get<std::string>());
    } catch (...) {
    }
  }
  long removed = 0;
  for (const auto& n : dir_names(path_ + "/layers")) {
    if (used.count(n)) continue;
    CR_TRY(remove_tree(path_ + "/layers/" + n));
    unlink((path_ + "/locks/layer-" + n + ".lock").c_str());
    removed++;
  }
  for (const auto& n : dir_names(path_ + "/tmp")) (void)remove_tree(path_ + "/tmp/" + n);
  return removed;
}

Status Store::destroy() {
  if (!path_exists(path_)) return {};
  for (const auto& n : dir_names(path_ + "/images")) CR_TRY(remove(n));
  CR_TRY(unmount_xfs_backing(path_));
  return remove_tree(path_);
}

}  // namespace crunner::image
