// A cgroup directory opened once, plus the small readers/writers every controller uses.
//
// Controllers are plain functions over a CgDir, so unit tests run against a fake
// tree in a temp directory. Errors name the full file path and the value.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.hpp"
#include "base/fd.hpp"

namespace crunner::cgroups {

struct CgDir {
  UniqueFd fd;
  std::string path;  // absolute path, for messages and rmdir
};

Result<CgDir> open_cgdir(const std::string& path);
// "write `value` to `/sys/fs/cgroup/x/memory.max`: invalid argument"
// Opens with O_TRUNC like runc, so that on a fake tree a file holds the last value written.
Status cg_write(const CgDir& d, const std::string& file, std::string_view value);
// A cgroup file opened at its first value and kept open for the next ones, each its own
// write() (the kernel takes one devices rule per write): devices.allow was opened for every
// rule, 12 times per container with the default list. The same errors as cg_write.
class CgFile {
 public:
  CgFile(const CgDir& d, std::string file) : d_(d), file_(std::move(file)) {}
  Status write(std::string_view value);

 private:
  const CgDir& d_;
  std::string file_;
  UniqueFd fd_;
};
// Test seam: called with (full path, value) before every cg_write. Empty: none.
using WriteObserver = std::function<void(const std::string&, std::string_view)>;
void set_write_observer(WriteObserver obs);
Result<std::string> cg_read(const CgDir& d, const std::string& file);
// Reads a single number; "max" reads as UINT64_MAX.
Result<uint64_t> cg_read_u64(const CgDir& d, const std::string& file);
bool cg_exists(const CgDir& d, const std::string& file);
// Names of the regular files in the directory (for hugetlb.<size>.* discovery).
std::vector<std::string> cg_list_files(const CgDir& d);
// "key value" lines (memory.stat, cpu.stat, memory.events, ...).
Result<std::map<std::string, uint64_t>> cg_read_kv(const CgDir& d, const std::string& file);
std::map<std::string, uint64_t> parse_kv(std::string_view text);
// Whitespace-separated numbers on one or more lines (cpuacct.usage_percpu).
std::vector<uint64_t> parse_u64_list(std::string_view text);
// "123" or "max" (UINT64_MAX); false on garbage.
bool parse_cg_u64(std::string_view s, uint64_t& out);
// Pids listed in cgroup.procs of this directory only.
Result<std::vector<pid_t>> cg_read_procs(const CgDir& d);
// Pids of the directory and all its descendants, walking the tree.
Result<std::vector<pid_t>> procs_recursive(const std::string& path);
// rmdir of path and every sub-directory (deepest first); ENOENT is success.
// Retries EBUSY while processes are still dying.
Status rmdir_tree(const std::string& path);

// runc's CleanPath: lexically cleaned, and a relative path can not climb above its base.
std::string clean_path(const std::string& p);
std::string path_join(const std::string& a, const std::string& b);

}  // namespace crunner::cgroups
