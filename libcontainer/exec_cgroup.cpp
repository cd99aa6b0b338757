#include "libcontainer/exec_cgroup.hpp"

#include <sys/stat.h>

#include <set>

#include "base/error.hpp"
#include "base/text.hpp"
#include "cgroups/cgdir.hpp"

namespace crunner {

Result<std::map<std::string, std::string>> parse_sub_cgroups(const std::vector<std::string>& args) {
  std::map<std::string, std::string> out;
  for (const auto& a : args) {
    auto colon = a.find(':');
    if (colon == std::string::npos) {
      if (args.size() != 1)
        return invalid_spec("invalid --cgroup argument: " + a + " (missing <controller>: prefix)");
      out[""] = a;
      continue;
    }
    std::string ctrls = a.substr(0, colon), path = a.substr(colon + 1);
    if (path.find(':') != std::string::npos) return invalid_spec("invalid --cgroup argument: " + a);
    if (ctrls.empty())
      return invalid_spec("invalid --cgroup argument: " + a + " (empty <controller> prefix)");
    for (auto& c : split(ctrls, ',')) {
      if (c.empty())
        return invalid_spec("invalid --cgroup argument: " + a + " (empty <controller> prefix)");
      if (out.count(c))
        return invalid_spec("invalid --cgroup argument(s): controller " + c +
                            " specified multiple times");
      out[c] = path;
    }
  }
  return out;
}

namespace {

// base + sub, refused unless it stays at or below base. The errors carry runc 1.1.5's words,
// which its callers' tests match ("<sub> is not a sub cgroup path", "adding pid ...
// <dir>/cgroup.procs: no such file"), though crunner refuses before any process exists.
Result<std::string> sub_dir(const std::string& base, const std::string& sub) {
  // Clean the sub path as if rooted at base: ".." that climbs above it is an escape.
  int depth = 0;
  for (auto& c : split(sub, '/')) {
    if (c.empty() || c == ".") continue;
    depth += c == ".." ? -1 : 1;
    if (depth < 0)
      return invalid_spec("--cgroup: " + sub + " is not a sub cgroup path (it leaves `" + base +
                          "`)");
  }
  std::string cleaned = cgroups::clean_path("/" + sub);
  std::string dir = cgroups::path_join(base, cleaned);
  struct stat st;
  if (::stat(dir.c_str(), &st) < 0 || !S_ISDIR(st.st_mode))
    return make_error(ErrorKind::NotFound, "--cgroup: error adding pid to cgroups: " + dir +
                                               "/cgroup.procs: no such file or directory (the "
                                               "sub-cgroup does not exist: create it first)");
  return dir;
}

}  // namespace

Result<SubCgroupTargets> resolve_sub_cgroups(const nlohmann::json& saved,
                                             const std::map<std::string, std::string>& subs) {
  if (!saved.is_object())
    return make_error(ErrorKind::Unsupported, "--cgroup: the container has no cgroup");
  SubCgroupTargets t;
  std::string mode = saved.value("mode", "");
  std::map<std::string, std::string> paths;
  std::string unified;
  try {
    if (saved.contains("paths")) paths = saved["paths"].get<std::map<std::string, std::string>>();
    unified = saved.value("unified", "");
  } catch (const std::exception& e) {
    return invalid_spec(std::string("saved cgroup state: ") + e.what());
  }
  auto all = subs.find("");
  for (auto& [ctrl, sub] : subs) {
    if (ctrl.empty()) continue;
    if (mode == "unified")
      return invalid_spec("--cgroup " + ctrl + ":" + sub +
                          ": per-controller paths need cgroup v1; on cgroup v2 use --cgroup PATH");
    if (!paths.count(ctrl))
      return invalid_spec("--cgroup: unknown controller `" + ctrl +
                          "` (not a v1 controller hierarchy of this container)");
  }
  // A v1 directory shared by co-mounted controllers is written once; the sub path asked
  // for one of them wins over "stay".
  std::map<std::string, std::string> by_dir;  // container dir -> resolved dir
  for (auto& [ctrl, dir] : paths) {
    std::string target = dir;
    if (all != subs.end()) {
      CR_ASSIGN(target, sub_dir(dir, all->second));
    } else if (auto it = subs.find(ctrl); it != subs.end()) {
      CR_ASSIGN(target, sub_dir(dir, it->second));
    } else if (by_dir.count(dir)) {
      continue;
    }
    by_dir[dir] = target;
  }
  std::set<std::string> seen;
  for (auto& [dir, target] : by_dir)
    if (seen.insert(target).second) t.v1_dirs.push_back(target);
  if (!unified.empty()) {
    t.unified_dir = unified;
    std::string root = saved.value("root", "/sys/fs/cgroup");
    t.unified_mount = mode == "unified" ? root : root + "/unified";
    if (all != subs.end()) {
      CR_ASSIGN(t.unified_dir, sub_dir(unified, all->second));
    }
  }
  return t;
}

}  // namespace crunner
