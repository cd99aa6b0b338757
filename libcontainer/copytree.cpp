#include "libcontainer/copytree.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>

#include "base/error.hpp"
#include "base/fd.hpp"

namespace crunner {

namespace {

Status copy_file(int src, int dst, const char* name, const struct stat& st) {
  int in = openat(src, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (in < 0) return sys_error(std::string("open `") + name + "`");
  UniqueFd in_fd(in);
  int out =
      openat(dst, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, st.st_mode & 07777);
  if (out < 0) return sys_error(std::string("create `") + name + "`");
  UniqueFd out_fd(out);
  off_t left = st.st_size;
  while (left > 0) {
    ssize_t n = sendfile(out, in, nullptr, static_cast<size_t>(left));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return sys_error(std::string("copy `") + name + "`");
    if (n == 0) break;
    left -= n;
  }
  return {};
}

}  // namespace

Status copy_tree(int src, int dst) {
  int dfd = openat(src, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) return sys_error("open directory");
  DIR* dir = fdopendir(dfd);
  if (!dir) {
    close(dfd);
    return sys_error("opendir");
  }
  Status result;
  while (struct dirent* e = readdir(dir)) {
    const char* name = e->d_name;
    if (std::string_view(name) == "." || std::string_view(name) == "..") continue;
    struct stat st;
    if (fstatat(src, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
      result = sys_error(std::string("stat `") + name + "`");
      break;
    }
    Status r;
    if (S_ISDIR(st.st_mode)) {
      if (mkdirat(dst, name, st.st_mode & 07777) < 0 && errno != EEXIST) {
        r = sys_error(std::string("mkdir `") + name + "`");
      } else {
        int s = openat(src, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        int d = openat(dst, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        UniqueFd sg(s), dg(d);
        if (s < 0 || d < 0)
          r = sys_error(std::string("open `") + name + "`");
        else
          r = copy_tree(s, d);
        if (r && fchmodat(dst, name, st.st_mode & 07777, 0) < 0) r = sys_error("chmod");
      }
    } else if (S_ISREG(st.st_mode)) {
      r = copy_file(src, dst, name, st);
    } else if (S_ISLNK(st.st_mode)) {
      char buf[PATH_MAX];
      ssize_t n = readlinkat(src, name, buf, sizeof buf - 1);
      if (n < 0) {
        r = sys_error(std::string("readlink `") + name + "`");
      } else {
        buf[n] = 0;
        if (symlinkat(buf, dst, name) < 0) r = sys_error(std::string("symlink `") + name + "`");
      }
    } else {
      if (mknodat(dst, name, st.st_mode, st.st_rdev) < 0)
        r = sys_error(std::string("mknod `") + name + "`");
    }
    if (r && fchownat(dst, name, st.st_uid, st.st_gid, AT_SYMLINK_NOFOLLOW) < 0 && errno != EPERM)
      r = sys_error(std::string("chown `") + name + "`");
    if (r) {
      struct timespec ts[2] = {st.st_atim, st.st_mtim};
      utimensat(dst, name, ts, AT_SYMLINK_NOFOLLOW);
    }
    if (!r) {
      result = std::move(r);
      break;
    }
  }
  closedir(dir);
  return result;
}

}  // namespace crunner
