#include "libcontainer/utils.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>

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

Status check_pid_file(const std::string& path, const std::string& flag) {
  if (path.empty()) return {};
  struct stat st;
  if (stat(path.c_str(), &st) < 0) {
    if (errno == ENOENT) return {};
    return sys_error(flag + " `" + path + "`");
  }
  if (!S_ISREG(st.st_mode))
    return invalid_spec(flag + " `" + path + "`: exists and is not a regular file");
  return {};
}

Status check_preserve_fds(long long n) {
  if (n < 0) return invalid_spec("--preserve-fds: must not be negative, got " + std::to_string(n));
  for (long long fd = 3; fd < 3 + n; fd++)
    if (fcntl(static_cast<int>(fd), F_GETFD) < 0)
      return invalid_spec("--preserve-fds " + std::to_string(n) + ": fd " + std::to_string(fd) +
                          " is not open");
  return {};
}

namespace {

// The checks and read of read_regular_file on an fd already open and stat'ed.
Result<std::string> read_regular_fd(int fd, const struct stat& st, const std::string& path,
                                    size_t max, const char* what) {
  if (!S_ISREG(st.st_mode))
    return make_error(ErrorKind::InvalidSpec, "read `" + path + "`: not a " + what);
  if (static_cast<unsigned long long>(st.st_size) > max)
    return make_error(ErrorKind::InvalidSpec,
                      "read `" + path + "`: larger than " + std::to_string(max) + " bytes");
  auto r = read_fd(fd, max);
  if (!r) {
    Error e = r.error();
    e.message = "read `" + path + "`" + e.message.substr(4);  // after "read"
    return e;
  }
  return r;
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
  auto r = read_fd(fd.get());
  if (!r) {
    Error e = r.error();
    e.message = "read `" + path + "`" + e.message.substr(4);  // after "read"
    return e;
  }
  return r;
}

Result<std::string> read_file_at(int dirfd, const std::string& name) {
  CR_ASSIGN(UniqueFd fd, open_at(dirfd, name, O_RDONLY));
  auto r = read_fd(fd.get());
  if (!r) {
    Error e = r.error();
    e.message = "read `" + name + "`" + e.message.substr(4);  // after "read"
    return e;
  }
  return r;
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

bool path_exists(const std::string& path) {
  struct stat st;
  return lstat(path.c_str(), &st) == 0;
}

std::vector<std::string> split(std::string_view s, char sep) {
  std::vector<std::string> out;
  size_t i = 0;
  for (;;) {
    size_t j = s.find(sep, i);
    if (j == std::string_view::npos) {
      out.emplace_back(s.substr(i));
      return out;
    }
    out.emplace_back(s.substr(i, j - i));
    i = j + 1;
  }
}

std::string trim(std::string_view s) {
  size_t b = 0, e = s.size();
  while (b < e && (s[b] == ' ' || s[b] == '\n' || s[b] == '\t' || s[b] == '\r')) b++;
  while (e > b && (s[e - 1] == ' ' || s[e - 1] == '\n' || s[e - 1] == '\t' || s[e - 1] == '\r'))
    e--;
  return std::string(s.substr(b, e - b));
}

std::string join(const std::vector<std::string>& v, std::string_view sep) {
  std::string out;
  for (size_t i = 0; i < v.size(); i++) {
    if (i) out += sep;
    out += v[i];
  }
  return out;
}

bool parse_u64(std::string_view s, unsigned long long& out, int base) {
  if (s.empty() || s[0] == '-' || s[0] == '+' || s[0] == ' ') return false;
  std::string tmp(s);
  char* end = nullptr;
  errno = 0;
  out = strtoull(tmp.c_str(), &end, base);
  return errno == 0 && end && *end == '\0';
}

bool parse_i64(std::string_view s, long long& out) {
  if (s.empty() || s[0] == ' ') return false;
  std::string tmp(s);
  char* end = nullptr;
  errno = 0;
  out = strtoll(tmp.c_str(), &end, 10);
  return errno == 0 && end && *end == '\0';
}

std::string rfc3339_nano(long long sec, long long nsec) {
  // The UTC calendar date by std::chrono's arithmetic: strftime, and gmtime_r too, read
  // /etc/localtime (glibc's tzset) on their first call, 7 syscalls per create and run.
  using namespace std::chrono;
  const sys_seconds t{seconds{sec}};
  const sys_days day = floor<days>(t);
  const year_month_day ymd{day};
  const hh_mm_ss<seconds> hms{t - day};
  char buf[64];
  snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02d:%02d:%02d", static_cast<int>(ymd.year()),
           static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
           static_cast<int>(hms.hours().count()), static_cast<int>(hms.minutes().count()),
           static_cast<int>(hms.seconds().count()));
  std::string s = buf;
  if (nsec > 0) {
    char frac[32];
    snprintf(frac, sizeof frac, ".%09lld", nsec);
    std::string f = frac;
    while (f.back() == '0') f.pop_back();  // Go's RFC3339Nano trims trailing zeros
    s += f;
  }
  return s + "Z";
}

std::string now_rfc3339_nano() {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return rfc3339_nano(ts.tv_sec, ts.tv_nsec);
}

std::string now_rfc3339() {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return rfc3339_nano(ts.tv_sec, 0);
}

// /proc/<pid>/stat: "pid (comm) S ppid ..."; comm may contain spaces and ')'.
static bool stat_fields(pid_t pid, std::vector<std::string>& fields) {
  auto r = read_file("/proc/" + std::to_string(pid) + "/stat");
  if (!r) return false;
  const std::string& s = *r;
  size_t close = s.rfind(')');
  if (close == std::string::npos) return false;
  fields = split(trim(s.substr(close + 2)), ' ');  // fields[0] is field 3 (state)
  return true;
}

unsigned long long process_start_time(pid_t pid) {
  std::vector<std::string> f;
  if (!stat_fields(pid, f) || f.size() < 20) return 0;
  unsigned long long v = 0;
  parse_u64(f[19], v);
  return v;
}

char process_state(pid_t pid) {
  std::vector<std::string> f;
  if (!stat_fields(pid, f) || f.empty() || f[0].empty()) return 0;
  return f[0][0];
}

}  // namespace crunner
