#include "base/file.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/eintr.hpp"
#include "base/text.hpp"

namespace crunner {

Result<UniqueFd> open_path(const std::string& path, int flags, mode_t mode) {
  int fd = CR_RETRY(::open(path.c_str(), flags | O_CLOEXEC, mode));
  if (fd < 0) return sys_error("open `" + path + "`");
  return UniqueFd(fd);
}

Result<UniqueFd> open_at(int dirfd, const std::string& path, int flags, mode_t mode) {
  int fd = CR_RETRY(::openat(dirfd, path.c_str(), flags | O_CLOEXEC, mode));
  if (fd < 0) return sys_error("open `" + path + "`");
  return UniqueFd(fd);
}

Result<std::string> read_fd(int fd, size_t max) {
  std::string out;
  char buf[8192];
  for (;;) {
    ssize_t n = CR_RETRY(::read(fd, buf, sizeof buf));
    if (n < 0) return sys_error("read");
    if (n == 0) break;
    if (out.size() + static_cast<size_t>(n) > max)
      return make_error(ErrorKind::InvalidSpec,
                        "read: larger than " + std::to_string(max) + " bytes");
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

namespace {

// read_fd's error with the file's name in it: "read `name`: ...".
Result<std::string> read_named(int fd, const std::string& name, size_t max = kMaxReadSize) {
  auto r = read_fd(fd, max);
  if (!r) {
    Error e = r.error();
    e.message = "read `" + name + "`" + e.message.substr(4);  // after "read"
    return e;
  }
  return r;
}

// The checks and read of read_regular_file on an fd already open and stat'ed.
Result<std::string> read_regular_fd(int fd, const struct stat& st, const std::string& path,
                                    size_t max, const char* what) {
  if (!S_ISREG(st.st_mode))
    return make_error(ErrorKind::InvalidSpec, "read `" + path + "`: not a " + what);
  if (static_cast<unsigned long long>(st.st_size) > max)
    return make_error(ErrorKind::InvalidSpec,
                      "read `" + path + "`: larger than " + std::to_string(max) + " bytes");
  return read_named(fd, path, max);
}

}  // namespace

Result<std::string> read_regular_file(const std::string& path, size_t max) {
  // O_NONBLOCK: opening a fifo must not wait for a writer before fstat refuses it.
  CR_ASSIGN(UniqueFd fd, open_path(path, O_RDONLY | O_NONBLOCK | O_NOCTTY));
  struct stat st;
  if (fstat(fd.get(), &st) < 0) return sys_error("stat `" + path + "`");
  return read_regular_fd(fd.get(), st, path, max, "regular file");
}

namespace {

// Reads a pipe opened O_NONBLOCK until EOF. poll() first: on a fifo no writer has opened yet,
// read() would report EOF at once, poll() waits for the writer (and its data or its close).
Result<std::string> read_pipe(int fd, const std::string& path, size_t max) {
  std::string out;
  char buf[8192];
  for (;;) {
    struct pollfd p = {fd, POLLIN, 0};
    if (CR_RETRY(poll(&p, 1, -1)) < 0) return sys_error("read `" + path + "`: poll");
    ssize_t n = CR_RETRY(::read(fd, buf, sizeof buf));
    if (n < 0 && errno == EAGAIN) continue;
    if (n < 0) return sys_error("read `" + path + "`");
    if (n == 0) break;
    if (out.size() + static_cast<size_t>(n) > max)
      return make_error(ErrorKind::InvalidSpec,
                        "read `" + path + "`: larger than " + std::to_string(max) + " bytes");
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

}  // namespace

Result<std::string> read_file_or_pipe(const std::string& path, size_t max) {
  if (path == "-") {
    auto r = read_fd(0, max);
    if (!r) {
      Error e = r.error();
      e.message = "read stdin" + e.message.substr(4);  // after "read"
      return e;
    }
    return r;
  }
  CR_ASSIGN(UniqueFd fd, open_path(path, O_RDONLY | O_NONBLOCK | O_NOCTTY));
  struct stat st;
  if (fstat(fd.get(), &st) < 0) return sys_error("stat `" + path + "`");
  if (S_ISFIFO(st.st_mode)) return read_pipe(fd.get(), path, max);
  return read_regular_fd(fd.get(), st, path, max, "regular file or pipe");
}

Result<std::string> read_file(const std::string& path) {
  CR_ASSIGN(UniqueFd fd, open_path(path, O_RDONLY));
  return read_named(fd.get(), path);
}

Result<std::string> read_file_at(int dirfd, const std::string& name) {
  CR_ASSIGN(UniqueFd fd, open_at(dirfd, name, O_RDONLY));
  return read_named(fd.get(), name);
}

Status write_all(int fd, const void* buf, size_t len) {
  const char* p = static_cast<const char*>(buf);
  while (len > 0) {
    ssize_t n = CR_RETRY(::write(fd, p, len));
    if (n < 0) return sys_error("write");
    p += n;
    len -= static_cast<size_t>(n);
  }
  return {};
}

static std::string shown(std::string_view data) {
  std::string s(data.substr(0, 200));
  while (!s.empty() && s.back() == '\n') s.pop_back();
  return s;
}

Status write_file(const std::string& path, std::string_view data, int flags, mode_t mode) {
  int fd = CR_RETRY(::open(path.c_str(), flags | O_CLOEXEC, mode));
  if (fd < 0) return sys_error("write `" + shown(data) + "` to `" + path + "`");
  UniqueFd guard(fd);
  // A single write(): cgroup and proc files reject values split over writes.
  ssize_t n = CR_RETRY(::write(fd, data.data(), data.size()));
  if (n < 0) return sys_error("write `" + shown(data) + "` to `" + path + "`");
  if (static_cast<size_t>(n) != data.size()) {
    auto r = write_all(fd, data.data() + n, data.size() - static_cast<size_t>(n));
    if (!r) return sys_error("write `" + shown(data) + "` to `" + path + "`", r.error().err);
  }
  return {};
}

Status write_file_at(int dirfd, const std::string& name, std::string_view data) {
  int fd = CR_RETRY(::openat(dirfd, name.c_str(), O_WRONLY | O_CLOEXEC));
  if (fd < 0) return sys_error("write `" + shown(data) + "` to `" + name + "`");
  UniqueFd guard(fd);
  ssize_t n = CR_RETRY(::write(fd, data.data(), data.size()));
  if (n < 0) return sys_error("write `" + shown(data) + "` to `" + name + "`");
  return {};
}

Status write_file_atomic(const std::string& path, std::string_view data, mode_t mode,
                         Durability d) {
  std::string tmp = path + ".tmp." + std::to_string(getpid());
  int fd = CR_RETRY(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode));
  if (fd < 0) return sys_error("create `" + tmp + "`");
  UniqueFd guard(fd);
  if (auto r = write_all(fd, data.data(), data.size()); !r) {
    unlink(tmp.c_str());
    return sys_error("write `" + tmp + "`", r.error().err);
  }
  if (d == Durability::Fsync && fsync(fd) < 0) {
    int e = errno;
    unlink(tmp.c_str());
    return sys_error("fsync `" + tmp + "`", e);
  }
  guard.reset();
  if (rename(tmp.c_str(), path.c_str()) < 0) {
    int e = errno;
    unlink(tmp.c_str());
    return sys_error("rename `" + tmp + "` to `" + path + "`", e);
  }
  return {};
}

// The directory itself first: its parents usually exist (a cgroup's /sys/fs/cgroup/<ctrl>,
// the state root's /run), and a mkdir of each level from / cost ~40 failing syscalls per
// container. Only a missing parent (ENOENT) is created, the same way, before the retry.
Status mkdir_p(const std::string& path, mode_t mode) {
  if (path.empty()) return {};
  if (mkdir(path.c_str(), mode) == 0 || errno == EEXIST) return {};
  if (errno != ENOENT) return sys_error("mkdir `" + path + "`");
  size_t end = path.find_last_not_of('/');
  size_t slash = end == std::string::npos ? std::string::npos : path.rfind('/', end);
  if (slash != std::string::npos && slash > 0) CR_TRY(mkdir_p(path.substr(0, slash), mode));
  if (mkdir(path.c_str(), mode) < 0 && errno != EEXIST) return sys_error("mkdir `" + path + "`");
  return {};
}

bool read_i64_file(const std::string& path, long long& out) {
  auto text = read_file(path);
  long long v = 0;
  if (!text || !parse_i64(trim(*text), v)) return false;
  out = v;
  return true;
}

bool path_exists(const std::string& path) {
  struct stat st;
  return lstat(path.c_str(), &st) == 0;
}

}  // namespace crunner
