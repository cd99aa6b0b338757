#include "cgroups/cgdir.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <ctime>

#include "base/eintr.hpp"
#include "base/file.hpp"
#include "base/text.hpp"

namespace crunner::cgroups {

Result<CgDir> open_cgdir(const std::string& path) {
  int fd = CR_RETRY(::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (fd < 0) return sys_error("open cgroup `" + path + "`");
  return CgDir{UniqueFd(fd), path};
}

static std::string shown_value(std::string_view v) {
  std::string s(v);
  while (!s.empty() && s.back() == '\n') s.pop_back();
  return s;
}

namespace {
WriteObserver& observer() {
  static WriteObserver obs;
  return obs;
}
}  // namespace

void set_write_observer(WriteObserver obs) {
  observer() = std::move(obs);
}

Status cg_write(const CgDir& d, const std::string& file, std::string_view value) {
  std::string full = d.path + "/" + file;
  if (observer()) observer()(full, value);
  int fd = CR_RETRY(::openat(d.fd.get(), file.c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC));
  if (fd < 0) return sys_error("write `" + shown_value(value) + "` to `" + full + "`");
  UniqueFd guard(fd);
  ssize_t n = CR_RETRY(::write(fd, value.data(), value.size()));
  if (n < 0) return sys_error("write `" + shown_value(value) + "` to `" + full + "`");
  return {};
}

Status CgFile::write(std::string_view value) {
  std::string full = d_.path + "/" + file_;
  if (observer()) observer()(full, value);
  if (!fd_) {
    int fd = CR_RETRY(::openat(d_.fd.get(), file_.c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC));
    if (fd < 0) return sys_error("write `" + shown_value(value) + "` to `" + full + "`");
    fd_.reset(fd);
  }
  ssize_t n = CR_RETRY(::write(fd_.get(), value.data(), value.size()));
  if (n < 0) return sys_error("write `" + shown_value(value) + "` to `" + full + "`");
  return {};
}

Result<std::string> cg_read(const CgDir& d, const std::string& file) {
  int fd = CR_RETRY(::openat(d.fd.get(), file.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd < 0) return sys_error("read `" + d.path + "/" + file + "`");
  UniqueFd guard(fd);
  auto r = read_fd(fd);
  if (!r) return sys_error("read `" + d.path + "/" + file + "`", r.error().err);
  return r;
}

bool parse_cg_u64(std::string_view s, uint64_t& out) {
  std::string t = trim(s);
  if (t == "max") {
    out = UINT64_MAX;
    return true;
  }
  unsigned long long v = 0;
  if (!parse_u64(t, v)) return false;
  out = v;
  return true;
}

Result<uint64_t> cg_read_u64(const CgDir& d, const std::string& file) {
  CR_ASSIGN(std::string s, cg_read(d, file));
  uint64_t v = 0;
  if (!parse_cg_u64(s, v)) {
    return make_error(ErrorKind::Internal,
                      "parse `" + d.path + "/" + file + "`: not a number: `" + trim(s) + "`");
  }
  return v;
}

bool cg_exists(const CgDir& d, const std::string& file) {
  return ::faccessat(d.fd.get(), file.c_str(), F_OK, 0) == 0;
}

std::vector<std::string> cg_list_files(const CgDir& d) {
  std::vector<std::string> out;
  int dfd = ::dup(d.fd.get());
  if (dfd < 0) return out;
  DIR* dir = ::fdopendir(dfd);
  if (!dir) {
    ::close(dfd);
    return out;
  }
  ::rewinddir(dir);
  while (auto* e = ::readdir(dir)) {
    if (e->d_type == DT_REG) out.emplace_back(e->d_name);
  }
  ::closedir(dir);
  std::sort(out.begin(), out.end());
  return out;
}

std::map<std::string, uint64_t> parse_kv(std::string_view text) {
  std::map<std::string, uint64_t> m;
  for (auto& line : split(text, '\n')) {
    auto parts = split(trim(line), ' ');
    if (parts.size() != 2) continue;
    uint64_t v = 0;
    if (parse_cg_u64(parts[1], v)) m[parts[0]] = v;
  }
  return m;
}

Result<std::map<std::string, uint64_t>> cg_read_kv(const CgDir& d, const std::string& file) {
  CR_ASSIGN(std::string s, cg_read(d, file));
  return parse_kv(s);
}

std::vector<uint64_t> parse_u64_list(std::string_view text) {
  std::vector<uint64_t> out;
  std::string cur;
  auto flush = [&] {
    uint64_t v = 0;
    if (!cur.empty() && parse_cg_u64(cur, v)) out.push_back(v);
    cur.clear();
  };
  for (char c : text) {
    if (c == ' ' || c == '\n' || c == '\t')
      flush();
    else
      cur.push_back(c);
  }
  flush();
  return out;
}

Result<std::vector<pid_t>> cg_read_procs(const CgDir& d) {
  CR_ASSIGN(std::string s, cg_read(d, "cgroup.procs"));
  std::vector<pid_t> pids;
  for (auto v : parse_u64_list(s)) pids.push_back(static_cast<pid_t>(v));
  return pids;
}

// The names of the sub-directories (child cgroups) of an open directory, which it closes.
static std::vector<std::string> take_subdirs(DIR* dir) {
  std::vector<std::string> subs;
  while (auto* e = ::readdir(dir)) {
    std::string n = e->d_name;
    if (n == "." || n == ".." || e->d_type != DT_DIR) continue;
    subs.push_back(n);
  }
  ::closedir(dir);
  return subs;
}

static Status walk_procs(const std::string& path, std::vector<pid_t>& out) {
  auto d = open_cgdir(path);
  if (!d) {
    if (d.error().err == ENOENT) return {};  // removed while walking
    return std::move(d).error();
  }
  auto procs = cg_read_procs(*d);
  if (!procs) {
    if (procs.error().err == ENOENT || procs.error().err == ENODEV) return {};
    return std::move(procs).error();
  }
  out.insert(out.end(), procs->begin(), procs->end());
  int dfd = ::dup(d->fd.get());
  if (dfd < 0) return sys_error("dup `" + path + "`");
  DIR* dir = ::fdopendir(dfd);
  if (!dir) {
    ::close(dfd);
    return sys_error("opendir `" + path + "`");
  }
  std::vector<std::string> subs = take_subdirs(dir);
  for (auto& s : subs) CR_TRY(walk_procs(path + "/" + s, out));
  return {};
}

Result<std::vector<pid_t>> procs_recursive(const std::string& path) {
  std::vector<pid_t> out;
  CR_TRY(walk_procs(path, out));
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

static Status rmdir_one(const std::string& path) {
  // Processes that were just killed leave the cgroup a moment later: retry EBUSY.
  for (int i = 0;; ++i) {
    if (::rmdir(path.c_str()) == 0 || errno == ENOENT) return {};
    if (errno != EBUSY || i >= 500) return sys_error("remove cgroup `" + path + "`");
    struct timespec ts = {0, 10 * 1000 * 1000};
    nanosleep(&ts, nullptr);
  }
}

Status rmdir_tree(const std::string& path) {
  // A container's cgroup rarely has sub-cgroups: removed at once, and read (their names)
  // only when that fails with sub-cgroups in it (EBUSY in a cgroupfs, ENOTEMPTY elsewhere)
  // or processes still leaving it (EBUSY), instead of 5 syscalls of opendir per hierarchy.
  if (::rmdir(path.c_str()) == 0 || errno == ENOENT) return {};
  if (errno != EBUSY && errno != ENOTEMPTY) return sys_error("remove cgroup `" + path + "`");
  DIR* dir = ::opendir(path.c_str());
  if (!dir) {
    if (errno == ENOENT) return {};
    return sys_error("open cgroup `" + path + "`");
  }
  std::vector<std::string> subs = take_subdirs(dir);
  for (auto& s : subs) CR_TRY(rmdir_tree(path + "/" + s));
  return rmdir_one(path);
}

std::string clean_path(const std::string& p) {
  if (p.empty()) return "";
  bool abs = p[0] == '/';
  std::vector<std::string> out;
  for (auto& c : split(p, '/')) {
    if (c.empty() || c == ".") continue;
    if (c == "..") {
      if (!out.empty()) out.pop_back();
      continue;
    }
    out.push_back(c);
  }
  std::string r = join(out, "/");
  if (abs) return "/" + r;
  return r;
}

std::string path_join(const std::string& a, const std::string& b) {
  if (a.empty()) return b;
  if (b.empty()) return a;
  std::string r = a;
  while (r.size() > 1 && r.back() == '/') r.pop_back();
  std::string t = b;
  while (!t.empty() && t.front() == '/') t.erase(0, 1);
  if (t.empty()) return r;
  if (r == "/") return "/" + t;
  return r + "/" + t;
}

}  // namespace crunner::cgroups
