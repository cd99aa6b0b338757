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

namespace {

struct Owner {
  uid_t uid;
  gid_t gid;
};

// walk_in_root's body; a directory it creates is given to `owner` when there is one.
Result<UniqueFd> walk(int rootfd, const std::string& path, Create create, const Owner* owner) {
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
      } else if (mkdirat(cur(), c.c_str(), 0755) == 0) {
        if (owner && fchownat(cur(), c.c_str(), owner->uid, owner->gid, AT_SYMLINK_NOFOLLOW) < 0)
          return sys_error("chown `" + path + "`");
      } else if (errno != EEXIST) {
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

// openat2 RESOLVE_IN_ROOT with `flags`, retried while a concurrent rename makes it EAGAIN:
// the fd, or -1 with errno set.
int open_resolved(int rootfd, const std::string& path, int flags) {
  struct open_how how = {};
  how.flags = static_cast<unsigned long long>(flags | O_CLOEXEC);
  how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
  const char* p = path.empty() ? "." : path.c_str();
  for (;;) {
    long fd = sys_openat2(rootfd, p, &how);
    if (fd >= 0 || (errno != EAGAIN && errno != EINTR)) return static_cast<int>(fd);
  }
}

// Whether openat2 failed for want of the syscall (old kernel, or a seccomp filter): walk.
bool no_openat2(int err) {
  return err == ENOSYS || err == EPERM;
}

}  // namespace

Result<UniqueFd> walk_in_root(int rootfd, const std::string& path, Create create) {
  return walk(rootfd, path, create, nullptr);
}

Result<UniqueFd> resolve_in_root(int rootfd, const std::string& path, Create create) {
  int fd = open_resolved(rootfd, path, O_PATH);
  if (fd >= 0) return UniqueFd(fd);
  if (!no_openat2(errno) && !(errno == ENOENT && create != Create::None))
    return sys_error("resolve `" + path + "`");
  return walk_in_root(rootfd, path, create);
}

Result<UniqueFd> mkdir_all_in_root(int rootfd, const std::string& path, uid_t uid, gid_t gid) {
  Owner owner{uid, gid};
  UniqueFd dir(open_resolved(rootfd, path, O_PATH));
  if (!dir) {
    if (errno != ENOENT && !no_openat2(errno)) return sys_error("resolve `" + path + "`");
    CR_ASSIGN(dir, walk(rootfd, path, Create::Dir, &owner));
  }
  struct stat st;
  if (fstat(dir.get(), &st) < 0) return sys_error("stat `" + path + "`");
  if (!S_ISDIR(st.st_mode)) return sys_error("resolve `" + path + "`", ENOTDIR);
  return dir;
}

Result<UniqueFd> open_in_root(int rootfd, const std::string& path, int flags) {
  if (flags & O_CREAT) return sys_error("open `" + path + "`", EINVAL);
  int fd = open_resolved(rootfd, path, flags);
  if (fd >= 0) return UniqueFd(fd);
  if (!no_openat2(errno)) return sys_error("open `" + path + "`");
  CR_ASSIGN(UniqueFd at, walk_in_root(rootfd, path, Create::None));
  fd = open(proc_fd_path(at.get()).c_str(), flags | O_CLOEXEC);
  if (fd < 0) return sys_error("open `" + path + "`");
  return UniqueFd(fd);
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
