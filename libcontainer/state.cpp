#include "libcontainer/state.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstdint>
#include <regex>
#include <stdexcept>

#include "base/eintr.hpp"
#include "base/file.hpp"
#include "base/proc.hpp"

namespace crunner {

const char* status_name(ContainerStatus s) {
  switch (s) {
    case ContainerStatus::Creating:
      return "creating";
    case ContainerStatus::Created:
      return "created";
    case ContainerStatus::Running:
      return "running";
    case ContainerStatus::Paused:
      return "paused";
    case ContainerStatus::Stopped:
      return "stopped";
  }
  return "unknown";
}

nlohmann::json ContainerState::to_json() const {
  nlohmann::json j;
  j["id"] = id;
  j["ociVersion"] = oci_version;
  j["pid"] = pid;
  j["startTime"] = start_time;
  j["bundle"] = bundle;
  j["rootfs"] = rootfs;
  j["created"] = created;
  j["annotations"] = annotations;
  j["config"] = config;
  j["cgroup"] = cgroup;
  j["systemdCgroup"] = systemd_cgroup;
  if (provisional) j["provisional"] = true;
  if (host_mount_ns) j["hostMounts"] = {{"before", host_mounts_before}};
  return j;
}

namespace {

// An integer field within [lo, hi]; nlohmann's get<> of a float or an out-of-range number is
// undefined behaviour (the state fuzzer found "startTime": 1.3e72), so the type is checked.
long long int_field(const nlohmann::json& v, const char* name, long long lo, long long hi) {
  bool ok = (v.is_number_unsigned() &&
             v.get<unsigned long long>() <= static_cast<unsigned long long>(hi)) ||
            (v.is_number_integer() && !v.is_number_unsigned() && v.get<long long>() >= lo &&
             v.get<long long>() <= hi);
  if (!ok) throw std::runtime_error(std::string(name) + " is not an integer in range");
  return v.is_number_unsigned() ? static_cast<long long>(v.get<unsigned long long>())
                                : v.get<long long>();
}

}  // namespace

Result<ContainerState> ContainerState::from_json(const nlohmann::json& j) {
  try {
    ContainerState s;
    s.id = j.at("id").get<std::string>();
    s.oci_version = j.value("ociVersion", "");
    s.pid = static_cast<pid_t>(int_field(j.at("pid"), "pid", 0, INT32_MAX));
    if (auto it = j.find("startTime"); it != j.end())
      s.start_time = static_cast<unsigned long long>(int_field(*it, "startTime", 0, INT64_MAX));
    s.bundle = j.value("bundle", "");
    s.rootfs = j.value("rootfs", "");
    s.created = j.value("created", "");
    if (j.contains("annotations") && j["annotations"].is_object())
      s.annotations = j["annotations"].get<std::map<std::string, std::string>>();
    s.config = j.value("config", nlohmann::json());
    s.cgroup = j.value("cgroup", nlohmann::json());
    s.systemd_cgroup = j.value("systemdCgroup", false);
    s.provisional = j.value("provisional", false);
    if (auto it = j.find("hostMounts"); it != j.end() && it->is_object()) {
      s.host_mount_ns = true;
      for (const auto& id : it->at("before"))
        s.host_mounts_before.push_back(
            static_cast<int>(int_field(id, "hostMounts.before", 0, INT32_MAX)));
    }
    return s;
  } catch (const std::exception& e) {
    return make_error(ErrorKind::Internal, std::string("corrupt state.json: ") + e.what());
  }
}

bool valid_container_id(const std::string& id) {
  if (id.empty() || id == "." || id == "..") return false;
  return std::all_of(id.begin(), id.end(), [](unsigned char c) {
    return isalnum(c) || c == '_' || c == '+' || c == '.' || c == '-';
  });
}

Status StateStore::create_dir(const std::string& id) const {
  CR_TRY_CTX(mkdir_p(root_, 0711), "create state root");
  if (::mkdir(dir(id).c_str(), 0711) < 0) {
    if (errno == EEXIST)
      return make_error(ErrorKind::Exists, "container with given ID already exists");
    return sys_error("create state directory `" + dir(id) + "`");
  }
  return {};
}

Result<UniqueFd> StateStore::lock(const std::string& id) const {
  int fd = ::open(dir(id).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return make_error(ErrorKind::NotFound, "container does not exist");
    return sys_error("open state directory `" + dir(id) + "`");
  }
  UniqueFd f(fd);
  if (CR_RETRY(flock(fd, LOCK_EX)) < 0) return sys_error("lock `" + dir(id) + "`");
  // The holder we waited for may have deleted the container: its directory is gone
  // (no links) even though our fd still refers to it.
  struct stat st;
  if (fstat(fd, &st) == 0 && st.st_nlink == 0)
    return make_error(ErrorKind::NotFound, "container does not exist");
  return f;
}

Status StateStore::save(const ContainerState& s) const {
  // No fsync: the state describes processes that a reboot ends anyway; rename is enough
  // for readers never to see a partial file.
  return write_file_atomic(dir(s.id) + "/state.json", s.to_json().dump(), 0600, Durability::Rename);
}

bool StateStore::exists(const std::string& id) const {
  return path_exists(dir(id));
}

Result<ContainerState> StateStore::load(const std::string& id) const {
  auto text = read_regular_file(dir(id) + "/state.json");
  if (!text) {
    if (text.error().err == ENOENT) {
      if (exists(id)) {
        // Being created (or a creation that died half-way).
        ContainerState s;
        s.id = id;
        return s;
      }
      return make_error(ErrorKind::NotFound, "container does not exist");
    }
    return std::move(text).error();
  }
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(*text);
  } catch (const nlohmann::json::exception& e) {
    return make_error(ErrorKind::Internal,
                      "corrupt state file `" + dir(id) + "/state.json`: " + e.what());
  }
  auto s = ContainerState::from_json(j);
  if (!s) return s.error().context("state file `" + dir(id) + "/state.json`");
  if (s->id != id)
    return make_error(
        ErrorKind::Internal,
        "corrupt state file `" + dir(id) + "/state.json`: it names container \"" + s->id + "\"");
  return s;
}

