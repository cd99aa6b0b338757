// V1Manager: cgroup v1 (Legacy), and v1 + the unified hierarchy (Hybrid).
#include <signal.h>
#include <sys/eventfd.h>

#include <set>

#include "base/eintr.hpp"
#include "base/file.hpp"
#include "cgroups/managers_impl.hpp"
#include "cgroups/v1.hpp"
#include "cgroups/v2.hpp"

namespace crunner::cgroups {

namespace {

class V1OomWatch : public OomWatch {
 public:
  V1OomWatch(UniqueFd efd, UniqueFd ocfd, CgDir d)
      : efd_(std::move(efd)), ocfd_(std::move(ocfd)), dir_(std::move(d)) {}
  int fd() const override { return efd_.get(); }
  Result<uint64_t> consume() override {
    uint64_t n = 0;
    if (CR_RETRY(::read(efd_.get(), &n, sizeof n)) < 0) {
      if (errno == EAGAIN) return uint64_t{0};
      return sys_error("read oom eventfd of `" + dir_.path + "`");
    }
    // The eventfd also fires when the cgroup goes away (as runc, check that it still
    // exists). Each notification is one OOM event: the oom_kill counter is not reliable here
    // because the notification comes before the kill.
    if (!cg_exists(dir_, "cgroup.event_control")) return uint64_t{0};
    return n;
  }

