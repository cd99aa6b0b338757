// SystemdManager: runc's systemd cgroup driver over our own D-Bus client (cgroups/dbus.hpp).
#include <unistd.h>

#include <cstdio>
#include <cstdlib>

#include "base/file.hpp"
#include "base/text.hpp"
#include "cgroups/managers_impl.hpp"
#include "cgroups/systemd.hpp"

namespace crunner::cgroups {

namespace {

const char* kDest = "org.freedesktop.systemd1";
const char* kPath = "/org/freedesktop/systemd1";
const char* kIface = "org.freedesktop.systemd1.Manager";
constexpr std::chrono::seconds kTimeout{30};  // runc's wait for a job

std::string reply_error(const dbus::Message& m) {
  std::string text = m.error_name;
  if (m.signature.size() && m.signature[0] == 's') {
    dbus::Reader r(m.body);
    if (auto s = r.str()) text += ": " + *s;
  }
  return text;
}

// The system bus from DBUS_SYSTEM_BUS_ADDRESS ("unix:path=..."), or its default.
std::string system_bus_path() {
  const char* env = getenv("DBUS_SYSTEM_BUS_ADDRESS");
  if (env) {
    for (auto& part : split(env, ';')) {
      std::string p = part;
      if (p.compare(0, 5, "unix:") != 0) continue;
      for (auto& kv : split(p.substr(5), ','))
        if (kv.compare(0, 5, "path=") == 0) return kv.substr(5);
    }
  }
  return "/run/dbus/system_bus_socket";
}

}  // namespace

SystemdManager::SystemdManager(std::unique_ptr<Manager> fs, std::string unit, std::string slice,
                               bool started)
    : fs_(std::move(fs)), unit_(std::move(unit)), slice_(std::move(slice)), started_(started) {}

Status SystemdManager::connect() {
  if (bus_) return {};
  // As root systemd's own socket (what systemctl uses; no dbus-daemon needed), then the
  // system bus (runc's way).
  std::vector<std::pair<std::string, bool>> cands;
  if (::geteuid() == 0) cands.emplace_back("/run/systemd/private", false);
  cands.emplace_back(system_bus_path(), true);
  std::string why;
  for (auto& [path, bus] : cands) {
    auto c = dbus::Connection::open(path, bus, kTimeout);
    if (!c) {
      why += (why.empty() ? "" : "; ") + c.error().what();
      continue;
    }
    bus_ = std::make_unique<dbus::Connection>(std::move(*c));
    if (bus) {
      // A message bus routes signals only to matching connections, and systemd sends
      // JobRemoved there only while someone is subscribed.
      dbus::Writer w;
      w.str("type='signal',sender='org.freedesktop.systemd1',interface='" + std::string(kIface) +
            "',member='JobRemoved'");
      CR_ASSIGN(auto m, bus_->call("org.freedesktop.DBus", "/org/freedesktop/DBus",
                                   "org.freedesktop.DBus", "AddMatch", "s", w.data()));
      if (m.is_error()) return make_error(ErrorKind::Syscall, "d-bus AddMatch: " + reply_error(m));
      CR_ASSIGN(auto s, bus_->call(kDest, kPath, kIface, "Subscribe"));
      (void)s;  // already subscribed is fine
    }
    // systemd's version decides which properties exist (runc's systemdVersion).
    dbus::Writer w;
    w.str(kIface);
    w.str("Version");
    CR_ASSIGN(auto v,
              bus_->call(kDest, kPath, "org.freedesktop.DBus.Properties", "Get", "ss", w.data()));
    if (v.is_error()) {
      bus_.reset();
      return make_error(
          ErrorKind::Unsupported,
          "systemd cgroup driver: get systemd's version over `" + path + "`: " + reply_error(v));
    }
    dbus::Reader r(v.body);
    auto sig = r.sig();
    auto text =
        sig && *sig == "s" ? r.str() : Result<std::string>(make_error(ErrorKind::Internal, ""));
    if (text) version_ = atoi(text->c_str());
    return {};
  }
  return make_error(
      ErrorKind::Unsupported,
      "systemd cgroup driver (--systemd-cgroup): cannot reach systemd over d-bus: " + why);
}

Status SystemdManager::create() {
  if (started_) return fs_->create();
  // Only a check (and systemd's version): the init, cloned next, would inherit the
  // connection until its execve; add_pid connects again.
  CR_TRY(connect());
  bus_.reset();
  return {};
}

Status SystemdManager::wait_job(const std::string& job, const std::string& what) {
  CR_ASSIGN(auto sig, bus_->wait_signal([&](const dbus::Message& m) {
    if (m.member != "JobRemoved" || m.signature != "uoss") return false;
    dbus::Reader r(m.body);
    auto id = r.u32();
    auto path = id ? r.str() : Result<std::string>(make_error(ErrorKind::Internal, ""));
    return path.ok() && *path == job;
  }));
  dbus::Reader r(sig.body);
  CR_TRY(r.u32());
  CR_TRY(r.str());
  CR_TRY(r.str());
  CR_ASSIGN(std::string result, r.str());
  if (result != "done")
    return make_error(ErrorKind::Syscall,
                      what + " systemd unit `" + unit_ + "`: job ended `" + result + "`");
  return {};
}

Status SystemdManager::start_unit(pid_t pid) {
  CR_TRY(connect());
  const bool v2 = fs_->mode() == Mode::Unified;
  std::vector<dbus::Property> props = {
      {"Description", "crunner container " + unit_},
      {"Slice", slice_},
      {"Delegate", true},
      {"PIDs", std::vector<uint32_t>{static_cast<uint32_t>(pid)}},
      // Accounting on, so the controllers are there as with the cgroupfs driver.
      {"MemoryAccounting", true},
      {"CPUAccounting", true},
      {v2 ? "IOAccounting" : "BlockIOAccounting", true},
      {"TasksAccounting", true},
      {"DefaultDependencies", false},
  };
  if (pending_) {
    std::vector<std::string> warnings;
    auto devs = read_file("/proc/devices");
    CR_ASSIGN(auto rp, systemd::resource_properties(*pending_, v2, version_,
                                                    devs ? *devs : std::string(), &warnings));
    for (auto& w : warnings) fprintf(stderr, "warning: %s\n", w.c_str());
    for (auto& p : rp) props.push_back(std::move(p));
  }
  for (int attempt = 0;; attempt++) {
    dbus::Writer w;
    w.str(unit_);
    w.str("replace");
    dbus::write_properties(w, props);
    size_t aux = w.array_begin(8);
    w.array_end(aux);
    CR_ASSIGN(auto m,
              bus_->call(kDest, kPath, kIface, "StartTransientUnit", "ssa(sv)a(sa(sv))", w.data()));
    if (m.is_error()) {
      // A failed unit of the same name is still loaded: reset it once and retry (runc).
      if (m.error_name == "org.freedesktop.systemd1.UnitExists" && attempt == 0) {
        dbus::Writer rw;
        rw.str(unit_);
        (void)bus_->call(kDest, kPath, kIface, "ResetFailedUnit", "s", rw.data());
        continue;
      }
      return make_error(ErrorKind::Syscall,
                        "create systemd unit `" + unit_ + "`: " + reply_error(m));
    }
    dbus::Reader r(m.body);
    CR_ASSIGN(std::string job, r.str());
    auto done = wait_job(job, "create");
    if (!done) {
      dbus::Writer rw;
      rw.str(unit_);
      (void)bus_->call(kDest, kPath, kIface, "ResetFailedUnit", "s", rw.data());
      return done;
    }
    return {};
  }
}

Status SystemdManager::add_pid(pid_t pid) {
  if (started_) return fs_->add_pid(pid);
  CR_TRY(start_unit(pid));
  started_ = true;
  bus_.reset();
  // The cgroupfs side: the directories systemd does not manage (v1 hierarchies without a
  // systemd controller), the pid in each, and every limit as a file.
  CR_TRY(fs_->create());
  CR_TRY(fs_->add_pid(pid));
  if (pending_) CR_TRY(fs_->apply(*pending_));
  return {};
}

Status SystemdManager::apply(const Resources& r) {
  if (!started_) {
    // Checked now (before the init exists) and sent when the scope starts.
    auto devs = read_file("/proc/devices");
    CR_TRY(systemd::resource_properties(r, fs_->mode() == Mode::Unified, version_,
                                        devs ? *devs : std::string(), nullptr));
    pending_ = r;
    return {};
  }
  CR_TRY(connect());
  std::vector<std::string> warnings;
  auto devs = read_file("/proc/devices");
  CR_ASSIGN(auto props, systemd::resource_properties(r, fs_->mode() == Mode::Unified, version_,
                                                     devs ? *devs : std::string(), &warnings));
  for (auto& w : warnings) fprintf(stderr, "warning: %s\n", w.c_str());
  if (!props.empty()) {
    dbus::Writer w;
    w.str(unit_);
    w.boolean(true);  // runtime only
    dbus::write_properties(w, props);
    CR_ASSIGN(auto m, bus_->call(kDest, kPath, kIface, "SetUnitProperties", "sba(sv)", w.data()));
    if (m.is_error())
      return make_error(ErrorKind::Syscall,
                        "set properties of systemd unit `" + unit_ + "`: " + reply_error(m));
  }
  return fs_->apply(r);
}

Status SystemdManager::destroy() {
  auto c = connect();
  if (!c) {
    // No systemd: nothing of the unit can be left but its directory.
    if (!fs_->exists()) return {};
    return std::move(c).error().context("stop systemd unit `" + unit_ + "`");
  }
  Status stopped;
  dbus::Writer w;
  w.str(unit_);
  w.str("replace");
  CR_ASSIGN(auto m, bus_->call(kDest, kPath, kIface, "StopUnit", "ss", w.data()));
  if (m.is_error()) {
    if (m.error_name != "org.freedesktop.systemd1.NoSuchUnit")
      stopped =
          make_error(ErrorKind::Syscall, "stop systemd unit `" + unit_ + "`: " + reply_error(m));
  } else {
    dbus::Reader r(m.body);
    CR_ASSIGN(std::string job, r.str());
    auto done = wait_job(job, "stop");
    if (!done) fprintf(stderr, "warning: %s\n", done.error().what().c_str());
  }
  // A failed unit stays loaded until reset (its name could not be used again).
  dbus::Writer rw;
  rw.str(unit_);
  (void)bus_->call(kDest, kPath, kIface, "ResetFailedUnit", "s", rw.data());
  // Directories systemd does not own (v1 hierarchies it has no controller for).
  auto removed = fs_->destroy();
  if (!stopped.ok()) return stopped;
  return removed;
}

Result<UniqueFd> SystemdManager::unified_dir_fd() {
  if (!started_)
    return make_error(ErrorKind::Unsupported,
                      "systemd unit `" + unit_ + "` is started with the init's pid");
  return fs_->unified_dir_fd();
}

nlohmann::json SystemdManager::to_json() const {
  nlohmann::json j = fs_->to_json();
  j["driver"] = "systemd";
  j["unit"] = unit_;
  j["slice"] = slice_;
  return j;
}

}  // namespace crunner::cgroups
