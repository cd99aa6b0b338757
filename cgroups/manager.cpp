#include "cgroups/manager.hpp"

#include <dirent.h>
#include <linux/magic.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "base/file.hpp"
#include "base/mountinfo.hpp"
#include "base/text.hpp"
#include "cgroups/managers_impl.hpp"
#include "cgroups/systemd.hpp"

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

// One v1 hierarchy the container joins: where it is mounted, and the cgroup path of that
// mount's root (not "/" when the hierarchy is bind-mounted from a sub-cgroup).
struct V1Mount {
  std::string mountpoint;
  std::string root = "/";
};

// The v1 hierarchies mounted below `root`, from mountinfo (filesystem type "cgroup" and the
// controllers in the super options), as runc finds them: a plain directory that only looks
// like a hierarchy (e.g. /sys/fs/cgroup/hugetlb on the tmpfs) is not one. Keys are the
// controller names, plus "name=systemd" (joined, never limited, as runc does); other named
// hierarchies are left alone. The first mount of a hierarchy wins.
Result<std::map<std::string, V1Mount>> v1_hierarchies(const std::string& root,
                                                      const std::string& mountinfo) {
  CR_ASSIGN(auto mounts, read_mountinfo(mountinfo));
  static const char* known[] = {"cpu",      "cpuacct",    "cpuset", "memory",  "devices",
                                "freezer",  "blkio",      "pids",   "hugetlb", "net_cls",
                                "net_prio", "perf_event", "rdma",   "misc",    "name=systemd"};
  std::string prefix = clean_path(root);
  if (prefix != "/") prefix += "/";
  std::map<std::string, V1Mount> out;
  for (const MountInfo& m : mounts) {
    if (m.fstype != "cgroup" || m.mountpoint.compare(0, prefix.size(), prefix) != 0) continue;
    for (auto& opt : split(m.super_options, ',')) {
      for (const char* k : known)
        if (opt == k && !out.count(opt)) out[opt] = {m.mountpoint, m.root.empty() ? "/" : m.root};
    }
  }
  return out;
}

// `own` (from /proc/self/cgroup) as a path inside a hierarchy whose mount root is `mroot`.
std::string below_mount_root(const std::string& own, const std::string& mroot) {
  if (mroot == "/" || mroot.empty()) return own;
  if (own == mroot) return "/";
  if (own.compare(0, mroot.size(), mroot) == 0 && own[mroot.size()] == '/')
    return own.substr(mroot.size());
  return own;
}

}  // namespace

void Manager::remove_unused() {
  if (auto ps = pids(); ps.ok() && ps->empty()) (void)destroy();
}

std::string first_limit(const Resources& r) {
  if (r.pids_limit) return "pids.limit";
  if (wants_memory(r.memory)) return "memory limits";
  if (wants_cpu(r.cpu)) return "cpu limits";
  if (wants_cpuset(r.cpu)) return "cpu.cpus/mems";
  if (wants_blkio(r.block_io)) return "blockIO limits";
  if (!r.hugepage_limits.empty()) return "hugepageLimits";
  if (!r.rdma.empty()) return "rdma limits";
  if (!r.unified.empty()) return "linux.resources.unified";
  return "";
}

std::string domain_limit(const Resources& r) {
  if (wants_memory(r.memory)) return "memory limits";
  if (wants_blkio(r.block_io)) return "blockIO limits";
  if (!r.hugepage_limits.empty()) return "hugepageLimits";
  if (!r.rdma.empty()) return "rdma limits";
  return "";
}

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
    if (opts.rootless)
      return make_error(ErrorKind::Unsupported,
                        "the systemd cgroup driver for rootless containers (systemd's user "
                        "manager) is not implemented; run without --systemd-cgroup");
    CR_ASSIGN(auto unit, systemd::parse_cgroups_path(cgroups_path, id));
    CR_ASSIGN(std::string cg, systemd::unit_cgroup_path(unit));
    // The scope's directory in every hierarchy, from each hierarchy's root (absolute path).
    ManagerOptions fs_opts = opts;
    fs_opts.rootless = false;
    CR_ASSIGN(auto fs, make_manager(cg, id, false, fs_opts));
    return std::unique_ptr<Manager>(
        new SystemdManager(std::move(fs), systemd::unit_name(unit), unit.slice, false));
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
    auto v2m = std::make_unique<V2Manager>(opts.root, full_inner, path_join(opts.root, full_inner));
    if (opts.rootless) v2m->set_rootless(cgroups_path.empty());
    return std::unique_ptr<Manager>(std::move(v2m));
  }
  CR_ASSIGN(auto hier, v1_hierarchies(opts.root, opts.mountinfo));
  if (hier.empty() || (hier.size() == 1 && hier.count("name=systemd")))
    return make_error(ErrorKind::NotFound, "no cgroup v1 controller hierarchies mounted under `" +
                                               opts.root + "` (per `" + opts.mountinfo + "`)");
  std::map<std::string, std::string> paths;
  std::string cpuset_mount;
  for (auto& [ctrl, mnt] : hier) {
    std::string p = inner;
    if (rel)
      p = path_join(below_mount_root(own.v1.count(ctrl) ? own.v1[ctrl] : "/", mnt.root), inner);
    paths[ctrl] = path_join(mnt.mountpoint, p);
    if (ctrl == "cpuset") cpuset_mount = mnt.mountpoint;
  }
  std::string unified;
  if (mode == Mode::Hybrid) {
    std::string p = rel ? path_join(own.v2.empty() ? "/" : own.v2, inner) : inner;
    unified = path_join(opts.root + "/unified", p);
  }
  auto v1m = std::make_unique<V1Manager>(opts.root, inner, paths, unified);
  v1m->set_cpuset_mount(cpuset_mount);
  if (opts.rootless) v1m->set_rootless(cgroups_path.empty());
  return std::unique_ptr<Manager>(std::move(v1m));
}