 private:
  UniqueFd efd_, ocfd_;
  CgDir dir_;
};

}  // namespace

V1Manager::V1Manager(std::string root, std::string inner, std::map<std::string, std::string> paths,
                     std::string unified)
    : root_(std::move(root)),
      inner_(std::move(inner)),
      paths_(std::move(paths)),
      unified_(std::move(unified)) {}

std::vector<std::string> V1Manager::unique_dirs() const {
  std::set<std::string> s;
  for (auto& [c, p] : paths_) s.insert(p);
  return {s.begin(), s.end()};
}

Result<CgDir> V1Manager::dir(const std::string& ctrl, const std::string& what) const {
  auto it = paths_.find(ctrl);
  if (auto d = dropped_.find(ctrl); it == paths_.end() && d != dropped_.end())
    return make_error(ErrorKind::Permission, "cannot set " + what +
                                                 ": container could not join or create cgroup `" +
                                                 d->second + "` (rootless: permission denied)");
  // A rootless container loaded from its state lists only the hierarchies create could use:
  // a missing one is a cgroup it could not create or join, not an unmounted controller.
  if (it == paths_.end() && rootless_)
    return make_error(ErrorKind::Permission,
                      "cannot set " + what + ": the container has no " + ctrl +
                          " cgroup (rootless: it could not create or join one)");
  if (it == paths_.end())
    return make_error(ErrorKind::Unsupported, "cannot set " + what + ": the " + ctrl +
                                                  " controller is not mounted under `" + root_ +
                                                  "`");
  return open_cgdir(it->second);
}

bool V1Manager::drop_if_denied(const std::string& dir, const Error& e) {
  if (!ignore_denied_ || (e.err != EPERM && e.err != EACCES && e.err != EROFS)) return false;
  if (dir == unified_) {
    unified_.clear();
    return true;
  }
  for (auto it = paths_.begin(); it != paths_.end();) {
    if (it->second == dir) {
      dropped_[it->first] = dir;
      it = paths_.erase(it);
    } else {
      ++it;
    }
  }
  return true;
}

Status V1Manager::create() {
  for (auto& p : unique_dirs()) {
    auto r = mkdir_p(p);
    if (!r && drop_if_denied(p, r.error())) continue;
    CR_TRY_CTX(r, "create cgroup");
  }
  if (auto it = paths_.find("cpuset"); it != paths_.end() && !cpuset_mount_.empty())
    CR_TRY_CTX(v1::cpuset_inherit(cpuset_mount_, it->second), "create cgroup");
  if (!unified_.empty()) {
    auto r = mkdir_p(unified_);
    if (!r && !drop_if_denied(unified_, r.error())) return r.error().context("create cgroup");
  }
  return {};
}

Status V1Manager::add_pid(pid_t pid) {
  std::string s = std::to_string(pid);
  std::vector<std::string> dirs = unique_dirs();
  if (!unified_.empty()) dirs.push_back(unified_);
  for (auto& p : dirs) {
    auto r = open_cgdir(p);
    Status w = r.ok() ? cg_write(*r, "cgroup.procs", s) : Status(std::move(r).error());
    if (!w && drop_if_denied(p, w.error())) continue;
    CR_TRY(w);
  }
  return {};
}

Status V1Manager::apply(const Resources& r) {
  if (r.pids_limit) {
    CR_ASSIGN(CgDir d, dir("pids", "pids.limit"));
    CR_TRY(v1::set_pids(d, r.pids_limit));
  }
  if (wants_memory(r.memory) || r.memory.check_before_update) {
    CR_ASSIGN(CgDir d, dir("memory", "memory limits"));
    CR_TRY(v1::set_memory(d, r.memory));
  }
  if (wants_cpu(r.cpu)) {
    CR_ASSIGN(CgDir d, dir("cpu", "cpu limits"));
    CR_TRY(v1::set_cpu(d, r.cpu));
  }
  if (wants_cpuset(r.cpu)) {
    CR_ASSIGN(CgDir d, dir("cpuset", "cpu.cpus/mems"));
    CR_TRY(v1::set_cpuset(d, r.cpu));
  }
  if (wants_blkio(r.block_io)) {
    CR_ASSIGN(CgDir d, dir("blkio", "blockIO limits"));
    CR_TRY(v1::set_blkio(d, r.block_io));
  }
  if (!r.hugepage_limits.empty()) {
    if (!has("hugetlb") && !unified_.empty()) {
      // Hybrid hosts may run hugetlb on the unified hierarchy: use it when it is enabled for
      // our cgroup there (we never enable controllers in a hierarchy root we do not own).
      CR_ASSIGN(CgDir u, open_cgdir(unified_));
      if (cg_exists(u, "hugetlb." + r.hugepage_limits.front().page_size + ".max")) {
        CR_TRY(v2::set_hugetlb(u, r.hugepage_limits));
      } else {
        return make_error(ErrorKind::Unsupported,
                          "cannot set hugepageLimits: the hugetlb controller is not mounted "
                          "under `" +
                              root_ + "` and not enabled for `" + unified_ + "`");
      }
    } else {
      CR_ASSIGN(CgDir d, dir("hugetlb", "hugepageLimits"));
      CR_TRY(v1::set_hugetlb(d, r.hugepage_limits));
    }
  }
  if (r.network.class_id) {
    CR_ASSIGN(CgDir d, dir("net_cls", "network.classID"));
    CR_TRY(v1::set_net_cls(d, r.network));
  }
  if (!r.network.priorities.empty()) {
    CR_ASSIGN(CgDir d, dir("net_prio", "network.priorities"));
    CR_TRY(v1::set_net_prio(d, r.network));
  }
  if (!r.rdma.empty()) {
    CR_ASSIGN(CgDir d, dir("rdma", "rdma limits"));
    CR_TRY(v1::set_rdma(d, r.rdma));
  }
  if (r.devices && !rootless_) {  // rootless: never (runc), the kernel refuses them anyway
    CR_ASSIGN(CgDir d, dir("devices", "device rules"));
    CR_TRY(v1::set_devices(d, *r.devices));
  }
  if (!r.unified.empty()) {
    if (unified_.empty())
      // runc's words first (runc and crun refuse unified on any v1 host, hybrid too)
      return make_error(ErrorKind::Unsupported,
                        "invalid configuration: cannot use unified on cgroup v1 "
                        "(linux.resources.unified needs cgroup v2; this host is cgroup v1 only)");
    CR_ASSIGN(CgDir d, open_cgdir(unified_));
    CR_TRY(v2::set_unified(d, r.unified));
  }
  return {};
}

Status V1Manager::freeze(bool frozen) {
  CR_ASSIGN(CgDir d, dir("freezer", frozen ? "freeze" : "thaw"));
  return v1::set_freezer(d, frozen);
}

Result<bool> V1Manager::frozen() const {
  CR_ASSIGN(CgDir d, dir("freezer", "read freezer state"));
  return v1::is_frozen(d);
}

Result<std::vector<pid_t>> V1Manager::pids() const {
  for (const char* c : {"pids", "freezer", "memory", "devices", "cpu"}) {
    auto it = paths_.find(c);
    if (it != paths_.end()) return procs_recursive(it->second);
  }
  if (!paths_.empty()) return procs_recursive(paths_.begin()->second);
  return std::vector<pid_t>{};
}

Result<Stats> V1Manager::stats() const {
  Stats s;
  auto with = [&](const char* ctrl, Status (*fn)(const CgDir&, Stats&)) -> Status {
    auto it = paths_.find(ctrl);
    if (it == paths_.end()) return {};
    CR_ASSIGN(CgDir d, open_cgdir(it->second));
    return fn(d, s);
  };
  CR_TRY_CTX(with("memory", v1::read_memory), "memory stats");
  CR_TRY_CTX(with("cpuacct", v1::read_cpuacct), "cpu stats");
  CR_TRY_CTX(with("cpu", v1::read_cpu), "cpu stats");
  CR_TRY_CTX(with("pids", v1::read_pids), "pids stats");
  CR_TRY_CTX(with("blkio", v1::read_blkio), "blkio stats");
  CR_TRY_CTX(with("hugetlb", v1::read_hugetlb), "hugetlb stats");
  if (!has("hugetlb") && !unified_.empty()) {
    if (auto u = open_cgdir(unified_); u.ok()) CR_TRY_CTX(v2::read_hugetlb(*u, s), "hugetlb stats");
  }
  return s;
}

Status V1Manager::kill_all(int sig) {
  return signal_all_frozen(*this, sig);
}

Status V1Manager::destroy() {
  std::vector<std::string> dirs = unique_dirs();
  if (!unified_.empty()) dirs.push_back(unified_);
  Status first;
  for (auto& p : dirs) {
    auto r = rmdir_tree(p);
    if (!r && first.ok()) first = r;
  }
  return first;
}

void V1Manager::remove_unused() {
  std::vector<std::string> dirs = unique_dirs();
  if (!unified_.empty()) dirs.push_back(unified_);
  for (auto& p : dirs) {
    auto procs = procs_recursive(p);
    if (procs.ok() && procs->empty()) (void)rmdir_tree(p);  // retries while our init leaves
  }
}

bool V1Manager::exists() const {
  for (auto& p : unique_dirs())
    if (path_exists(p)) return true;
  return !unified_.empty() && path_exists(unified_);
}

Result<UniqueFd> V1Manager::unified_dir_fd() {
  return make_error(ErrorKind::Unsupported,
                    "CLONE_INTO_CGROUP needs cgroup v2; this host's controllers are v1");
}

Result<std::unique_ptr<OomWatch>> V1Manager::watch_oom() {
  CR_ASSIGN(CgDir d, dir("memory", "oom notification"));
  CR_ASSIGN(UniqueFd oc, open_at(d.fd.get(), "memory.oom_control", O_RDONLY));
  int e = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (e < 0) return sys_error("eventfd for oom notification");
  UniqueFd efd(e);
  CR_TRY(cg_write(d, "cgroup.event_control",
                  std::to_string(efd.get()) + " " + std::to_string(oc.get())));
  return std::unique_ptr<OomWatch>(new V1OomWatch(std::move(efd), std::move(oc), std::move(d)));
}

nlohmann::json V1Manager::to_json() const {
  nlohmann::json j;
  j["mode"] = mode_name(mode());
  j["root"] = root_;
  j["path"] = inner_;
  j["paths"] = paths_;
  if (!unified_.empty()) j["unified"] = unified_;
  if (rootless_) j["rootless"] = true;
  return j;
}

}  // namespace crunner::cgroups
