#include "image/quota.hpp"

#include <linux/dqblk_xfs.h>
#include <linux/fs.h>
#include <linux/magic.h>
#include <linux/quota.h>
#include <spawn.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/eintr.hpp"
#include "base/file.hpp"
#include "base/text.hpp"

extern char** environ;

namespace crunner::image {

namespace {

#ifndef SYS_quotactl_fd
#define SYS_quotactl_fd 443
#endif

Status run(const std::vector<std::string>& argv) {
  std::vector<char*> a;
  for (const auto& s : argv) a.push_back(const_cast<char*>(s.c_str()));
  a.push_back(nullptr);
  pid_t pid;
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  int rc = posix_spawnp(&pid, a[0], &fa, nullptr, a.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) return sys_error("run `" + argv[0] + "`", rc);
  int status = 0;
  if (CR_RETRY(waitpid(pid, &status, 0)) < 0) return sys_error("wait for `" + argv[0] + "`");
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    return make_error(ErrorKind::Internal,
                      "`" + join(argv, " ") + "` failed (status " + std::to_string(status) + ")");
  return {};
}

int quotactl_fd(int fd, int cmd, int id, void* addr) {
  return static_cast<int>(syscall(SYS_quotactl_fd, fd, cmd, id, addr));
}

// Project ids come from a counter in the store (under its own lock); the id of an image dir
// is what its inode says.
Result<uint32_t> next_project_id(const std::string& store) {
  std::string p = store + "/meta/project-id";
  CR_ASSIGN(UniqueFd fd, open_path(p, O_RDWR | O_CREAT | O_NOFOLLOW, 0600));
  if (CR_RETRY(flock(fd.get(), LOCK_EX)) < 0) return sys_error("lock `" + p + "`");
  CR_ASSIGN(std::string cur, read_fd(fd.get()));
  unsigned long long n = 1000;
  if (!trim(cur).empty() && !parse_u64(trim(cur), n))
    return invalid_spec("read `" + p + "`: not a number");
  n++;
  std::string s = std::to_string(n);
  if (pwrite(fd.get(), s.data(), s.size(), 0) < 0 ||
      ftruncate(fd.get(), static_cast<off_t>(s.size())) < 0)
    return sys_error("write `" + p + "`");
  return static_cast<uint32_t>(n);
}

Status set_project(const std::string& path, uint32_t id) {
  CR_ASSIGN(UniqueFd fd, open_path(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW));
  struct fsxattr fsx {};
  if (ioctl(fd.get(), FS_IOC_FSGETXATTR, &fsx) < 0)
    return sys_error("get project of `" + path + "`");
  fsx.fsx_projid = id;
  fsx.fsx_xflags |= FS_XFLAG_PROJINHERIT;
  if (ioctl(fd.get(), FS_IOC_FSSETXATTR, &fsx) < 0)
    return sys_error("set project of `" + path + "`");
  return {};
}

Result<uint32_t> project_of(const std::string& path) {
  CR_ASSIGN(UniqueFd fd, open_path(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW));
  struct fsxattr fsx {};
  if (ioctl(fd.get(), FS_IOC_FSGETXATTR, &fsx) < 0)
    return sys_error("get project of `" + path + "`");
  return fsx.fsx_projid;
}

Status set_limit(const std::string& store, uint32_t id, uint64_t bytes) {
  CR_ASSIGN(UniqueFd fd, open_path(store, O_RDONLY | O_DIRECTORY));
  struct fs_disk_quota q {};
  q.d_version = FS_DQUOT_VERSION;
  q.d_id = id;
  q.d_flags = FS_PROJ_QUOTA;
  q.d_fieldmask = FS_DQ_BSOFT | FS_DQ_BHARD;
  q.d_blk_hardlimit = (bytes + 511) / 512;
  q.d_blk_softlimit = q.d_blk_hardlimit;
  if (quotactl_fd(fd.get(), QCMD(Q_XSETQLIM, PRJQUOTA), static_cast<int>(id), &q) < 0)
    return sys_error("set project quota " + std::to_string(id) + " on `" + store + "`");
  return {};
}

// An XFS mounted without prjquota takes project ids but enforces nothing, and refuses the
// limit itself with a bare errno: say what is missing before anything is changed.
Status check_project_quota(const std::string& store) {
  CR_ASSIGN(UniqueFd fd, open_path(store, O_RDONLY | O_DIRECTORY));
  struct fs_quota_stat qs {};
  // Quotas off altogether: ENOSYS (6.1), ESRCH.
  if (quotactl_fd(fd.get(), QCMD(Q_XGETQSTAT, PRJQUOTA), 0, &qs) < 0 && errno != ENOSYS &&
      errno != ESRCH)
    return sys_error("read the quota state of `" + store + "`");
  if (!(qs.qs_flags & FS_QUOTA_PDQ_ENFD))
    return make_error(ErrorKind::Unsupported,
                      "disk limits need project quotas: the XFS of the store `" + store +
                          "` is not mounted with prjquota");
  return {};
}

}  // namespace

bool is_xfs(const std::string& path) {
  struct statfs s;
  return statfs(path.c_str(), &s) == 0 && s.f_type == XFS_SUPER_MAGIC;
}

Status check_backing_size(uint64_t size_bytes) {
  if (size_bytes < (300ull << 20))
    return invalid_spec("init store: --store-size-bytes must be at least 300 MiB (XFS)");
  return {};
}

Status mount_xfs_backing(const std::string& store, uint64_t size_bytes) {
  CR_TRY(check_backing_size(size_bytes));
  std::string file = store + ".backing-store";
  {
    CR_ASSIGN(UniqueFd fd, open_path(file, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0600));
    if (ftruncate(fd.get(), static_cast<off_t>(size_bytes)) < 0)
      return sys_error("size `" + file + "`");
  }
  auto st = run({"mkfs.xfs", "-q", "-f", file});
  if (st.ok()) st = run({"mount", "-t", "xfs", "-o", "loop,prjquota,noatime", file, store});
  if (!st.ok()) {
    unlink(file.c_str());
    return std::move(st).error().context("init store: make the XFS backing store `" + file + "`");
  }
  return {};
}

Status unmount_xfs_backing(const std::string& store) {
  std::string file = store + ".backing-store";
  if (!path_exists(file)) return {};
  // The loop device was set up with autoclear by mount(8): unmounting frees it.
  if (umount2(store.c_str(), UMOUNT_NOFOLLOW) < 0 && errno != EINVAL && errno != ENOENT)
    return sys_error("unmount the store `" + store + "`");
  if (unlink(file.c_str()) < 0 && errno != ENOENT) return sys_error("remove `" + file + "`");
  return {};
}

Status apply_quota(const std::string& store, const std::string& image_dir, uint64_t bytes) {
  if (!is_xfs(store))
    return make_error(
        ErrorKind::Unsupported,
        "disk limits need a store on XFS with project quotas (init-store --store-size-bytes)");
  CR_TRY(check_project_quota(store));
  CR_ASSIGN(uint32_t id, next_project_id(store));
  for (const char* sub : {"", "/diff", "/work"}) CR_TRY(set_project(image_dir + sub, id));
  return set_limit(store, id, bytes);
}

Result<uint64_t> quota_usage(const std::string& store, const std::string& image_dir) {
  if (!is_xfs(store)) return make_error(ErrorKind::Unsupported, "no quota");
  CR_ASSIGN(uint32_t id, project_of(image_dir));
  if (id == 0) return make_error(ErrorKind::NotFound, "no project");
  CR_ASSIGN(UniqueFd fd, open_path(store, O_RDONLY | O_DIRECTORY));
  struct fs_disk_quota q {};
  if (quotactl_fd(fd.get(), QCMD(Q_XGETQUOTA, PRJQUOTA), static_cast<int>(id), &q) < 0)
    return sys_error("read project quota " + std::to_string(id));
  return static_cast<uint64_t>(q.d_bcount) * 512;
}

Status remove_quota(const std::string& store, const std::string& image_dir) {
  if (!is_xfs(store)) return {};
  auto id = project_of(image_dir);
  if (!id.ok() || *id == 0) return {};
  return set_limit(store, *id, 0);
}

}  // namespace crunner::image
