#include "image/tree.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <set>
#include <string>
#include <utility>
#include <vector>

#include "base/error.hpp"
#include "base/fd.hpp"

namespace crunner::image {

Status remove_at(int dirfd, const std::string& name) {
  struct stat st;
  if (fstatat(dirfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) < 0) {
    if (errno == ENOENT) return {};
    return sys_error("stat `" + name + "`");
  }
  if (!S_ISDIR(st.st_mode)) {
    if (unlinkat(dirfd, name.c_str(), 0) < 0 && errno != ENOENT)
      return sys_error("remove `" + name + "`");
    return {};
  }
  // Never descend into another filesystem (a layer still mounted under an image dir).
  struct stat parent;
  if (fstat(dirfd, &parent) == 0 && parent.st_dev != st.st_dev)
    return make_error(ErrorKind::BadState, "remove `" + name + "`: it is a mount point");
  int fd = openat(dirfd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return sys_error("open `" + name + "`");
  DIR* d = fdopendir(fd);
  if (!d) {
    close(fd);
    return sys_error("read `" + name + "`");
  }
  std::vector<std::string> names;
  while (struct dirent* e = readdir(d)) {
    std::string n = e->d_name;
    if (n != "." && n != "..") names.push_back(n);
  }
  Status st2;
  for (const auto& n : names) {
    auto r = remove_at(::dirfd(d), n);
    if (!r.ok() && st2.ok()) st2 = std::move(r).error().context("remove `" + name + "`");
  }
  closedir(d);
  if (!st2.ok()) return st2;
  if (unlinkat(dirfd, name.c_str(), AT_REMOVEDIR) < 0 && errno != ENOENT)
    return sys_error("remove `" + name + "`");
  return {};
}

Status remove_tree(const std::string& path) {
  auto slash = path.rfind('/');
  std::string parent = slash == 0 ? "/" : path.substr(0, slash);
  int fd = open(parent.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return {};
    return sys_error("open `" + parent + "`");
  }
  UniqueFd p(fd);
  auto r = remove_at(p.get(), path.substr(slash + 1));
  if (!r.ok()) return std::move(r).error().context("remove `" + path + "`");
  return {};
}

namespace {
void add_bytes(int dirfd, uint64_t& total, std::set<std::pair<dev_t, ino_t>>& seen, int depth) {
  if (depth > 4096) return;
  DIR* d = fdopendir(dirfd);
  if (!d) {
    close(dirfd);
    return;
  }
  while (struct dirent* e = readdir(d)) {
    std::string n = e->d_name;
    if (n == "." || n == "..") continue;
    struct stat st;
    if (fstatat(::dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) continue;
    if (st.st_nlink > 1 && !S_ISDIR(st.st_mode) && !seen.insert({st.st_dev, st.st_ino}).second)
      continue;
    total += static_cast<uint64_t>(st.st_blocks) * 512;
    if (S_ISDIR(st.st_mode)) {
      int fd = openat(::dirfd(d), e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (fd >= 0) add_bytes(fd, total, seen, depth + 1);
    }
  }
  closedir(d);
}
}  // namespace

uint64_t tree_bytes(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return 0;
  uint64_t total = 0;
  std::set<std::pair<dev_t, ino_t>> seen;
  add_bytes(fd, total, seen, 0);
  return total;
}

}  // namespace crunner::image
