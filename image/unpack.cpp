#include "image/unpack.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <memory>

#include "base/eintr.hpp"
#include "base/error.hpp"
#include "base/fd.hpp"
#include "image/layer_path.hpp"
#include "image/tree.hpp"

namespace crunner::image {

namespace {

constexpr const char* kWhiteoutPrefix = ".wh.";
constexpr const char* kOpaque = ".wh..wh..opq";

struct ArchiveDeleter {
  void operator()(struct archive* a) const { archive_read_free(a); }
};

Status set_owner_mode_times(int parent, const std::string& name, struct archive_entry* e,
                            const IdMap& map, bool is_link) {
  uid_t uid = map_id(map.uids, static_cast<uint32_t>(archive_entry_uid(e)));
  gid_t gid = map_id(map.gids, static_cast<uint32_t>(archive_entry_gid(e)));
  if (fchownat(parent, name.c_str(), uid, gid, AT_SYMLINK_NOFOLLOW) < 0)
    return sys_error("chown `" + name + "`");
  if (!is_link && fchmodat(parent, name.c_str(), archive_entry_perm(e) & 07777, 0) < 0)
    return sys_error("chmod `" + name + "`");
  struct timespec ts[2];
  ts[0].tv_sec = archive_entry_atime_is_set(e) ? archive_entry_atime(e) : archive_entry_mtime(e);
  ts[0].tv_nsec =
      archive_entry_atime_is_set(e) ? archive_entry_atime_nsec(e) : archive_entry_mtime_nsec(e);
  ts[1].tv_sec = archive_entry_mtime(e);
  ts[1].tv_nsec = archive_entry_mtime_nsec(e);
  utimensat(parent, name.c_str(), ts, AT_SYMLINK_NOFOLLOW);
  return {};
}

// xattrs from the archive, on an open fd (files, directories). The image may not set
// overlayfs' own attributes.
Status set_xattrs(int fd, const std::string& name, struct archive_entry* e) {
  const char* xname;
  const void* value;
  size_t size;
  archive_entry_xattr_reset(e);
  while (archive_entry_xattr_next(e, &xname, &value, &size) == ARCHIVE_OK) {
    std::string n = xname;
    if (n.compare(0, 15, "trusted.overlay") == 0) continue;
    if (fsetxattr(fd, xname, value, size, 0) < 0 && errno != ENOTSUP)
      return sys_error("set xattr `" + n + "` on `" + name + "`");
  }
  return {};
}

}  // namespace

Result<UnpackStats> unpack_layer(int archive_fd, int dir_fd, const IdMap& map) {
  std::unique_ptr<struct archive, ArchiveDeleter> a(archive_read_new());
  archive_read_support_filter_gzip(a.get());
  archive_read_support_filter_zstd(a.get());
  archive_read_support_filter_none(a.get());
  archive_read_support_format_tar(a.get());
  if (archive_read_open_fd(a.get(), archive_fd, 1 << 16) != ARCHIVE_OK)
    return invalid_spec(std::string("read layer archive: ") + archive_error_string(a.get()));
  UnpackStats stats;
  struct archive_entry* e;
  for (;;) {
    int r = archive_read_next_header(a.get(), &e);
    if (r == ARCHIVE_EOF) break;
    if (r < ARCHIVE_WARN)
      return invalid_spec(std::string("read layer archive: ") + archive_error_string(a.get()));
    stats.entries++;
    const char* raw = archive_entry_pathname(e);
    std::string path = raw ? raw : "";
    auto comps_r = safe_components(path);
    if (!comps_r.ok()) return std::move(comps_r).error().context("unpack layer");
    auto& comps = comps_r.value();
    if (comps.empty()) continue;  // the layer's root itself
    const std::string name = comps.back();
    CR_ASSIGN(UniqueFd parent, walk_dirs(dir_fd, comps, comps.size() - 1, true));

    if (name == kOpaque) {
      int fd = openat(parent.get(), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      if (fd < 0) return sys_error("open `" + path + "`");
      UniqueFd d(fd);
      if (fsetxattr(d.get(), "trusted.overlay.opaque", "y", 1, 0) < 0)
        return sys_error("mark `" + path + "` opaque (trusted.overlay.opaque)");
      stats.opaque++;
      continue;
    }
    if (name.compare(0, 4, kWhiteoutPrefix) == 0) {
      std::string hidden = name.substr(4);
      if (hidden.empty() || hidden == "." || hidden == "..")
        return invalid_spec("unpack layer: invalid whiteout `" + path + "`");
      CR_TRY(remove_at(parent.get(), hidden));
      if (mknodat(parent.get(), hidden.c_str(), S_IFCHR | 0, makedev(0, 0)) < 0)
        return sys_error("create whiteout for `" + path + "`");
      stats.whiteouts++;
      continue;
    }

    // A later entry replaces an earlier one, except that directories merge.
    mode_t type = archive_entry_filetype(e);
    const char* hard = archive_entry_hardlink(e);
    struct stat old;
    if (fstatat(parent.get(), name.c_str(), &old, AT_SYMLINK_NOFOLLOW) == 0 &&
        !(S_ISDIR(old.st_mode) && type == AE_IFDIR && !hard))
      CR_TRY(remove_at(parent.get(), name));

    if (hard) {
      auto tc = safe_components(hard);
      if (!tc.ok()) return std::move(tc).error().context("unpack layer: hard link `" + path + "`");
      if (tc->empty())
        return invalid_spec("unpack layer: hard link `" + path + "` to the layer's root");
      CR_ASSIGN(UniqueFd tparent, walk_dirs(dir_fd, *tc, tc->size() - 1, false));
      if (linkat(tparent.get(), tc->back().c_str(), parent.get(), name.c_str(), 0) < 0)
        return sys_error("hard link `" + path + "` to `" + hard + "`");
      continue;
    }
    switch (type) {
      case AE_IFDIR: {
        if (mkdirat(parent.get(), name.c_str(), 0700) < 0 && errno != EEXIST)
          return sys_error("create directory `" + path + "`");
        int fd =
            openat(parent.get(), name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0) return sys_error("open `" + path + "`");
        UniqueFd d(fd);
        CR_TRY(set_owner_mode_times(parent.get(), name, e, map, false));
        CR_TRY(set_xattrs(d.get(), path, e));
        break;
      }
      case AE_IFREG: {
        int fd = openat(parent.get(), name.c_str(),
                        O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0) return sys_error("create `" + path + "`");
        UniqueFd f(fd);
        const void* buf;
        size_t size;
        la_int64_t off;
        for (;;) {
          int dr = archive_read_data_block(a.get(), &buf, &size, &off);
          if (dr == ARCHIVE_EOF) break;
          if (dr < ARCHIVE_WARN)
            return invalid_spec("read `" + path +
                                "` from the layer: " + archive_error_string(a.get()));
          const char* p = static_cast<const char*>(buf);
          while (size > 0) {
            ssize_t w = CR_RETRY(pwrite(f.get(), p, size, off));
            if (w < 0) return sys_error("write `" + path + "`");
            p += w;
            off += w;
            size -= static_cast<size_t>(w);
          }
        }
        if (ftruncate(f.get(), archive_entry_size(e)) < 0)
          return sys_error("truncate `" + path + "`");
        // Owner first: chown clears setuid/setgid and file capabilities.
        CR_TRY(set_owner_mode_times(parent.get(), name, e, map, false));
        CR_TRY(set_xattrs(f.get(), path, e));
        // Times again: writing xattrs does not touch mtime, but keep the order obvious.
        break;
      }
      case AE_IFLNK: {
        const char* target = archive_entry_symlink(e);
        if (!target || !*target)
          return invalid_spec("unpack layer: symlink `" + path + "` without a target");
        if (symlinkat(target, parent.get(), name.c_str()) < 0)
          return sys_error("create symlink `" + path + "`");
        CR_TRY(set_owner_mode_times(parent.get(), name, e, map, true));
        break;
      }
      case AE_IFCHR:
      case AE_IFBLK:
      case AE_IFIFO: {
        if (mknodat(parent.get(), name.c_str(), type | (archive_entry_perm(e) & 0777),
                    archive_entry_rdev(e)) < 0)
          return sys_error("create device node `" + path + "`");
        CR_TRY(set_owner_mode_times(parent.get(), name, e, map, false));
        break;
      }
      default:
        return invalid_spec("unpack layer: `" + path + "` has an unsupported file type");
    }
  }
  return stats;
}

}  // namespace crunner::image
