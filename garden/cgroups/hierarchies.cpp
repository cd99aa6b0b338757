#include "garden/cgroups/hierarchies.hpp"

#include "base/file.hpp"
#include "base/mountinfo.hpp"
#include "base/text.hpp"

namespace garden::cgroups {

namespace {

// Whether a v1 mount's super options select exactly the hierarchy of `ctrls` (the second field
// of a /proc/<pid>/cgroup line: "memory", "cpu,cpuacct", "name=systemd").
bool selects(const crunner::MountInfo& m, const std::string& ctrls) {
  auto want = crunner::split(ctrls, ',');
  for (const std::string& c : want) {
    bool found = false;
    for (const std::string& opt : crunner::split(m.super_options, ','))
      if (opt == c) found = true;
    if (!found) return false;
  }
  return !want.empty();
}

// `path` (the cgroup of a /proc/<pid>/cgroup line) below the mount `m`, which may be rooted at
// a sub-cgroup (a bind mount of one).
std::string dir_in(const crunner::MountInfo& m, const std::string& path) {
  std::string rel = path;
  if (!m.root.empty() && m.root != "/") {
    if (rel != m.root && rel.compare(0, m.root.size() + 1, m.root + "/") != 0) return "";
    rel = rel.substr(m.root.size());
  }
  return m.mountpoint + (rel == "/" ? "" : rel);
}

}  // namespace

std::vector<Hierarchy> hierarchies(int pid, const std::string& proc_root,
                                   const std::string& mountinfo) {
  std::vector<Hierarchy> out;
  if (pid <= 0) return out;
  auto text = crunner::read_file(proc_root + "/" + std::to_string(pid) + "/cgroup");
  auto mounts = crunner::read_mountinfo(mountinfo);
  if (!text || !mounts) return out;
  for (const std::string& line : crunner::split(*text, '\n')) {
    auto first = line.find(':'), second = line.find(':', first + 1);
    if (first == std::string::npos || second == std::string::npos) continue;
    std::string ctrls = line.substr(first + 1, second - first - 1), path = line.substr(second + 1);
    if (path.empty() || path[0] != '/') continue;
    for (const crunner::MountInfo& m : *mounts) {
      bool match =
          ctrls.empty() ? m.fstype == "cgroup2" : m.fstype == "cgroup" && selects(m, ctrls);
      if (!match) continue;
      if (std::string d = dir_in(m, path); !d.empty()) {
        out.push_back({ctrls, m.mountpoint, d});
        break;
      }
    }
  }
  return out;
}

std::vector<std::string> cgroup_dirs(int pid, const std::string& proc_root,
                                     const std::string& mountinfo) {
  std::vector<std::string> out;
  for (Hierarchy& h : hierarchies(pid, proc_root, mountinfo)) out.push_back(std::move(h.dir));
  return out;
}

}  // namespace garden::cgroups
