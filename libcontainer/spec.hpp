// The OCI runtime-spec config.json model (runtime-spec 1.0 to 1.2).
//
// load_spec() parses and validates once; every error names the field path
// ("process.args: must not be empty"). Unknown fields are ignored. The parts
// owned by other modules (linux.resources, linux.seccomp) are kept as raw JSON
// here and parsed by those modules during validation.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/error.hpp"

namespace crunner::spec {

struct User {
  uint32_t uid = 0;
  uint32_t gid = 0;
  std::optional<uint32_t> umask;
  std::vector<uint32_t> additional_gids;
  std::string username;
};

struct Capabilities {
  std::vector<std::string> bounding, effective, inheritable, permitted, ambient;
};

struct Rlimit {
  std::string type;  // "RLIMIT_NOFILE"
  int resource = 0;  // RLIMIT_NOFILE
  uint64_t hard = 0, soft = 0;
};

struct ConsoleSize {
  unsigned height = 0, width = 0;
};

// process.ioPriority (runtime-spec 1.2): ioprio_set(2) class and level.
struct IoPriority {
  std::string klass;  // "IOPRIO_CLASS_BE"
  int class_num = 0;  // IOPRIO_CLASS_BE = 2
  int priority = 0;   // 0..7
};

// process.scheduler (runtime-spec 1.2): sched_setattr(2) of the process.
struct Scheduler {
  std::string policy;  // "SCHED_BATCH"
  int policy_num = 0;  // SCHED_BATCH = 3
  int nice = 0;        // -20..19
  int priority = 0;
  uint64_t flags = 0;                              // SCHED_FLAG_* bits
  uint64_t runtime = 0, deadline = 0, period = 0;  // ns, SCHED_DEADLINE
};

struct Process {
  bool terminal = false;
  std::optional<ConsoleSize> console_size;
  User user;
  std::vector<std::string> args;
  std::optional<std::string> command_line;  // Windows only; accepted and ignored
  std::vector<std::string> env;
  std::string cwd = "/";
  std::optional<Capabilities> capabilities;
  std::vector<Rlimit> rlimits;
  bool no_new_privileges = false;
  std::string apparmor_profile;
  std::optional<int> oom_score_adj;
  std::string selinux_label;
  std::optional<IoPriority> io_priority;
  std::optional<Scheduler> scheduler;
};

struct Root {
  std::string path;  // as written; relative to the bundle
  bool readonly = false;
};

struct Mount {
  std::string destination;
  std::string type;
  std::string source;
  std::vector<std::string> options;
};

struct Hook {
  std::string path;
  std::vector<std::string> args;
  std::vector<std::string> env;
  std::optional<int> timeout;  // seconds, > 0
};

struct Hooks {
  std::vector<Hook> prestart, create_runtime, create_container, start_container, poststart,
      poststop;
  bool empty() const {
    return prestart.empty() && create_runtime.empty() && create_container.empty() &&
           start_container.empty() && poststart.empty() && poststop.empty();
  }
};

enum class NsType { Pid, Network, Mount, Ipc, Uts, User, Cgroup, Time };
const char* ns_name(NsType t);       // "pid", "network", ...
int ns_clone_flag(NsType t);         // CLONE_NEWPID, ...
const char* ns_proc_name(NsType t);  // /proc/<pid>/ns/<name>: "pid", "net", "mnt", ...

struct Namespace {
  NsType type;
  std::string path;  // empty: create a new one
};

struct IdMapping {
  uint32_t container_id = 0, host_id = 0, size = 0;
};

struct Device {
  std::string type;  // "c", "b", "u", "p"
  std::string path;
  int64_t major = 0, minor = 0;
  std::optional<uint32_t> file_mode;
  std::optional<uint32_t> uid, gid;
};

struct TimeOffset {
  int64_t secs = 0;
  uint32_t nanosecs = 0;
};

struct Linux {
  std::vector<Namespace> namespaces;
  std::vector<IdMapping> uid_mappings, gid_mappings;
  std::map<std::string, TimeOffset> time_offsets;  // "monotonic", "boottime"
  std::vector<Device> devices;
  std::string cgroups_path;
  nlohmann::json resources;  // raw LinuxResources, parsed by cgroups::parse_resources
  std::string rootfs_propagation;
  std::vector<std::string> masked_paths, readonly_paths;
  std::map<std::string, std::string> sysctl;
  nlohmann::json seccomp;  // raw LinuxSeccomp, parsed by seccomp::parse (null when absent)
  std::string mount_label;
  std::optional<std::string> personality_domain;  // "LINUX" / "LINUX32"

  bool has_ns(NsType t) const;
  const Namespace* find_ns(NsType t) const;
};

struct Spec {
  std::string oci_version;
  std::optional<Process> process;
  Root root;
  std::string hostname;
  std::optional<std::string> domainname;
  std::vector<Mount> mounts;
  Hooks hooks;
  std::map<std::string, std::string> annotations;
  std::optional<Linux> linux_;  // "linux" is a predefined macro under GNU extensions
  nlohmann::json raw;           // the document as read

  const Linux& linux_or_empty() const;
};

// Parses config.json text; malformed JSON reports line and column.
Result<Spec> parse_spec(const std::string& text);
// Reads <bundle>/config.json and parses it.
Result<Spec> load_spec(const std::string& bundle);
// Parses just an OCI "process" object (exec --process); `where` prefixes errors.
Result<Process> parse_process(const nlohmann::json& j, const std::string& where = "process");
// Checks what parsing cannot: consistency between fields, and the parts owned by
// other modules (linux.resources, linux.seccomp). `for_create` requires process.
Status validate(const Spec& s);
// What is accepted as runc accepts it but deserves a word on stderr: an ociVersion that is
// not 1.x (or none), a relative mount destination (taken from the rootfs's root).
std::vector<std::string> warnings(const Spec& s);

// Name <-> number tables shared with the CLI (kill, features).
std::optional<int> rlimit_by_name(const std::string& name);
std::vector<std::string> known_rlimits();
// "CAP_SYS_ADMIN" -> 21; nullopt when unknown to us and to libcap.
std::optional<int> capability_by_name(const std::string& name);
std::vector<std::string> known_capabilities();

}  // namespace crunner::spec
