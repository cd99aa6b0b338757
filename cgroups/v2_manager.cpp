// V2Manager: pure cgroup v2 (Unified).
#include <signal.h>
#include <sys/inotify.h>
#include <sys/stat.h>

#include <algorithm>

#include "base/eintr.hpp"
#include "base/file.hpp"
#include "base/text.hpp"
#include "cgroups/device_filter.hpp"
#include "cgroups/managers_impl.hpp"
#include "cgroups/v1.hpp"
#include "cgroups/v2.hpp"

namespace crunner::cgroups {

namespace {

class V2OomWatch : public OomWatch {
 public:
  V2OomWatch(UniqueFd ifd, CgDir d, uint64_t last)
      : ifd_(std::move(ifd)), dir_(std::move(d)), last_(last) {}
  int fd() const override { return ifd_.get(); }
  Result<uint64_t> consume() override {
    char buf[4096];
    while (CR_RETRY(::read(ifd_.get(), buf, sizeof buf)) > 0) {
    }
    auto ev = cg_read_kv(dir_, "memory.events");
    if (!ev) return uint64_t{0};  // cgroup gone
    uint64_t now = (*ev)["oom_kill"], delta = now > last_ ? now - last_ : 0;
    last_ = now;
    return delta;
  }

 private:
  UniqueFd ifd_;
  CgDir dir_;
  uint64_t last_;
};

}  // namespace

V2Manager::V2Manager(std::string root, std::string inner, std::string path)
    : root_(std::move(root)), inner_(std::move(inner)), path_(std::move(path)) {}

bool V2Manager::deny(const Error& e) {
  if (!ignore_denied_ || (e.err != EPERM && e.err != EACCES && e.err != EROFS)) return false;
  denied_ = true;
  return true;
}

namespace {
Error no_cgroup(const std::string& path, const std::string& what) {
  return make_error(ErrorKind::Permission, "cannot " + what +
                                               ": container could not join or create cgroup `" +
                                               path + "` (rootless: permission denied)");
}
}  // namespace

Status V2Manager::create() {
  // mkdir each level; enable the controllers in every ancestor's subtree_control that does not
  // have them yet (the root's usually has them all already).
  std::string rel = path_.substr(root_.size());
  std::string cur = root_;
  for (auto& comp : split(rel, '/')) {
    if (comp.empty()) continue;
    {
      CR_ASSIGN(CgDir parent, open_cgdir(cur));
      auto avail = v2::controllers(parent);
      auto enabled = cg_read(parent, "cgroup.subtree_control");
      if (avail && enabled) {
        auto on = split(trim(*enabled), ' ');
        bool missing = false;
        for (auto& c : *avail) missing = missing || std::find(on.begin(), on.end(), c) == on.end();
        if (missing) (void)v2::enable_subtree_controllers(parent);
      }
    }
    cur += "/" + comp;
    if (::mkdir(cur.c_str(), 0755) < 0 && errno != EEXIST) {
      Error e = sys_error("create cgroup `" + cur + "`");
      if (deny(e)) return {};
      return e;
    }
    CR_TRY(leave_domain_invalid(cur));
  }
  return {};
}

// runc's rule (fs2 CreateCgroupPath): a cgroup created under one that has processes and
// threaded controllers enabled (a thread root) is "domain invalid": nothing can join it
// (EOPNOTSUPP). It is made threaded, so processes can join it and the threaded controllers
// (cpu, cpuset, pids) work; memory, io, hugetlb and rdma then cannot be limited there and
// apply() says so, as runc does. A cgroup already threaded is noted the same way.
Status V2Manager::leave_domain_invalid(const std::string& dir) {
  auto d = open_cgdir(dir);
  if (!d) return {};
  auto type = cg_read(*d, "cgroup.type");
  if (!type) return {};  // no such file (a fake tree): a domain
  std::string t = trim(*type);
  if (t == "domain invalid") {
    CR_TRY_CTX(cg_write(*d, "cgroup.type", "threaded"),
               "cgroup `" + dir + "` is in an invalid state (its parent has processes)");
    threaded_ = dir;
  } else if (t == "threaded" || t == "domain threaded") {
    threaded_ = dir;
  }
  return {};
}

// Whether /proc/<pid>/cgroup puts pid in this cgroup already (clone3 CLONE_INTO_CGROUP).
bool V2Manager::holds(pid_t pid) const {
  auto own = read_file("/proc/" + std::to_string(pid) + "/cgroup");
  if (!own) return false;
  for (const auto& line : split(*own, '\n'))
    if (line.rfind("0::", 0) == 0) return path_join(root_, line.substr(3)) == clean_path(path_);
  return false;
}

// An init cloned into its cgroup is not written again: the write would still take the
// kernel's threadgroup lock for writing, one RCU grace period of every create.
Status V2Manager::add_pid(pid_t pid) {
  if (denied_ || holds(pid)) return {};
  auto d = open_cgdir(path_);
  Status w =
      d.ok() ? cg_write(*d, "cgroup.procs", std::to_string(pid)) : Status(std::move(d).error());
  if (!w && deny(w.error())) return {};
  return w;
}

Status V2Manager::apply(const Resources& r) {
  if (denied_) {
    if (auto what = first_limit(r); !what.empty()) return no_cgroup(path_, "set " + what);
    return {};
  }
  if (!threaded_.empty()) {
    if (auto what = domain_limit(r); !what.empty())
      return make_error(ErrorKind::Unsupported,
                        "cannot set " + what + " in cgroup `" + path_ +
                            "`: cgroup v2 made it threaded (`" + threaded_ +
                            "` is under a cgroup with processes of its own), and threaded "
                            "cgroups take only the cpu, cpuset and pids controllers");
  }
  CR_ASSIGN(CgDir d, open_cgdir(path_));
  CR_TRY(v2::set_pids(d, r.pids_limit));
  CR_TRY(v2::set_memory(d, r.memory));
  CR_TRY(v2::set_io(d, r.block_io));
  CR_TRY(v2::set_cpu(d, r.cpu));
  CR_TRY(v2::set_cpuset(d, r.cpu));
  CR_TRY(v2::set_hugetlb(d, r.hugepage_limits));
  CR_TRY(v1::set_rdma(d, r.rdma));
  // network.classID / priorities have no v2 controller: ignored, as runc does.
  // rootless: never (runc); loading the eBPF program needs privilege anyway
  if (r.devices && !rootless_) CR_TRY(apply_device_filter(d, *r.devices));
  CR_TRY(v2::set_unified(d, r.unified));
  return {};
}

Status V2Manager::freeze(bool frozen) {
  if (denied_) return no_cgroup(path_, frozen ? "freeze" : "thaw");
  CR_ASSIGN(CgDir d, open_cgdir(path_));
  return v2::set_freeze(d, frozen);
}

Result<bool> V2Manager::frozen() const {
  if (denied_) return false;
  CR_ASSIGN(CgDir d, open_cgdir(path_));
  return v2::is_frozen(d);
}

Result<std::vector<pid_t>> V2Manager::pids() const {
  if (denied_) return std::vector<pid_t>{};
  return procs_recursive(path_);
}

Result<Stats> V2Manager::stats() const {
  Stats s;
  if (denied_) return s;
  CR_ASSIGN(CgDir d, open_cgdir(path_));
  if (cg_exists(d, "memory.current")) CR_TRY_CTX(v2::read_memory(d, s), "memory stats");
  if (cg_exists(d, "cpu.stat")) CR_TRY_CTX(v2::read_cpu(d, s), "cpu stats");
  if (cg_exists(d, "pids.current")) CR_TRY_CTX(v2::read_pids(d, s), "pids stats");
  if (cg_exists(d, "io.stat")) CR_TRY_CTX(v2::read_io(d, s), "io stats");
  CR_TRY_CTX(v2::read_hugetlb(d, s), "hugetlb stats");
  return s;
}

Status V2Manager::kill_all(int sig) {
  if (denied_) return {};
  CR_ASSIGN(CgDir d, open_cgdir(path_));
  if (sig == SIGKILL && cg_exists(d, "cgroup.kill")) return cg_write(d, "cgroup.kill", "1");
  return signal_all_frozen(*this, sig);
}

Status V2Manager::destroy() {
  if (denied_) return {};
  return rmdir_tree(path_);
}

bool V2Manager::exists() const {
  if (denied_) return false;
  return path_exists(path_);
}

Result<UniqueFd> V2Manager::unified_dir_fd() {
  if (denied_) return no_cgroup(path_, "clone into the container's cgroup");
  CR_ASSIGN(CgDir d, open_cgdir(path_));
  return std::move(d.fd);
}

Result<std::unique_ptr<OomWatch>> V2Manager::watch_oom() {
  if (denied_) return no_cgroup(path_, "watch for OOM kills");
  CR_ASSIGN(CgDir d, open_cgdir(path_));
  int i = ::inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
  if (i < 0) return sys_error("inotify_init1 for oom notification");
  UniqueFd ifd(i);
  std::string ev = path_ + "/memory.events";
  if (::inotify_add_watch(ifd.get(), ev.c_str(), IN_MODIFY) < 0)
    return sys_error("watch `" + ev + "`");
  std::string cev = path_ + "/cgroup.events";
  if (::inotify_add_watch(ifd.get(), cev.c_str(), IN_MODIFY) < 0)
    return sys_error("watch `" + cev + "`");
  uint64_t last = 0;
  if (auto kv = cg_read_kv(d, "memory.events")) last = (*kv)["oom_kill"];
  return std::unique_ptr<OomWatch>(new V2OomWatch(std::move(ifd), std::move(d), last));
}

nlohmann::json V2Manager::to_json() const {
  nlohmann::json j;
  j["mode"] = "unified";
  j["root"] = root_;
  j["path"] = inner_;
  j["unified"] = path_;
  if (rootless_) j["rootless"] = true;
  if (denied_) j["denied"] = true;
  return j;
}

}  // namespace crunner::cgroups
