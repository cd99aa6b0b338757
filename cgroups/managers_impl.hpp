// The Manager implementations (internal to cgroups/): V1Manager serves Legacy and Hybrid,
// V2Manager serves Unified.
#pragma once

#include <map>

#include "cgroups/dbus.hpp"
#include "cgroups/manager.hpp"

namespace crunner::cgroups {

// Which limits a Resources asks for (shared by the v1 and v2 managers).
inline bool wants_memory(const MemoryResources& m) {
  return m.limit || m.reservation || m.swap || m.kernel || m.kernel_tcp || m.swappiness ||
         m.disable_oom_killer.value_or(false);
}
inline bool wants_cpu(const CpuResources& c) {
  return (c.shares && *c.shares) || (c.quota && *c.quota) || (c.period && *c.period) || c.burst ||
         (c.realtime_period && *c.realtime_period) || (c.realtime_runtime && *c.realtime_runtime) ||
         c.idle;
}
inline bool wants_cpuset(const CpuResources& c) {
  return (c.cpus && !c.cpus->empty()) || (c.mems && !c.mems->empty());
}
inline bool wants_blkio(const BlockIoResources& b) {
  return (b.weight && *b.weight) || (b.leaf_weight && *b.leaf_weight) || !b.weight_device.empty() ||
         !b.throttle_read_bps.empty() || !b.throttle_write_bps.empty() ||
         !b.throttle_read_iops.empty() || !b.throttle_write_iops.empty();
}
// The first limit r asks for that needs a cgroup of our own, as named in errors ("" when none:
// device rules are not counted, a rootless manager never writes them).
std::string first_limit(const Resources& r);
// The first limit r asks for that a threaded cgroup cannot take (memory, io, hugetlb, rdma:
// runc's containsDomainController), "" when none.
std::string domain_limit(const Resources& r);

class V1Manager : public Manager {
 public:
  // paths: controller name -> absolute directory; several controllers may share one
  // directory (co-mounted "cpu,cpuacct"). unified: the hybrid cgroup2 directory, or "".
  V1Manager(std::string root, std::string inner, std::map<std::string, std::string> paths,
            std::string unified);
  Mode mode() const override { return unified_.empty() ? Mode::Legacy : Mode::Hybrid; }
  const std::string& path() const override { return inner_; }
  Status create() override;
  Status add_pid(pid_t pid) override;
  Status apply(const Resources& r) override;
  Status freeze(bool frozen) override;
  Result<bool> frozen() const override;
  Result<std::vector<pid_t>> pids() const override;
  Result<Stats> stats() const override;
  Status kill_all(int sig) override;
  Status destroy() override;
  void remove_unused() override;
  bool exists() const override;
  Result<UniqueFd> unified_dir_fd() override;
  Result<std::unique_ptr<OomWatch>> watch_oom() override;
  nlohmann::json to_json() const override;
  // The cpuset hierarchy's mount point: create() copies cpus/mems down from it.
  void set_cpuset_mount(std::string m) { cpuset_mount_ = std::move(m); }
  // Rootless (runc's rules): device rules are never written; with `ignore_denied`
  // (no cgroupsPath given), a hierarchy we may not create or join is dropped instead of
  // failing, and a limit asked for in it fails naming it.
  void set_rootless(bool ignore_denied) {
    rootless_ = true;
    ignore_denied_ = ignore_denied;
  }

 private:
  // The directory of a controller; NotFound/Unsupported naming the controller when absent.
  Result<CgDir> dir(const std::string& ctrl, const std::string& what) const;
  bool has(const std::string& ctrl) const { return paths_.count(ctrl) != 0; }
  std::vector<std::string> unique_dirs() const;

  std::string root_, inner_;
  std::map<std::string, std::string> paths_;
  std::string unified_;
  std::string cpuset_mount_;
  bool rootless_ = false, ignore_denied_ = false;
  std::map<std::string, std::string> dropped_;  // controller -> the directory we could not use
  // Whether error e on dir may be ignored (rootless, permission): then drops dir.
  bool drop_if_denied(const std::string& dir, const Error& e);
};

class V2Manager : public Manager {
 public:
  V2Manager(std::string root, std::string inner, std::string path);
  Mode mode() const override { return Mode::Unified; }
  // Rootless (runc's fs2 rules): device rules are never applied (no eBPF without privilege);
  // with `ignore_denied` (no cgroupsPath given) a cgroup we may not create or join is done
  // without, and a limit asked for then fails naming it. `denied`: restored from state.json.
  void set_rootless(bool ignore_denied, bool denied = false) {
    rootless_ = true;
    ignore_denied_ = ignore_denied;
    denied_ = denied;
  }
  const std::string& path() const override { return inner_; }
  Status create() override;
  Status add_pid(pid_t pid) override;
  Status apply(const Resources& r) override;
  Status freeze(bool frozen) override;
  Result<bool> frozen() const override;
  Result<std::vector<pid_t>> pids() const override;
  Result<Stats> stats() const override;
  Status kill_all(int sig) override;
  Status destroy() override;
  bool exists() const override;
  Result<UniqueFd> unified_dir_fd() override;
  Result<std::unique_ptr<OomWatch>> watch_oom() override;
  nlohmann::json to_json() const override;

 private:
  std::string root_, inner_, path_;
  bool rootless_ = false, ignore_denied_ = false;
  bool denied_ = false;   // rootless without permission: the container has no cgroup
  std::string threaded_;  // the level of path_ create() found or made threaded
  bool deny(const Error& e);
  bool holds(pid_t pid) const;
  Status leave_domain_invalid(const std::string& dir);
};

// The systemd driver (--systemd-cgroup): a transient scope with Delegate=yes, created over
// D-Bus when the init's pid is known (systemd needs a pid to start a scope), its resources
// as unit properties; everything else, and the files systemd has no property for, through
// the cgroupfs manager of the scope's directory (`fs`).
class SystemdManager : public Manager {
 public:
  SystemdManager(std::unique_ptr<Manager> fs, std::string unit, std::string slice, bool started);
  Mode mode() const override { return fs_->mode(); }
  const std::string& path() const override { return fs_->path(); }
  Status create() override;  // connects to systemd: its absence fails before the init exists
  Status add_pid(pid_t pid) override;  // the first one starts the scope
  Status apply(const Resources& r) override;
  Status freeze(bool frozen) override { return fs_->freeze(frozen); }
  Result<bool> frozen() const override { return fs_->frozen(); }
  Result<std::vector<pid_t>> pids() const override { return fs_->pids(); }
  Result<Stats> stats() const override { return fs_->stats(); }
  Status kill_all(int sig) override { return fs_->kill_all(sig); }
  Status destroy() override;  // StopUnit (waits for the job), reset-failed, then rmdir
  bool exists() const override { return fs_->exists(); }
  Result<UniqueFd> unified_dir_fd() override;  // Unsupported until the scope exists
  Result<std::unique_ptr<OomWatch>> watch_oom() override { return fs_->watch_oom(); }
  nlohmann::json to_json() const override;

 private:
  Status connect();
  Status start_unit(pid_t pid);
  Status wait_job(const std::string& job, const std::string& what);
  std::unique_ptr<Manager> fs_;
  std::string unit_, slice_;
  bool started_;
  int version_ = 0;
  std::optional<Resources> pending_;  // apply() before the scope exists
  std::unique_ptr<dbus::Connection> bus_;
};

// Signals every pid of a manager with the freezer held around it (shared by v1 and v2).
Status signal_all_frozen(Manager& m, int sig);

}  // namespace crunner::cgroups