bool in_user_namespace() {
  auto text = read_file("/proc/self/uid_map");
  if (!text) return false;
  auto f = split(trim(*text), ' ');
  std::vector<std::string> w;
  for (auto& x : f)
    if (!x.empty()) w.push_back(x);
  return !(w.size() == 3 && w[0] == "0" && w[1] == "0" && w[2] == "4294967295");
}

Result<bool> rootless_cgroups(const std::string& flag) {
  if (flag == "true") return true;
  if (flag == "false") return false;
  if (flag != "auto" && !flag.empty())
    return invalid_spec("--rootless `" + flag + "`: want true, false or auto");
  return ::geteuid() != 0 || in_user_namespace();
}

Result<std::unique_ptr<Manager>> load_manager(const nlohmann::json& j) {
  try {
    if (j.value("driver", "") == "systemd") {
      nlohmann::json fs = j;
      fs.erase("driver");
      CR_ASSIGN(auto inner, load_manager(fs));
      return std::unique_ptr<Manager>(new SystemdManager(std::move(inner),
                                                         j.at("unit").get<std::string>(),
                                                         j.at("slice").get<std::string>(), true));
    }
    std::string mode = j.at("mode").get<std::string>();
    std::string root = j.at("root").get<std::string>();
    std::string inner = j.at("path").get<std::string>();
    if (mode == "unified") {
      auto v2m = std::make_unique<V2Manager>(root, inner, j.at("unified").get<std::string>());
      if (j.value("rootless", false)) v2m->set_rootless(false, j.value("denied", false));
      return std::unique_ptr<Manager>(std::move(v2m));
    }
    if (mode != "legacy" && mode != "hybrid")
      return invalid_spec("saved cgroup state: unknown mode `" + mode + "`");
    auto paths = j.at("paths").get<std::map<std::string, std::string>>();
    std::string unified = mode == "hybrid" ? j.at("unified").get<std::string>() : "";
    auto v1m = std::make_unique<V1Manager>(root, inner, paths, unified);
    if (j.value("rootless", false)) v1m->set_rootless(false);
    return std::unique_ptr<Manager>(std::move(v1m));
  } catch (const std::exception& e) {
    return invalid_spec(std::string("saved cgroup state: ") + e.what());
  }
}

Status signal_all_frozen(Manager& m, int sig) {
  // Freeze so that nothing forks past the signal. A task the freezer cannot stop (one
  // waiting under OOM with the OOM killer disabled) must not stop the kill: go on unfrozen,
  // as runc does.
  auto was = m.frozen();
  bool froze = false;
  if (was.ok() && !*was) {
    // An empty cgroup stays empty (only a member can fork into it), so there is nothing
    // to freeze: each freezer.state write here costs ~1.5 ms, half of a `run`'s teardown.
    CR_ASSIGN(auto before, m.pids());
    if (before.empty()) return {};
    froze = m.freeze(true).ok();
  }
  CR_ASSIGN(auto pids, m.pids());
  Status first;
  for (pid_t p : pids) {
    if (::kill(p, sig) < 0 && errno != ESRCH && first.ok())
      first = sys_error("kill process " + std::to_string(p));
  }
  // Thaw so that the signal is delivered; a paused container stays paused for other signals.
  bool thaw = froze || (was.ok() && *was && sig == SIGKILL);
  if (thaw) CR_TRY_CTX(m.freeze(false), "signal all processes");
  return first;
}

}  // namespace crunner::cgroups
