#include "garden/image/disk_share.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <cstring>
#include <vector>

#include "base/fd.hpp"
#include "base/mountinfo.hpp"
#include "base/text.hpp"

namespace garden::image {

namespace {

// Overlay's options in mountinfo escape ',', '=', whitespace and '\' as \ooo.
std::string unescape(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size() && std::isdigit(static_cast<unsigned char>(s[i + 1])) &&
        std::isdigit(static_cast<unsigned char>(s[i + 2])) &&
        std::isdigit(static_cast<unsigned char>(s[i + 3]))) {
      out += static_cast<char>(std::stoi(s.substr(i + 1, 3), nullptr, 8));
      i += 3;
    } else {
      out += s[i];
    }
  }
  return out;
}

bool from_options(const std::vector<std::string>& opts, bool escaped, OverlayDirs& out) {
  OverlayDirs d;
  for (const auto& o : opts) {
    std::string v = escaped ? unescape(o) : o;
    if (v.rfind("upperdir=", 0) == 0) d.upper = v.substr(9);
    if (v.rfind("workdir=", 0) == 0) d.work = v.substr(8);
  }
  if (d.upper.empty() || d.work.empty()) return false;
  out = d;
  return true;
}

std::string open_project(const std::string& dir, crunner::UniqueFd& fd, struct fsxattr& fsx) {
  int f = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (f < 0) return "open `" + dir + "`: " + strerror(errno);
  fd.reset(f);
  if (ioctl(f, FS_IOC_FSGETXATTR, &fsx) < 0)
    return "read the project of `" + dir + "`: " + strerror(errno);
  return "";
}

}  // namespace

bool overlay_dirs(const std::string& rootfs, const nlohmann::json& mounts, OverlayDirs& out,
                  const std::string& mountinfo) {
  if (auto ms = crunner::read_mountinfo(mountinfo); ms) {
    const crunner::MountInfo* found = nullptr;
    for (const auto& m : *ms)  // the last mount there is the one seen
      if (m.mountpoint == rootfs && m.fstype == "overlay") found = &m;
    if (found) return from_options(crunner::split(found->super_options, ','), true, out);
  }
  if (!mounts.is_array()) return false;
  for (const auto& m : mounts) {
    if (!m.is_object() || m.value("destination", "") != "/" || m.value("type", "") != "overlay" ||
        !m.contains("options") || !m["options"].is_array())
      continue;
    std::vector<std::string> opts;
    for (const auto& o : m["options"])
      if (o.is_string()) opts.push_back(o.get<std::string>());
    return from_options(opts, false, out);
  }
  return false;
}

std::string share_disk_quota(const OverlayDirs& container, const OverlayDirs& pea) {
  crunner::UniqueFd cfd;
  struct fsxattr cx {};
  if (auto e = open_project(container.upper, cfd, cx); !e.empty()) return e;
  if (cx.fsx_projid == 0) return "";  // no quota on the container's image
  struct stat cst;
  if (fstat(cfd.get(), &cst) < 0) return "stat `" + container.upper + "`: " + strerror(errno);
  // The work dir's own subdirectories too (overlay's work/ and index/, made at mount time):
  // a copy-up is made in work/work and renamed into the upper dir, which XFS refuses
  // (EXDEV) between directories of different projects.
  std::vector<std::string> dirs{pea.upper, pea.work};
  if (DIR* d = opendir(pea.work.c_str())) {
    while (struct dirent* e = readdir(d))
      if (e->d_type == DT_DIR && strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
        dirs.push_back(pea.work + "/" + e->d_name);
    closedir(d);
  }
  for (const std::string& dir : dirs) {
    crunner::UniqueFd fd;
    struct fsxattr fsx {};
    if (auto e = open_project(dir, fd, fsx); !e.empty()) return e;
    struct stat st;
    if (fstat(fd.get(), &st) < 0) return "stat `" + dir + "`: " + strerror(errno);
    if (st.st_dev != cst.st_dev)
      return "`" + dir + "` is not on the file system of the container's image (`" +
             container.upper + "`): it cannot share the container's disk limit";
    fsx.fsx_projid = cx.fsx_projid;
    fsx.fsx_xflags |= FS_XFLAG_PROJINHERIT;
    if (ioctl(fd.get(), FS_IOC_FSSETXATTR, &fsx) < 0)
      return "put `" + dir + "` in the container's project quota " + std::to_string(cx.fsx_projid) +
             ": " + strerror(errno);
  }
  return "";
}

}  // namespace garden::image