static Status remove_tree_at(int parent_fd, const std::string& name) {
  int fd = openat(parent_fd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd >= 0) {
    DIR* d = fdopendir(fd);
    if (d) {
      while (struct dirent* e = readdir(d)) {
        std::string n = e->d_name;
        if (n == "." || n == "..") continue;
        if (e->d_type == DT_DIR)
          CR_TRY(remove_tree_at(dirfd(d), n));
        else if (unlinkat(dirfd(d), n.c_str(), 0) < 0 && errno != ENOENT)
          return sys_error("remove `" + n + "`");
      }
      closedir(d);
    } else {
      ::close(fd);
    }
  }
  if (unlinkat(parent_fd, name.c_str(), AT_REMOVEDIR) < 0 && errno != ENOENT)
    return sys_error("remove `" + name + "`");
  return {};
}

Status StateStore::remove(const std::string& id) const {
  int rfd = ::open(root_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (rfd < 0) return errno == ENOENT ? Status{} : sys_error("open `" + root_ + "`");
  UniqueFd r(rfd);
  return remove_tree_at(rfd, id);
}

Result<std::vector<std::string>> StateStore::list() const {
  std::vector<std::string> out;
  DIR* d = opendir(root_.c_str());
  if (!d) {
    if (errno == ENOENT) return out;
    return sys_error("read state root `" + root_ + "`");
  }
  while (struct dirent* e = readdir(d)) {
    std::string n = e->d_name;
    if (n == "." || n == ".." || !valid_container_id(n)) continue;
    struct stat st;
    if (fstatat(dirfd(d), n.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode))
      out.push_back(n);
  }
  closedir(d);
  std::sort(out.begin(), out.end());
  return out;
}

bool init_alive(const ContainerState& s) {
  if (s.pid <= 0) return false;
  unsigned long long st = process_start_time(s.pid);
  if (st == 0 || st != s.start_time) return false;
  return process_running(s.pid);
}

ContainerStatus derive_status(const ContainerState& s, const StateStore& store, bool frozen) {
  if (s.provisional || (s.pid == 0 && s.created.empty())) return ContainerStatus::Creating;
  if (!init_alive(s)) return ContainerStatus::Stopped;
  if (frozen) return ContainerStatus::Paused;
  if (path_exists(store.fifo_path(s.id))) return ContainerStatus::Created;
  return ContainerStatus::Running;
}

nlohmann::ordered_json oci_state(const ContainerState& s, ContainerStatus st) {
  nlohmann::ordered_json j;
  j["ociVersion"] = s.oci_version;
  j["id"] = s.id;
  j["pid"] = (st == ContainerStatus::Stopped || st == ContainerStatus::Creating) ? 0 : s.pid;
  j["status"] = status_name(st);
  j["bundle"] = s.bundle;
  j["rootfs"] = s.rootfs;
  j["created"] = s.created;
  if (!s.annotations.empty()) j["annotations"] = s.annotations;
  j["owner"] = "";
  return j;
}

}  // namespace crunner
