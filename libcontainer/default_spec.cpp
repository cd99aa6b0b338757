#include "libcontainer/default_spec.hpp"

#include <unistd.h>

#include "cgroups/manager.hpp"
#include "seccomp/seccomp.hpp"

namespace crunner {

using oj = nlohmann::ordered_json;

nlohmann::ordered_json default_spec(bool rootless, bool with_seccomp) {
  oj caps = oj::array({"CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"});
  oj s;
  s["ociVersion"] = "1.0.2-dev";  // runc 1.1.5's, so that both write the same config
  s["process"] = {
      {"terminal", true},
      {"user", {{"uid", 0}, {"gid", 0}}},
      {"args", oj::array({"sh"})},
      {"env", oj::array({"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                         "TERM=xterm"})},
      {"cwd", "/"},
      {"capabilities",
       {{"bounding", caps}, {"effective", caps}, {"permitted", caps}, {"ambient", caps}}},
      {"rlimits", oj::array({{{"type", "RLIMIT_NOFILE"}, {"hard", 1024}, {"soft", 1024}}})},
      {"noNewPrivileges", true}};
  s["root"] = {{"path", "rootfs"}, {"readonly", true}};
  s["hostname"] = "runc";  // runc's, so that configs written by either look the same
  oj devpts = oj::array({"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"});
  if (!rootless) devpts.push_back("gid=5");
  s["mounts"] = oj::array(
      {{{"destination", "/proc"}, {"type", "proc"}, {"source", "proc"}},
       {{"destination", "/dev"},
        {"type", "tmpfs"},
        {"source", "tmpfs"},
        {"options", oj::array({"nosuid", "strictatime", "mode=755", "size=65536k"})}},
       {{"destination", "/dev/pts"}, {"type", "devpts"}, {"source", "devpts"}, {"options", devpts}},
       {{"destination", "/dev/shm"},
        {"type", "tmpfs"},
        {"source", "shm"},
        {"options", oj::array({"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"})}},
       {{"destination", "/dev/mqueue"},
        {"type", "mqueue"},
        {"source", "mqueue"},
        {"options", oj::array({"nosuid", "noexec", "nodev"})}}});
  if (rootless)
    s["mounts"].push_back({{"destination", "/sys"},
                           {"type", "none"},
                           {"source", "/sys"},
                           {"options", oj::array({"rbind", "nosuid", "noexec", "nodev", "ro"})}});
  else
    s["mounts"].push_back({{"destination", "/sys"},
                           {"type", "sysfs"},
                           {"source", "sysfs"},
                           {"options", oj::array({"nosuid", "noexec", "nodev", "ro"})}});
  s["mounts"].push_back({{"destination", "/sys/fs/cgroup"},
                         {"type", "cgroup"},
                         {"source", "cgroup"},
                         {"options", oj::array({"nosuid", "noexec", "nodev", "relatime", "ro"})}});
  oj lx;
  if (rootless) {
    lx["uidMappings"] = oj::array({{{"containerID", 0}, {"hostID", getuid()}, {"size", 1}}});
    lx["gidMappings"] = oj::array({{{"containerID", 0}, {"hostID", getgid()}, {"size", 1}}});
    lx["namespaces"] = oj::array({{{"type", "pid"}},
                                  {{"type", "ipc"}},
                                  {{"type", "uts"}},
                                  {{"type", "mount"}},
                                  {{"type", "user"}}});
  } else {
    lx["resources"] = {{"devices", oj::array({{{"allow", false}, {"access", "rwm"}}})}};
    lx["namespaces"] = oj::array({{{"type", "pid"}},
                                  {{"type", "network"}},
                                  {{"type", "ipc"}},
                                  {{"type", "uts"}},
                                  {{"type", "mount"}}});
    // As runc: a cgroup namespace only on a cgroup v2 host.
    auto mode = cgroups::detect_mode();
    if (mode.ok() && *mode == cgroups::Mode::Unified)
      lx["namespaces"].push_back({{"type", "cgroup"}});
  }
  lx["maskedPaths"] = oj::array({"/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys",
                                 "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats",
                                 "/proc/sched_debug", "/sys/firmware", "/proc/scsi"});
  lx["readonlyPaths"] =
      oj::array({"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"});
  if (with_seccomp) lx["seccomp"] = seccomp::default_profile();
  s["linux"] = lx;
  return s;
}

}  // namespace crunner
