#include "base/safepath.hpp"

#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <deque>
#include <vector>

#include "base/error.hpp"
#include "base/fd.hpp"
#include "base/text.hpp"

namespace crunner {

namespace {

constexpr int kMaxSymlinks = 40;

std::deque<std::string> components(const std::string& path) {
  std::deque<std::string> out;
  for (std::string& c : split(path, '/'))
    if (!c.empty() && c != ".") out.push_back(std::move(c));
  return out;
}

// True when nothing but "." and "" remains (the component just taken is the last one).
bool only_trivial(const std::deque<std::string>& rest) {
  for (const std::string& c : rest)
    if (!c.empty() && c != ".") return false;
  return true;
}

Result<UniqueFd> dup_fd(int fd) {
  int n = fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (n < 0) return sys_error("dup");
  return UniqueFd(n);
}

long sys_openat2(int dirfd, const char* path, struct open_how* how) {
  return syscall(SYS_openat2, dirfd, path, how, sizeof(*how));
}

}  // namespace

std::string proc_fd_path(int fd) {
  return "/proc/self/fd/" + std::to_string(fd);
}

std::string clean_path(const std::string& path) {
  std::vector<std::string> stack;
  for (std::string& c : split(path, '/')) {
    if (c.empty() || c == ".") continue;
    if (c == "..") {
      if (!stack.empty()) stack.pop_back();
      continue;
    }
    stack.push_back(std::move(c));
  }
  std::string out;
  for (const std::string& c : stack) out += "/" + c;
  return out.empty() ? "/" : out;
}

Result<UniqueFd> walk_in_root(int rootfd, const std::string& path, Create create) {
  std::deque<std::string> todo = components(path);
  std::vector<UniqueFd> stack;  // directory fds below the root, in walk order
  auto cur = [&] { return stack.empty() ? rootfd : stack.back().get(); };
  int links = 0;
  while (!todo.empty()) {
    std::string c = std::move(todo.front());
    todo.pop_front();
    if (c.empty() || c == ".") continue;
    if (c == "..") {
      if (!stack.empty()) stack.pop_back();
      continue;
    }
    bool last = only_trivial(todo);
    struct stat st;
    if (fstatat(cur(), c.c_str(), &st, AT_SYMLINK_NOFOLLOW) < 0) {
      if (errno != ENOENT || create == Create::None) return sys_error("resolve `" + path + "`");
      if (last && create == Create::File) {
        int fd =
            openat(cur(), c.c_str(), O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0644);
        if (fd < 0 && errno != EEXIST) return sys_error("create `" + path + "`");
        if (fd >= 0) close(fd);
      } else if (mkdirat(cur(), c.c_str(), 0755) < 0 && errno != EEXIST) {
        return sys_error("mkdir `" + path + "`");
      }
      if (fstatat(cur(), c.c_str(), &st, AT_SYMLINK_NOFOLLOW) < 0)
        return sys_error("resolve `" + path + "`");
    }
    if (S_ISLNK(st.st_mode)) {
      if (++links > kMaxSymlinks) return sys_error("resolve `" + path + "`", ELOOP);
      char buf[PATH_MAX];
      ssize_t n = readlinkat(cur(), c.c_str(), buf, sizeof buf - 1);
      if (n < 0) return sys_error("readlink in `" + path + "`");
      std::string target(buf, static_cast<size_t>(n));
      if (!target.empty() && target[0] == '/') stack.clear();
      std::deque<std::string> t = components(target);
      todo.insert(todo.begin(), t.begin(), t.end());
      continue;
    }
    if (last) {
      int fd = openat(cur(), c.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC);
      if (fd < 0) return sys_error("open `" + path + "`");
      return UniqueFd(fd);
    }
    if (!S_ISDIR(st.st_mode)) return sys_error("resolve `" + path + "`", ENOTDIR);
    int fd = openat(cur(), c.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) return sys_error("open `" + path + "`");
    stack.emplace_back(fd);
  }
  if (stack.empty()) return dup_fd(rootfd);
  return std::move(stack.back());
}

Result<UniqueFd> resolve_in_root(int rootfd, const std::string& path, Create create) {
  struct open_how how = {};
  how.flags = O_PATH | O_CLOEXEC;
  how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
  std::string p = path.empty() ? "." : path;
  for (;;) {
    long fd = sys_openat2(rootfd, p.c_str(), &how);
    if (fd >= 0) return UniqueFd(static_cast<int>(fd));
    if (errno == EAGAIN || errno == EINTR) continue;  // a concurrent rename; retry
    if (errno == ENOSYS || errno == EPERM) break;     // no openat2 (or seccomp): walk
    if (errno == ENOENT && create != Create::None) break;
    return sys_error("resolve `" + path + "`");
  }
  return walk_in_root(rootfd, path, create);
}

Result<ParentRef> resolve_parent_in_root(int rootfd, const std::string& path, Create create) {
  std::string clean = clean_path("/" + path);
  if (clean == "/") return sys_error("resolve parent of `" + path + "`", EINVAL);
  size_t slash = clean.rfind('/');
  std::string dir = clean.substr(0, slash);
  ParentRef out;
  out.name = clean.substr(slash + 1);
  CR_ASSIGN(out.dir, resolve_in_root(rootfd, dir.empty() ? "/" : dir,
                                     create == Create::None ? Create::None : Create::Dir));
  return out;
}

}  // namespace crunner
