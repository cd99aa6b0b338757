// The compiled-filter cache: <cache_dir>/<sha256>.bpf, so that the next container with
// the same profile skips libseccomp.
//
// File layout (host endianness; the key covers the machine):
//   "CRSCMPv1"  u32 n_insns  u32 warnings_len  char key[64]  sock_filter[n]  warnings
#include <dirent.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <optional>

#include "base/eintr.hpp"
#include "base/fd.hpp"
#include "base/file.hpp"
#include "base/sha256.hpp"
#include "base/text.hpp"
#include "seccomp/profile.hpp"
#include "seccomp/seccomp.hpp"

namespace crunner::seccomp {

using json = nlohmann::json;

namespace {

constexpr char kMagic[8] = {'C', 'R', 'S', 'C', 'M', 'P', 'v', '1'};
constexpr size_t kHeader = sizeof kMagic + 4 + 4 + 64;

std::string encode(const std::string& key, const std::vector<sock_filter>& insns,
                   const std::vector<std::string>& warnings) {
  std::string w = join(warnings, "\n");
  uint32_t n = static_cast<uint32_t>(insns.size()), wl = static_cast<uint32_t>(w.size());
  std::string out(kMagic, sizeof kMagic);
  out.append(reinterpret_cast<const char*>(&n), 4);
  out.append(reinterpret_cast<const char*>(&wl), 4);
  out += key;
  out.append(reinterpret_cast<const char*>(insns.data()), insns.size() * sizeof(sock_filter));
  out += w;
  return out;
}

// False on anything unexpected: the entry is then recompiled and replaced.
bool decode(const std::string& blob, const std::string& key, std::vector<sock_filter>& insns,
            std::vector<std::string>& warnings) {
  if (blob.size() < kHeader || std::memcmp(blob.data(), kMagic, sizeof kMagic) != 0) return false;
  uint32_t n = 0, wl = 0;
  std::memcpy(&n, blob.data() + 8, 4);
  std::memcpy(&wl, blob.data() + 12, 4);
  if (blob.compare(16, 64, key) != 0) return false;
  if (n == 0 || n > BPF_MAXINSNS) return false;
  if (blob.size() != kHeader + size_t(n) * sizeof(sock_filter) + wl) return false;
  insns.resize(n);
  std::memcpy(insns.data(), blob.data() + kHeader, size_t(n) * sizeof(sock_filter));
  std::string w = blob.substr(kHeader + size_t(n) * sizeof(sock_filter));
  warnings.clear();
  if (!w.empty()) warnings = split(w, '\n');
  return true;
}

// Keeps the cache bounded: past kMaxEntries files, the oldest (by mtime; a hit
// refreshes it) are removed. Best effort, errors ignored.
void prune(const std::string& dir) {
  DIR* d = opendir(dir.c_str());
  if (!d) return;
  std::vector<std::pair<timespec, std::string>> entries;
  while (dirent* e = readdir(d)) {
    std::string name = e->d_name;
    if (name.size() != 68 || name.compare(64, 4, ".bpf") != 0) continue;
    struct stat st {};
    if (fstatat(dirfd(d), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0)
      entries.emplace_back(st.st_mtim, name);
  }
  if (entries.size() > kMaxCacheEntries) {
    std::sort(entries.begin(), entries.end(), [](auto& a, auto& b) {
      return a.first.tv_sec != b.first.tv_sec ? a.first.tv_sec < b.first.tv_sec
                                              : a.first.tv_nsec < b.first.tv_nsec;
    });
    for (size_t i = 0; i < entries.size() - kMaxCacheEntries; i++)
      unlinkat(dirfd(d), entries[i].second.c_str(), 0);
  }
  closedir(d);
}

// A filter decides what a container may do: only trust files and a directory that
// nobody but us could have written (owned by our euid, not group/world-writable).
bool trusted(const struct stat& st) {
  return st.st_uid == geteuid() && (st.st_mode & (S_IWGRP | S_IWOTH)) == 0;
}

bool trusted_dir(const std::string& dir) {
  struct stat st {};
  return lstat(dir.c_str(), &st) == 0 && S_ISDIR(st.st_mode) && trusted(st);
}

// The cached file's bytes, or nothing when absent, a symlink, or untrusted.
std::optional<std::string> read_trusted(const std::string& path) {
  int fd = CR_RETRY(open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
  if (fd < 0) return std::nullopt;
  UniqueFd f(fd);
  struct stat st {};
  if (fstat(f.get(), &st) < 0 || !S_ISREG(st.st_mode) || !trusted(st)) return std::nullopt;
  auto r = read_fd(f.get());
  if (!r) return std::nullopt;
  return std::move(r).value();
}

}  // namespace

std::string cache_dir_for_root(const std::string& state_root) {
  return state_root + "/@seccomp-cache";
}

std::string cache_key(const json& linux_seccomp) {
  utsname u{};
  uname(&u);
  Sha256 h;
  // Everything the BPF depends on: our pipeline (the ENOSYS stub), libseccomp (its
  // syscall tables and code generation), the kernel it probed, and the profile.
  h.update("crunner seccomp cache v1\n");
  h.update("libseccomp " + libseccomp_version() + "\n");
  h.update(std::string("kernel ") + u.release + " " + u.machine + "\n");
  h.update(linux_seccomp.dump());  // object keys are sorted: a canonical form
  return h.hexdigest();
}

Result<Program> compile_cached(const json& linux_seccomp, const std::string& cache_dir,
                               std::vector<std::string>* warnings) {
  CR_ASSIGN(Profile p, parse(linux_seccomp, "linux.seccomp"));
  CR_ASSIGN(Program out, program_shell(p, warnings));
  std::string key;
  try {
    key = cache_key(linux_seccomp);
  } catch (const std::exception& e) {  // dump() throws on invalid UTF-8
    return invalid_spec(std::string("linux.seccomp: ") + e.what());
  }
  std::string path = cache_dir + "/" + key + ".bpf";
  std::vector<std::string> bpf_warnings;
  bool dir_ok = trusted_dir(cache_dir);
  std::optional<std::string> blob;
  if (dir_ok) blob = read_trusted(path);
  if (blob && decode(*blob, key, out.insns, bpf_warnings)) {
    utimensat(AT_FDCWD, path.c_str(), nullptr, 0);  // recently used: pruned last
    if (warnings) warnings->insert(warnings->end(), bpf_warnings.begin(), bpf_warnings.end());
    return out;
  }
  bpf_warnings.clear();
  CR_ASSIGN(out.insns, compile_bpf(p, &bpf_warnings));
  if (warnings) warnings->insert(warnings->end(), bpf_warnings.begin(), bpf_warnings.end());
  Status st = mkdir_p(cache_dir, 0700);
  if (st && !trusted_dir(cache_dir))
    st = make_error(ErrorKind::Permission,
                    "`" + cache_dir + "` is writable by others or not ours: not used");
  if (st) st = write_file_atomic(path, encode(key, out.insns, bpf_warnings), 0600);
  if (st) prune(cache_dir);
  if (!st && warnings) warnings->push_back("seccomp cache: " + st.error().what());
  return out;
}

}  // namespace crunner::seccomp
