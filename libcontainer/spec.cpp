#include "libcontainer/spec.hpp"

#include <sched.h>
#include <sys/capability.h>
#include <sys/resource.h>

#include <algorithm>
#include <cctype>
#include <set>

#include "base/file.hpp"

namespace crunner::spec {

using json = nlohmann::json;

namespace {

// Type-checked field readers. Each returns an error naming `where`.
Error type_err(const std::string& where, const char* what) {
  return invalid_spec(where + ": must be " + what);
}

Result<std::string> get_string(const json& j, const std::string& where) {
  if (!j.is_string()) return type_err(where, "a string");
  return j.get<std::string>();
}

Result<bool> get_bool(const json& j, const std::string& where) {
  if (!j.is_boolean()) return type_err(where, "a boolean");
  return j.get<bool>();
}

Result<int64_t> get_int(const json& j, const std::string& where) {
  if (!j.is_number_integer()) return type_err(where, "an integer");
  if (j.is_number_unsigned() && j.get<uint64_t>() > static_cast<uint64_t>(INT64_MAX))
    return invalid_spec(where + ": out of range");
  return j.get<int64_t>();
}

Result<uint64_t> get_u64(const json& j, const std::string& where) {
  if (!j.is_number_integer()) return type_err(where, "a non-negative integer");
  if (j.is_number_unsigned()) return j.get<uint64_t>();
  if (j.get<int64_t>() < 0) return type_err(where, "a non-negative integer");
  return static_cast<uint64_t>(j.get<int64_t>());
}

Result<uint32_t> get_u32(const json& j, const std::string& where) {
  CR_ASSIGN(uint64_t v, get_u64(j, where));
  if (v > UINT32_MAX) return invalid_spec(where + ": out of range (max 4294967295)");
  return static_cast<uint32_t>(v);
}

Result<std::vector<std::string>> get_strings(const json& j, const std::string& where) {
  if (!j.is_array()) return type_err(where, "an array of strings");
  std::vector<std::string> out;
  out.reserve(j.size());
  for (size_t i = 0; i < j.size(); i++) {
    CR_ASSIGN(std::string s, get_string(j[i], where + "[" + std::to_string(i) + "]"));
    out.push_back(std::move(s));
  }
  return out;
}

Result<std::map<std::string, std::string>> get_string_map(const json& j, const std::string& where) {
  if (!j.is_object()) return type_err(where, "an object of strings");
  std::map<std::string, std::string> out;
  for (auto it = j.begin(); it != j.end(); ++it) {
    CR_ASSIGN(std::string v, get_string(it.value(), where + "." + it.key()));
    out.emplace(it.key(), std::move(v));
  }
  return out;
}

// Present and not null.
const json* field(const json& obj, const char* name) {
  auto it = obj.find(name);
  if (it == obj.end() || it->is_null()) return nullptr;
  return &*it;
}

Status require_object(const json& j, const std::string& where) {
  if (!j.is_object()) return type_err(where, "an object");
  return {};
}

Result<User> parse_user(const json& j, const std::string& where) {
  CR_TRY(require_object(j, where));
  User u;
  if (auto f = field(j, "uid")) {
    CR_ASSIGN(u.uid, get_u32(*f, where + ".uid"));
  }
  if (auto f = field(j, "gid")) {
    CR_ASSIGN(u.gid, get_u32(*f, where + ".gid"));
  }
  if (auto f = field(j, "umask")) {
    CR_ASSIGN(uint32_t m, get_u32(*f, where + ".umask"));
    if (m > 0777) return invalid_spec(where + ".umask: must be at most 0777 (511)");
    u.umask = m;
  }
  if (auto f = field(j, "additionalGids")) {
    if (!f->is_array()) return type_err(where + ".additionalGids", "an array of integers");
    for (size_t i = 0; i < f->size(); i++) {
      CR_ASSIGN(uint32_t g, get_u32((*f)[i], where + ".additionalGids[" + std::to_string(i) + "]"));
      u.additional_gids.push_back(g);
    }
  }
  if (auto f = field(j, "username")) {
    CR_ASSIGN(u.username, get_string(*f, where + ".username"));
  }
  return u;
}

Result<Capabilities> parse_caps(const json& j, const std::string& where) {
  CR_TRY(require_object(j, where));
  Capabilities c;
  struct {
    const char* name;
    std::vector<std::string>* out;
  } sets[] = {{"bounding", &c.bounding},
              {"effective", &c.effective},
              {"inheritable", &c.inheritable},
              {"permitted", &c.permitted},
              {"ambient", &c.ambient}};
  for (auto& s : sets) {
    auto f = field(j, s.name);
    if (!f) continue;
    std::string w = where + "." + s.name;
    // Names libcap does not know are kept: cap_sets ignores them with runc's warning.
    CR_ASSIGN(*s.out, get_strings(*f, w));
  }
  return c;
}

Result<Hook> parse_hook(const json& j, const std::string& where) {
  CR_TRY(require_object(j, where));
  Hook h;
  auto p = field(j, "path");
  if (!p) return invalid_spec(where + ".path: is required");
  CR_ASSIGN(h.path, get_string(*p, where + ".path"));
  if (h.path.empty() || h.path[0] != '/')
    return invalid_spec(where + ".path: must be an absolute path, got \"" + h.path + "\"");
  if (auto f = field(j, "args")) {
    CR_ASSIGN(h.args, get_strings(*f, where + ".args"));
  }
  if (auto f = field(j, "env")) {
    CR_ASSIGN(h.env, get_strings(*f, where + ".env"));
  }
  if (auto f = field(j, "timeout")) {
    CR_ASSIGN(int64_t t, get_int(*f, where + ".timeout"));
    if (t <= 0) return invalid_spec(where + ".timeout: must be greater than zero");
    if (t > INT32_MAX) return invalid_spec(where + ".timeout: out of range");
    h.timeout = static_cast<int>(t);
  }
  return h;
}

Result<std::vector<Hook>> parse_hook_list(const json& j, const std::string& where) {
  if (!j.is_array()) return type_err(where, "an array");
  std::vector<Hook> out;
  for (size_t i = 0; i < j.size(); i++) {
    CR_ASSIGN(Hook h, parse_hook(j[i], where + "[" + std::to_string(i) + "]"));
    out.push_back(std::move(h));
  }
  return out;
}

Result<Hooks> parse_hooks(const json& j) {
  CR_TRY(require_object(j, "hooks"));
  Hooks h;
  struct {
    const char* name;
    std::vector<Hook>* out;
  } lists[] = {{"prestart", &h.prestart},
               {"createRuntime", &h.create_runtime},
               {"createContainer", &h.create_container},
               {"startContainer", &h.start_container},
               {"poststart", &h.poststart},
               {"poststop", &h.poststop}};
  for (auto& l : lists) {
    if (auto f = field(j, l.name)) {
      CR_ASSIGN(*l.out, parse_hook_list(*f, std::string("hooks.") + l.name));
    }
  }
  return h;
}

Result<Mount> parse_mount(const json& j, const std::string& where) {
  CR_TRY(require_object(j, where));
  Mount m;
  auto d = field(j, "destination");
  if (!d) return invalid_spec(where + ".destination: is required");
  CR_ASSIGN(m.destination, get_string(*d, where + ".destination"));
  if (m.destination.empty()) return invalid_spec(where + ".destination: must not be empty");
  if (auto f = field(j, "type")) {
    CR_ASSIGN(m.type, get_string(*f, where + ".type"));
  }
  if (auto f = field(j, "source")) {
    CR_ASSIGN(m.source, get_string(*f, where + ".source"));
  }
  if (auto f = field(j, "options")) {
    CR_ASSIGN(m.options, get_strings(*f, where + ".options"));
  }
  if (field(j, "uidMappings") || field(j, "gidMappings"))
    return Error{ErrorKind::Unsupported, 0,
                 where + ": idmapped mounts (uidMappings/gidMappings) are not supported"};
  return m;
}

Result<std::vector<IdMapping>> parse_idmaps(const json& j, const std::string& where) {
  if (!j.is_array()) return type_err(where, "an array");
  std::vector<IdMapping> out;
  for (size_t i = 0; i < j.size(); i++) {
    std::string w = where + "[" + std::to_string(i) + "]";
    CR_TRY(require_object(j[i], w));
    IdMapping m;
    auto c = field(j[i], "containerID");
    auto h = field(j[i], "hostID");
    auto s = field(j[i], "size");
    if (!c) return invalid_spec(w + ".containerID: is required");
    if (!h) return invalid_spec(w + ".hostID: is required");
    if (!s) return invalid_spec(w + ".size: is required");
    CR_ASSIGN(m.container_id, get_u32(*c, w + ".containerID"));
    CR_ASSIGN(m.host_id, get_u32(*h, w + ".hostID"));
    CR_ASSIGN(m.size, get_u32(*s, w + ".size"));
    if (m.size == 0) return invalid_spec(w + ".size: must be greater than zero");
    out.push_back(m);
  }
  return out;
}

const std::pair<const char*, NsType> kNsNames[] = {
    {"pid", NsType::Pid},       {"network", NsType::Network}, {"mount", NsType::Mount},
    {"ipc", NsType::Ipc},       {"uts", NsType::Uts},         {"user", NsType::User},
    {"cgroup", NsType::Cgroup}, {"time", NsType::Time}};

Result<Device> parse_device(const json& j, const std::string& where) {
  CR_TRY(require_object(j, where));
  Device d;
  auto t = field(j, "type");
  auto p = field(j, "path");
  if (!t) return invalid_spec(where + ".type: is required");
  if (!p) return invalid_spec(where + ".path: is required");
  CR_ASSIGN(d.type, get_string(*t, where + ".type"));
  CR_ASSIGN(d.path, get_string(*p, where + ".path"));
  if (d.type != "c" && d.type != "b" && d.type != "u" && d.type != "p")
    return invalid_spec(where + ".type: unknown device type \"" + d.type +
                        "\" (want c, b, u or p)");
  if (d.path.empty() || d.path[0] != '/')
    return invalid_spec(where + ".path: must be an absolute path, got \"" + d.path + "\"");
  if (d.type != "p") {
    auto ma = field(j, "major");
    auto mi = field(j, "minor");
    if (!ma) return invalid_spec(where + ".major: is required for type \"" + d.type + "\"");
    if (!mi) return invalid_spec(where + ".minor: is required for type \"" + d.type + "\"");
    CR_ASSIGN(d.major, get_int(*ma, where + ".major"));
    CR_ASSIGN(d.minor, get_int(*mi, where + ".minor"));
  }
  if (auto f = field(j, "fileMode")) {
    CR_ASSIGN(uint32_t m, get_u32(*f, where + ".fileMode"));
    d.file_mode = m;
  }
  if (auto f = field(j, "uid")) {
    CR_ASSIGN(uint32_t v, get_u32(*f, where + ".uid"));
    d.uid = v;
  }
  if (auto f = field(j, "gid")) {
    CR_ASSIGN(uint32_t v, get_u32(*f, where + ".gid"));
    d.gid = v;
  }
  return d;
}

Result<Linux> parse_linux(const json& j) {
  CR_TRY(require_object(j, "linux"));
  Linux l;
  if (auto f = field(j, "namespaces")) {
    if (!f->is_array()) return type_err("linux.namespaces", "an array");
    std::set<NsType> seen;
    for (size_t i = 0; i < f->size(); i++) {
      std::string w = "linux.namespaces[" + std::to_string(i) + "]";
      CR_TRY(require_object((*f)[i], w));
      auto t = field((*f)[i], "type");
      if (!t) return invalid_spec(w + ".type: is required");
      CR_ASSIGN(std::string type, get_string(*t, w + ".type"));
      auto it = std::find_if(std::begin(kNsNames), std::end(kNsNames),
                             [&](auto& p) { return type == p.first; });
      if (it == std::end(kNsNames))
        return invalid_spec(w + ".type: unknown namespace \"" + type + "\"");
      Namespace ns{it->second, {}};
      if (auto p = field((*f)[i], "path")) {
        CR_ASSIGN(ns.path, get_string(*p, w + ".path"));
        if (!ns.path.empty() && ns.path[0] != '/')
          return invalid_spec(w + ".path: must be an absolute path, got \"" + ns.path + "\"");
      }
      if (!seen.insert(ns.type).second)
        return invalid_spec(w + ".type: duplicate namespace \"" + type + "\"");
      l.namespaces.push_back(std::move(ns));
    }
  }
  if (auto f = field(j, "uidMappings")) {
    CR_ASSIGN(l.uid_mappings, parse_idmaps(*f, "linux.uidMappings"));
  }
  if (auto f = field(j, "gidMappings")) {
    CR_ASSIGN(l.gid_mappings, parse_idmaps(*f, "linux.gidMappings"));
  }
  if (auto f = field(j, "timeOffsets")) {
    if (!f->is_object()) return type_err("linux.timeOffsets", "an object");
    for (auto it = f->begin(); it != f->end(); ++it) {
      std::string w = "linux.timeOffsets." + it.key();
      if (it.key() != "monotonic" && it.key() != "boottime")
        return invalid_spec(w + ": unknown clock (want monotonic or boottime)");
      CR_TRY(require_object(it.value(), w));
      TimeOffset o;
      if (auto s = field(it.value(), "secs")) {
        CR_ASSIGN(o.secs, get_int(*s, w + ".secs"));
      }
      if (auto n = field(it.value(), "nanosecs")) {
        CR_ASSIGN(o.nanosecs, get_u32(*n, w + ".nanosecs"));
      }
      l.time_offsets[it.key()] = o;
    }
  }
  if (auto f = field(j, "devices")) {
    if (!f->is_array()) return type_err("linux.devices", "an array");
    for (size_t i = 0; i < f->size(); i++) {
      CR_ASSIGN(Device d, parse_device((*f)[i], "linux.devices[" + std::to_string(i) + "]"));
      l.devices.push_back(std::move(d));
    }
  }
  if (auto f = field(j, "cgroupsPath")) {
    CR_ASSIGN(l.cgroups_path, get_string(*f, "linux.cgroupsPath"));
  }
  if (auto f = field(j, "resources")) {
    CR_TRY(require_object(*f, "linux.resources"));
    l.resources = *f;
  }
  if (auto f = field(j, "rootfsPropagation")) {
    CR_ASSIGN(l.rootfs_propagation, get_string(*f, "linux.rootfsPropagation"));
    static const std::set<std::string> ok = {"",       "private",    "rprivate",
                                             "shared", "rshared",    "slave",
                                             "rslave", "unbindable", "runbindable"};
    if (!ok.count(l.rootfs_propagation))
      return invalid_spec("linux.rootfsPropagation: unknown propagation \"" + l.rootfs_propagation +
                          "\"");
  }
  if (auto f = field(j, "maskedPaths")) {
    CR_ASSIGN(l.masked_paths, get_strings(*f, "linux.maskedPaths"));
  }
  if (auto f = field(j, "readonlyPaths")) {
    CR_ASSIGN(l.readonly_paths, get_strings(*f, "linux.readonlyPaths"));
  }
  if (auto f = field(j, "sysctl")) {
    CR_ASSIGN(l.sysctl, get_string_map(*f, "linux.sysctl"));
  }
  if (auto f = field(j, "seccomp")) {
    CR_TRY(require_object(*f, "linux.seccomp"));
    l.seccomp = *f;
  }
  if (auto f = field(j, "mountLabel")) {
    CR_ASSIGN(l.mount_label, get_string(*f, "linux.mountLabel"));
  }
  if (auto f = field(j, "personality")) {
    CR_TRY(require_object(*f, "linux.personality"));
    if (auto d = field(*f, "domain")) {
      CR_ASSIGN(std::string dom, get_string(*d, "linux.personality.domain"));
      if (dom != "LINUX" && dom != "LINUX32")
        return invalid_spec("linux.personality.domain: unknown domain \"" + dom + "\"");
      l.personality_domain = dom;
    }
  }
  return l;
}

}  // namespace

const char* ns_name(NsType t) {
  for (auto& p : kNsNames)
    if (p.second == t) return p.first;
  return "?";
}

int ns_clone_flag(NsType t) {
  switch (t) {
    case NsType::Pid:
      return CLONE_NEWPID;
    case NsType::Network:
      return CLONE_NEWNET;
    case NsType::Mount:
      return CLONE_NEWNS;
    case NsType::Ipc:
      return CLONE_NEWIPC;
    case NsType::Uts:
      return CLONE_NEWUTS;
    case NsType::User:
      return CLONE_NEWUSER;
    case NsType::Cgroup:
      return CLONE_NEWCGROUP;
    case NsType::Time:
      return CLONE_NEWTIME;
  }
  return 0;
}

const char* ns_proc_name(NsType t) {
  switch (t) {
    case NsType::Pid:
      return "pid";
    case NsType::Network:
      return "net";
    case NsType::Mount:
      return "mnt";
    case NsType::Ipc:
      return "ipc";
    case NsType::Uts:
      return "uts";
    case NsType::User:
      return "user";
    case NsType::Cgroup:
      return "cgroup";
    case NsType::Time:
      return "time";
  }
  return "?";
}

bool Linux::has_ns(NsType t) const {
  return find_ns(t) != nullptr;
}

const Namespace* Linux::find_ns(NsType t) const {
  for (auto& n : namespaces)
    if (n.type == t) return &n;
  return nullptr;
}

const Linux& Spec::linux_or_empty() const {
  static const Linux empty;
  return linux_ ? *linux_ : empty;
}

namespace {

Result<IoPriority> parse_io_priority(const json& j, const std::string& where) {
  CR_TRY(require_object(j, where));
  static const std::pair<const char*, int> classes[] = {
      {"IOPRIO_CLASS_RT", 1}, {"IOPRIO_CLASS_BE", 2}, {"IOPRIO_CLASS_IDLE", 3}};
  IoPriority io;
  auto c = field(j, "class");
  if (!c) return invalid_spec(where + ".class: is required");
  CR_ASSIGN(io.klass, get_string(*c, where + ".class"));
  for (auto& [name, num] : classes)
    if (io.klass == name) io.class_num = num;
  if (!io.class_num)
    return invalid_spec(where + ".class: unknown class \"" + io.klass +
                        "\" (IOPRIO_CLASS_RT, IOPRIO_CLASS_BE or IOPRIO_CLASS_IDLE)");
  if (auto f = field(j, "priority")) {
    CR_ASSIGN(int64_t v, get_int(*f, where + ".priority"));
    if (v < 0 || v > 7)
      return invalid_spec(where + ".priority: must be between 0 and 7, got " + std::to_string(v));
    io.priority = static_cast<int>(v);
  }
  return io;
}

Result<Scheduler> parse_scheduler(const json& j, const std::string& where) {
  CR_TRY(require_object(j, where));
  static const std::pair<const char*, int> policies[] = {
      {"SCHED_OTHER", 0}, {"SCHED_FIFO", 1}, {"SCHED_RR", 2},      {"SCHED_BATCH", 3},
      {"SCHED_ISO", 4},   {"SCHED_IDLE", 5}, {"SCHED_DEADLINE", 6}};
  static const std::pair<const char*, uint64_t> flag_bits[] = {
      {"SCHED_FLAG_RESET_ON_FORK", 0x01}, {"SCHED_FLAG_RECLAIM", 0x02},
      {"SCHED_FLAG_DL_OVERRUN", 0x04},    {"SCHED_FLAG_KEEP_POLICY", 0x08},
      {"SCHED_FLAG_KEEP_PARAMS", 0x10},   {"SCHED_FLAG_UTIL_CLAMP_MIN", 0x20},
      {"SCHED_FLAG_UTIL_CLAMP_MAX", 0x40}};
  Scheduler s;
  auto p = field(j, "policy");
  if (!p) return invalid_spec(where + ".policy: is required");
  CR_ASSIGN(s.policy, get_string(*p, where + ".policy"));
  s.policy_num = -1;
  for (auto& [name, num] : policies)
    if (s.policy == name) s.policy_num = num;
  if (s.policy_num < 0) return invalid_spec(where + ".policy: unknown policy \"" + s.policy + "\"");
  if (auto f = field(j, "nice")) {
    CR_ASSIGN(int64_t v, get_int(*f, where + ".nice"));
    if (v < -20 || v > 19)
      return invalid_spec(where + ".nice: must be between -20 and 19, got " + std::to_string(v));
    s.nice = static_cast<int>(v);
  }
  if (auto f = field(j, "priority")) {
    CR_ASSIGN(int64_t v, get_int(*f, where + ".priority"));
    bool realtime = s.policy_num == 1 || s.policy_num == 2;
    if (realtime ? (v < 1 || v > 99) : v != 0)
      return invalid_spec(where + ".priority: " + std::to_string(v) + " is not valid for " +
                          s.policy + (realtime ? " (1..99)" : " (only 0)"));
    s.priority = static_cast<int>(v);
  }
  if (auto f = field(j, "flags")) {
    CR_ASSIGN(std::vector<std::string> names, get_strings(*f, where + ".flags"));
    for (auto& n : names) {
      uint64_t bit = 0;
      for (auto& [name, b] : flag_bits)
        if (n == name) bit = b;
      if (!bit) return invalid_spec(where + ".flags: unknown flag \"" + n + "\"");
      s.flags |= bit;
    }
  }
  for (auto [key, dst] : {std::pair<const char*, uint64_t*>{"runtime", &s.runtime},
                          {"deadline", &s.deadline},
                          {"period", &s.period}}) {
    if (auto f = field(j, key)) {
      CR_ASSIGN(*dst, get_u64(*f, where + "." + key));
    }
  }
  return s;
}

}  // namespace

Result<Process> parse_process(const json& j, const std::string& where) {
  CR_TRY(require_object(j, where));
  Process p;
  if (auto f = field(j, "terminal")) {
    CR_ASSIGN(p.terminal, get_bool(*f, where + ".terminal"));
  }
  if (auto f = field(j, "consoleSize")) {
    CR_TRY(require_object(*f, where + ".consoleSize"));
    ConsoleSize cs;
    if (auto h = field(*f, "height")) {
      CR_ASSIGN(cs.height, get_u32(*h, where + ".consoleSize.height"));
    }
    if (auto w = field(*f, "width")) {
      CR_ASSIGN(cs.width, get_u32(*w, where + ".consoleSize.width"));
    }
    p.console_size = cs;
  }
  auto u = field(j, "user");
  if (!u) return invalid_spec(where + ".user: is required");
  CR_ASSIGN(p.user, parse_user(*u, where + ".user"));
  if (auto f = field(j, "args")) {
    CR_ASSIGN(p.args, get_strings(*f, where + ".args"));
  }
  if (auto f = field(j, "commandLine")) {
    CR_ASSIGN(std::string cl, get_string(*f, where + ".commandLine"));
    p.command_line = cl;
  }
  if (p.args.empty()) return invalid_spec(where + ".args: must not be empty");
  if (auto f = field(j, "env")) {
    CR_ASSIGN(p.env, get_strings(*f, where + ".env"));
    for (size_t i = 0; i < p.env.size(); i++) {
      auto eq = p.env[i].find('=');
      if (eq == std::string::npos || eq == 0)
        return invalid_spec(where + ".env[" + std::to_string(i) + "]: \"" + p.env[i] +
                            "\" is not of the form KEY=VALUE");
    }
  }
  auto c = field(j, "cwd");
  if (!c) return invalid_spec(where + ".cwd: is required");
  CR_ASSIGN(p.cwd, get_string(*c, where + ".cwd"));
  if (p.cwd.empty() || p.cwd[0] != '/')
    return invalid_spec(where + ".cwd: must be an absolute path, got \"" + p.cwd + "\"");
  if (auto f = field(j, "capabilities")) {
    CR_ASSIGN(Capabilities caps, parse_caps(*f, where + ".capabilities"));
    p.capabilities = std::move(caps);
  }
  if (auto f = field(j, "rlimits")) {
    if (!f->is_array()) return type_err(where + ".rlimits", "an array");
    std::set<std::string> seen;
    for (size_t i = 0; i < f->size(); i++) {
      std::string w = where + ".rlimits[" + std::to_string(i) + "]";
      const json& r = (*f)[i];
      CR_TRY(require_object(r, w));
      Rlimit rl;
      auto t = field(r, "type");
      if (!t) return invalid_spec(w + ".type: is required");
      CR_ASSIGN(rl.type, get_string(*t, w + ".type"));
      auto res = rlimit_by_name(rl.type);
      if (!res) return invalid_spec(w + ".type: unknown rlimit \"" + rl.type + "\"");
      rl.resource = *res;
      if (!seen.insert(rl.type).second)
        return invalid_spec(w + ".type: duplicate rlimit \"" + rl.type + "\"");
      auto h = field(r, "hard");
      auto s = field(r, "soft");
      if (!h) return invalid_spec(w + ".hard: is required");
      if (!s) return invalid_spec(w + ".soft: is required");
      CR_ASSIGN(rl.hard, get_u64(*h, w + ".hard"));
      CR_ASSIGN(rl.soft, get_u64(*s, w + ".soft"));
      if (rl.soft > rl.hard)
        return invalid_spec(w + ": soft limit " + std::to_string(rl.soft) +
                            " is greater than hard limit " + std::to_string(rl.hard));
      p.rlimits.push_back(rl);
    }
  }
  if (auto f = field(j, "noNewPrivileges")) {
    CR_ASSIGN(p.no_new_privileges, get_bool(*f, where + ".noNewPrivileges"));
  }
  if (auto f = field(j, "apparmorProfile")) {
    CR_ASSIGN(p.apparmor_profile, get_string(*f, where + ".apparmorProfile"));
  }
  if (auto f = field(j, "oomScoreAdj")) {
    CR_ASSIGN(int64_t v, get_int(*f, where + ".oomScoreAdj"));
    if (v < -1000 || v > 1000)
      return invalid_spec(where + ".oomScoreAdj: must be between -1000 and 1000, got " +
                          std::to_string(v));
    p.oom_score_adj = static_cast<int>(v);
  }
  if (auto f = field(j, "selinuxLabel")) {
    CR_ASSIGN(p.selinux_label, get_string(*f, where + ".selinuxLabel"));
  }
  if (auto f = field(j, "ioPriority")) {
    CR_ASSIGN(IoPriority io, parse_io_priority(*f, where + ".ioPriority"));
    p.io_priority = std::move(io);
  }
  if (auto f = field(j, "scheduler")) {
    CR_ASSIGN(Scheduler sc, parse_scheduler(*f, where + ".scheduler"));
    p.scheduler = std::move(sc);
  }
  return p;
}

Result<Spec> parse_spec(const std::string& text) {
  json j;
  try {
    j = json::parse(text);
  } catch (const json::parse_error& e) {
    // Turn the byte offset into line:column for the user.
    size_t off = std::min<size_t>(e.byte ? e.byte - 1 : 0, text.size());
    size_t line = 1 + std::count(text.begin(), text.begin() + static_cast<long>(off), '\n');
    size_t nl = text.rfind('\n', off ? off - 1 : 0);
    size_t col = (nl == std::string::npos || off == 0) ? off + 1 : off - nl;
    std::string what = e.what();
    auto p = what.find("parse error");
    return invalid_spec("config.json: invalid JSON at line " + std::to_string(line) + ", column " +
                        std::to_string(col) + ": " +
                        (p == std::string::npos ? what : what.substr(p)));
  }
  if (!j.is_object()) return invalid_spec("config.json: must be a JSON object");
  Spec s;
  // Missing, empty or not 1.x: read as 1.x with a warning (runc 1.1.5 does not look at it).
  if (auto v = field(j, "ociVersion")) {
    CR_ASSIGN(s.oci_version, get_string(*v, "ociVersion"));
  }
  if (auto f = field(j, "process")) {
    CR_ASSIGN(Process p, parse_process(*f, "process"));
    s.process = std::move(p);
  }
  auto r = field(j, "root");
  if (!r) return invalid_spec("root: is required");
  CR_TRY(require_object(*r, "root"));
  auto rp = field(*r, "path");
  if (!rp) return invalid_spec("root.path: is required");
  CR_ASSIGN(s.root.path, get_string(*rp, "root.path"));
  if (s.root.path.empty()) return invalid_spec("root.path: must not be empty");
  if (auto f = field(*r, "readonly")) {
    CR_ASSIGN(s.root.readonly, get_bool(*f, "root.readonly"));
  }
  if (auto f = field(j, "hostname")) {
    CR_ASSIGN(s.hostname, get_string(*f, "hostname"));
  }
  if (auto f = field(j, "domainname")) {
    CR_ASSIGN(std::string d, get_string(*f, "domainname"));
    s.domainname = d;
  }
  if (auto f = field(j, "mounts")) {
    if (!f->is_array()) return type_err("mounts", "an array");
    for (size_t i = 0; i < f->size(); i++) {
      CR_ASSIGN(Mount m, parse_mount((*f)[i], "mounts[" + std::to_string(i) + "]"));
      s.mounts.push_back(std::move(m));
    }
  }
  if (auto f = field(j, "hooks")) {
    CR_ASSIGN(s.hooks, parse_hooks(*f));
  }
  if (auto f = field(j, "annotations")) {
    CR_ASSIGN(s.annotations, get_string_map(*f, "annotations"));
  }
  if (auto f = field(j, "linux")) {
    CR_ASSIGN(Linux l, parse_linux(*f));
    s.linux_ = std::move(l);
  }
  s.raw = std::move(j);
  return s;
}

Result<Spec> load_spec(const std::string& bundle) {
  std::string path = bundle + "/config.json";
  auto text = read_regular_file(path);
  if (!text) {
    Error e = text.error();
    if (e.err == ENOENT) e.message = "open `" + path + "`";
    return e;
  }
  return parse_spec(*text);
}

Status validate(const Spec& s) {
  if (!s.process) return invalid_spec("process: is required");
  const Linux& l = s.linux_or_empty();
  // A uts namespace of the container's own: new, or joined by path (set there, as runc).
  bool own_uts = l.has_ns(NsType::Uts);
  if (!s.hostname.empty() && !own_uts)
    return invalid_spec("hostname: requires a uts namespace (linux.namespaces type \"uts\")");
  if (s.domainname && !s.domainname->empty() && !own_uts)
    return invalid_spec("domainname: requires a uts namespace (linux.namespaces type \"uts\")");
  bool userns = l.has_ns(NsType::User);
  if ((!l.uid_mappings.empty() || !l.gid_mappings.empty()) && !userns)
    return invalid_spec(
        "linux.uidMappings: requires a user namespace (linux.namespaces type \"user\")");
  if (auto ns = l.find_ns(NsType::User); ns && ns->path.empty()) {
    if (l.uid_mappings.empty())
      return invalid_spec("linux.uidMappings: required with a new user namespace");
    if (l.gid_mappings.empty())
      return invalid_spec("linux.gidMappings: required with a new user namespace");
  }
  if (!l.time_offsets.empty()) {
    auto ns = l.find_ns(NsType::Time);
    if (!ns || !ns->path.empty())
      return invalid_spec("linux.timeOffsets: requires a new time namespace");
  }
  for (auto& [key, val] : l.sysctl) {
    (void)val;
    bool net = key.rfind("net.", 0) == 0;
    bool ipc = key.rfind("kernel.msg", 0) == 0 || key.rfind("kernel.sem", 0) == 0 ||
               key.rfind("kernel.shm", 0) == 0 || key.rfind("fs.mqueue.", 0) == 0;
    bool uts = key == "kernel.hostname" || key == "kernel.domainname";
    if (net && !l.has_ns(NsType::Network))
      return invalid_spec("linux.sysctl." + key + ": requires a network namespace");
    if (ipc && !l.has_ns(NsType::Ipc))
      return invalid_spec("linux.sysctl." + key + ": requires an ipc namespace");
    if (uts && !l.has_ns(NsType::Uts))
      return invalid_spec("linux.sysctl." + key + ": requires a uts namespace");
    if (!net && !ipc && !uts)
      return invalid_spec("linux.sysctl." + key + ": not namespaced; refusing to change the host");
  }
  return {};
}

std::vector<std::string> warnings(const Spec& s) {
  std::vector<std::string> w;
  if (s.oci_version.rfind("1.", 0) != 0)
    w.push_back("ociVersion \"" + s.oci_version +
                "\" is not a runtime-spec 1.x version: read as 1.x");
  // runc 1.1.5's words; the destination is taken relative to the rootfs (mount_destination).
  for (auto& m : s.mounts)
    if (m.destination[0] != '/')
      w.push_back("mount destination " + m.destination +
                  " is not absolute. Support for non-absolute mount destinations will be removed "
                  "in a future release.");
  return w;
}

// ---- tables ---------------------------------------------------------------

namespace {
const std::pair<const char*, int> kRlimits[] = {
    {"RLIMIT_CPU", RLIMIT_CPU},           {"RLIMIT_FSIZE", RLIMIT_FSIZE},
    {"RLIMIT_DATA", RLIMIT_DATA},         {"RLIMIT_STACK", RLIMIT_STACK},
    {"RLIMIT_CORE", RLIMIT_CORE},         {"RLIMIT_RSS", RLIMIT_RSS},
    {"RLIMIT_NPROC", RLIMIT_NPROC},       {"RLIMIT_NOFILE", RLIMIT_NOFILE},
    {"RLIMIT_MEMLOCK", RLIMIT_MEMLOCK},   {"RLIMIT_AS", RLIMIT_AS},
    {"RLIMIT_LOCKS", RLIMIT_LOCKS},       {"RLIMIT_SIGPENDING", RLIMIT_SIGPENDING},
    {"RLIMIT_MSGQUEUE", RLIMIT_MSGQUEUE}, {"RLIMIT_NICE", RLIMIT_NICE},
    {"RLIMIT_RTPRIO", RLIMIT_RTPRIO},     {"RLIMIT_RTTIME", RLIMIT_RTTIME}};
}  // namespace

std::optional<int> rlimit_by_name(const std::string& name) {
  for (auto& p : kRlimits)
    if (name == p.first) return p.second;
  return std::nullopt;
}

std::vector<std::string> known_rlimits() {
  std::vector<std::string> out;
  for (auto& p : kRlimits) out.emplace_back(p.first);
  return out;
}

std::optional<int> capability_by_name(const std::string& name) {
  std::string n = name;
  for (auto& ch : n) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  if (n.rfind("cap_", 0) != 0) return std::nullopt;
  cap_value_t v;
  if (cap_from_name(n.c_str(), &v) == 0) return static_cast<int>(v);
  return std::nullopt;
}

std::vector<std::string> known_capabilities() {
  std::vector<std::string> out;
  for (int c = 0; c <= CAP_LAST_CAP; c++) {
    char* n = cap_to_name(c);
    if (!n) continue;
    std::string s = n;
    cap_free(n);
    for (auto& ch : s) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
    out.push_back(s);
  }
  return out;
}

}  // namespace crunner::spec
