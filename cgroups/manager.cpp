#include "cgroups/manager.hpp"

#include <dirent.h>
#include <linux/magic.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/statfs.h>

#include "cgroups/managers_impl.hpp"
#include "libcontainer/utils.hpp"

namespace crunner::cgroups {

const char* mode_name(Mode m) {
  switch (m) {
    case Mode::Legacy:
      return "legacy";
    case Mode::Hybrid:
      return "hybrid";
    case Mode::Unified:
      return "unified";
  }
  return "?";
}

Result<Mode> detect_mode(const std::string& root) {
  struct statfs st;
  if (::statfs(root.c_str(), &st) < 0) return sys_error("statfs `" + root + "`");
  if (st.f_type == CGROUP2_SUPER_MAGIC) return Mode::Unified;
  std::string uni = root + "/unified";
  if (::statfs(uni.c_str(), &st) == 0 && st.f_type == CGROUP2_SUPER_MAGIC) return Mode::Hybrid;
  return Mode::Legacy;
}

std::string inner_path(const std::string& cgroups_path, const std::string& id) {
  if (cgroups_path.empty()) return clean_path(id);
  return clean_path(cgroups_path);
}

namespace {

struct OwnCgroups {
  std::map<std::string, std::string> v1;  // controller -> path
  std::string v2;                         // "0::" line
};

OwnCgroups read_own(const std::string& file) {
  OwnCgroups o;
  auto text = read_file(file);
  if (!text) return o;
  for (auto& line : split(*text, '\n')) {
    auto f1 = line.find(':');
    if (f1 == std::string::npos) continue;
    auto f2 = line.find(':', f1 + 1);
    if (f2 == std::string::npos) continue;
    std::string ctrls = line.substr(f1 + 1, f2 - f1 - 1), p = line.substr(f2 + 1);
    if (ctrls.empty()) {
      o.v2 = p;
      continue;
    }
    for (auto& c : split(ctrls, ',')) o.v1[c] = p;
  }
  return o;
}

std::string parent_dir(const std::string& p) {
  auto i = p.rfind('/');
  if (i == std::string::npos || i == 0) return "/";
  return p.substr(0, i);
}

// Controller hierarchies under a v1 root: each real directory ("cpu,cpuacct", "memory"),
// except the hybrid "unified" and named ones like "systemd" (no controller).
Result<std::map<std::string, std::string>> v1_hierarchies(const std::string& root) {
  DIR* dir = ::opendir(root.c_str());
  if (!dir) return sys_error("open cgroup root `" + root + "`");
  std::map<std::string, std::string> out;  // controller -> mount dir name
  static const char* known[] = {"cpu",      "cpuacct",    "cpuset", "memory",  "devices",
                                "freezer",  "blkio",      "pids",   "hugetlb", "net_cls",
                                "net_prio", "perf_event", "rdma",   "misc"};
  while (auto* e = ::readdir(dir)) {
    std::string n = e->d_name;
    if (n == "." || n == ".." || n == "unified" || e->d_type != DT_DIR) continue;
    for (auto& c : split(n, ',')) {
      for (const char* k : known)
        if (c == k) out[c] = n;
    }
  }
  ::closedir(dir);
  return out;
}

}  // namespace

Result<std::unique_ptr<Manager>> make_manager(const std::string& cgroups_path,
                                              const std::string& id, bool systemd,
                                              const ManagerOptions& opts) {
  if (systemd) {
    if (!cgroups_path.empty() && split(cgroups_path, ':').size() != 3)
      return invalid_spec("linux.cgroupsPath `" + cgroups_path +
                          "`: the systemd cgroup driver expects \"slice:prefix:name\"");
    if (!path_exists(opts.systemd_marker))
      return make_error(ErrorKind::Unsupported,
                        "systemd cgroup driver requested (--systemd-cgroup), but systemd is "
                        "not running as pid 1 here (no " +
                            opts.systemd_marker + "); run without --systemd-cgroup");
    return make_error(ErrorKind::Unsupported,
                      "the systemd cgroup driver (--systemd-cgroup) is not implemented; run "
                      "without it");
  }
  Mode mode;
  if (opts.mode) {
    mode = *opts.mode;
  } else {
    CR_ASSIGN(mode, detect_mode(opts.root));
  }
  std::string inner = inner_path(cgroups_path, id);
  if (inner.empty() || inner == "/")
    return invalid_spec("linux.cgroupsPath `" + cgroups_path + "`: names the cgroup root");
  const bool rel = inner[0] != '/';
  OwnCgroups own;
  if (rel) own = read_own(opts.own_cgroup);

  if (mode == Mode::Unified) {
    std::string base = "/";
    // The caller's own cgroup probably has processes: use its parent (as runc does).
    if (rel) base = parent_dir(own.v2.empty() ? "/" : own.v2);
    std::string full_inner = rel ? path_join(base, inner) : inner;
    return std::unique_ptr<Manager>(
        new V2Manager(opts.root, full_inner, path_join(opts.root, full_inner)));
  }
  CR_ASSIGN(auto hier, v1_hierarchies(opts.root));
  if (hier.empty())
    return make_error(ErrorKind::NotFound,
                      "no cgroup v1 controller hierarchies under `" + opts.root + "`");
  std::map<std::string, std::string> paths;
  for (auto& [ctrl, mnt] : hier) {
    std::string p = inner;
    if (rel) p = path_join(own.v1.count(ctrl) ? own.v1[ctrl] : "/", inner);
    paths[ctrl] = path_join(path_join(opts.root, mnt), p);
  }
  std::string unified;
  if (mode == Mode::Hybrid) {
    std::string p = rel ? path_join(own.v2.empty() ? "/" : own.v2, inner) : inner;
    unified = path_join(opts.root + "/unified", p);
  }
  std::string shown = rel ? inner : inner;
  return std::unique_ptr<Manager>(new V1Manager(opts.root, shown, paths, unified));
}

Result<std::unique_ptr<Manager>> load_manager(const nlohmann::json& j) {
  try {
    std::string mode = j.at("mode").get<std::string>();
    std::string root = j.at("root").get<std::string>();
    std::string inner = j.at("path").get<std::string>();
    if (mode == "unified")
      return std::unique_ptr<Manager>(
          new V2Manager(root, inner, j.at("unified").get<std::string>()));
    if (mode != "legacy" && mode != "hybrid")
      return invalid_spec("saved cgroup state: unknown mode `" + mode + "`");
    auto paths = j.at("paths").get<std::map<std::string, std::string>>();
    std::string unified = mode == "hybrid" ? j.at("unified").get<std::string>() : "";
    return std::unique_ptr<Manager>(new V1Manager(root, inner, paths, unified));
  } catch (const std::exception& e) {
    return invalid_spec(std::string("saved cgroup state: ") + e.what());
  }
}

Status signal_all_frozen(Manager& m, int sig) {
  auto was = m.frozen();
  bool can_freeze = was.ok();
  if (can_freeze && !*was) CR_TRY_CTX(m.freeze(true), "signal all processes");
  CR_ASSIGN(auto pids, m.pids());
  Status first;
  for (pid_t p : pids) {
    if (::kill(p, sig) < 0 && errno != ESRCH && first.ok())
      first = sys_error("kill process " + std::to_string(p));
  }
  // Thaw so that the signal is delivered; a paused container stays paused for other signals.
  if (can_freeze && (!*was || sig == SIGKILL)) CR_TRY_CTX(m.freeze(false), "signal all processes");
  return first;
}

}  // namespace crunner::cgroups
