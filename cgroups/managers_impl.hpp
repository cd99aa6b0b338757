// The Manager implementations (internal to cgroups/): V1Manager serves Legacy and Hybrid,
// V2Manager serves Unified.
#pragma once

#include <map>

#include "cgroups/manager.hpp"

namespace crunner::cgroups {

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
};

// Signals every pid of a manager with the freezer held around it (shared by v1 and v2).
Status signal_all_frozen(Manager& m, int sig);

}  // namespace crunner::cgroups
