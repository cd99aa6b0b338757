#include "garden/image/plugin.hpp"

#include <sys/stat.h>

#include "base/text.hpp"
#include "garden/runtime/runtime.hpp"

namespace garden::image {

using json = nlohmann::json;

namespace {

constexpr size_t kMaxEcho = 1024;        // plugin output quoted in an error message
constexpr size_t kMaxMounts = 256;       // mounts in a spec fragment
constexpr size_t kMaxEnv = 4096;         // environment entries
constexpr size_t kMaxString = 64 << 10;  // one path, option or env entry

std::string mapping_text(const IdMapping& m) {
  return std::to_string(m.container_id) + ":" + std::to_string(m.host_id) + ":" +
         std::to_string(m.size);
}

std::vector<std::string> base(const Plugin& p) {
  std::vector<std::string> argv = {p.path};
  argv.insert(argv.end(), p.extra_args.begin(), p.extra_args.end());
  return argv;
}

// Plugin output quoted in an error: trimmed, bounded, on one line.
std::string echo(const std::string& s) {
  std::string t = crunner::trim(s);
  if (t.size() > kMaxEcho) t = t.substr(0, kMaxEcho) + "...";
  for (auto& c : t)
    if (c == '\n' || c == '\r') c = ' ';
  return t;
}

bool clean_absolute(const std::string& p) {
  if (p.empty() || p[0] != '/' || p.size() > kMaxString || p.find('\0') != std::string::npos)
    return false;
  for (auto& c : crunner::split(p, '/'))
    if (c == "..") return false;
  return true;
}

bool is_string(const json& j, const char* key) {
  return j.contains(key) && j[key].is_string();
}

bool parse_mount(const json& m, size_t i, json& out, std::string& err) {
  std::string where = "mounts[" + std::to_string(i) + "]";
  if (!m.is_object()) {
    err = where + " must be an object";
    return false;
  }
  if (!is_string(m, "destination") || !clean_absolute(m["destination"].get<std::string>())) {
    err = where + ".destination must be an absolute path without `..`";
    return false;
  }
  out = {{"destination", m["destination"]}};
  for (const char* k : {"type", "source"}) {
    if (!m.contains(k) || m[k].is_null()) continue;
    if (!m[k].is_string() || m[k].get<std::string>().size() > kMaxString) {
      err = where + "." + k + " must be a string";
      return false;
    }
    out[k] = m[k];
  }
  if (m.contains("options") && !m["options"].is_null()) {
    if (!m["options"].is_array() || m["options"].size() > kMaxMounts) {
      err = where + ".options must be an array of strings";
      return false;
    }
    for (auto& o : m["options"])
      if (!o.is_string() || o.get<std::string>().size() > kMaxString) {
        err = where + ".options must be an array of strings";
        return false;
      }
    out["options"] = m["options"];
  }
  return true;
}

bool parse_env(const json& e, const std::string& where, std::vector<std::string>& out,
               std::string& err) {
  if (!e.is_array() || e.size() > kMaxEnv) {
    err = where + " must be an array of at most " + std::to_string(kMaxEnv) + " strings";
    return false;
  }
  out.clear();
  for (auto& v : e) {
    if (!v.is_string() || v.get<std::string>().size() > kMaxString ||
        v.get<std::string>().find('=') == std::string::npos ||
        v.get<std::string>().find('\0') != std::string::npos) {
      err = where + " entries must be \"KEY=VALUE\" strings";
      return false;
    }
    out.push_back(v.get<std::string>());
  }
  return true;
}

}  // namespace

std::vector<IdMapping> unprivileged_id_mappings() {
  return {{0, 4294967294ULL, 1}, {1, 1, 4294967293ULL}};
}

CreateRequest create_request(const json& spec, const std::string& uri, const std::string& handle,
                             bool privileged, unsigned long long disk_limit, bool exclusive_scope) {
  CreateRequest r;
  r.rootfs = uri;
  r.handle = handle;
  r.namespaced = !privileged;
  r.disk_limit = disk_limit;
  r.exclude_image_from_quota = exclusive_scope;
  if (spec.contains("image") && spec["image"].is_object()) {
    const json& i = spec["image"];
    if (i.contains("username") && i["username"].is_string()) r.username = i["username"];
    if (i.contains("password") && i["password"].is_string()) r.password = i["password"];
  }
  if (r.namespaced) r.uid_mappings = r.gid_mappings = unprivileged_id_mappings();
  return r;
}

std::vector<std::string> create_argv(const Plugin& p, const CreateRequest& r) {
  auto argv = base(p);
  argv.push_back("create");
  if (r.namespaced) {
    // Guardian's unprivileged command creator: each mapping, uid then gid.
    size_t n = std::max(r.uid_mappings.size(), r.gid_mappings.size());
    for (size_t i = 0; i < n; ++i) {
      if (i < r.uid_mappings.size())
        argv.insert(argv.end(), {"--uid-mapping", mapping_text(r.uid_mappings[i])});
      if (i < r.gid_mappings.size())
        argv.insert(argv.end(), {"--gid-mapping", mapping_text(r.gid_mappings[i])});
    }
  }
  if (r.disk_limit > 0) {
    argv.insert(argv.end(), {"--disk-limit-size-bytes", std::to_string(r.disk_limit)});
    if (r.exclude_image_from_quota) argv.push_back("--exclude-image-from-quota");
  }
  if (!r.username.empty()) argv.insert(argv.end(), {"--username", r.username});
  if (!r.password.empty()) argv.insert(argv.end(), {"--password", r.password});
  // Guardian hands the plugin the URL with its first '#' (docker://name#tag) as ':'.
  std::string uri = r.rootfs;
  if (auto h = uri.find('#'); h != std::string::npos) uri[h] = ':';
  argv.push_back(uri);
  argv.push_back(r.handle);
  return argv;
}

std::vector<std::string> delete_argv(const Plugin& p, const std::string& handle) {
  auto argv = base(p);
  argv.insert(argv.end(), {"delete", handle});
  return argv;
}

std::vector<std::string> stats_argv(const Plugin& p, const std::string& handle) {
  auto argv = base(p);
  argv.insert(argv.end(), {"stats", handle});
  return argv;
}

bool parse_create_output(const std::string& out, ImageSpec& spec, std::string& err) {
  auto fail = [&](const std::string& why) {
    err = "parsing image plugin create: " + echo(out) + ": " + why;
    return false;
  };
  if (out.size() > kMaxOutput)
    return fail("output exceeds " + std::to_string(kMaxOutput) + " bytes");
  json j = json::parse(out, nullptr, false);
  if (!j.is_object()) return fail("expected a JSON object");
  spec = ImageSpec{};
  spec.mounts = json::array();
  // root.path, overridden by the deprecated top-level "rootfs" when that is set.
  if (j.contains("root") && !j["root"].is_null()) {
    if (!j["root"].is_object()) return fail("root must be an object");
    if (j["root"].contains("path") && !j["root"]["path"].is_null()) {
      if (!j["root"]["path"].is_string()) return fail("root.path must be a string");
      spec.root_path = j["root"]["path"].get<std::string>();
    }
  }
  if (j.contains("rootfs") && !j["rootfs"].is_null()) {
    if (!j["rootfs"].is_string()) return fail("rootfs must be a string");
    if (!j["rootfs"].get<std::string>().empty()) spec.root_path = j["rootfs"].get<std::string>();
  }
  if (spec.root_path.empty()) return fail("no root.path");
  if (!clean_absolute(spec.root_path))
    return fail("root.path `" + echo(spec.root_path) + "` is not an absolute path without `..`");
  // process.env, overridden by the deprecated image.config.Env when that is set.
  if (j.contains("process") && !j["process"].is_null()) {
    const json& p = j["process"];
    if (!p.is_object()) return fail("process must be an object");
    if (p.contains("env") && !p["env"].is_null() &&
        !parse_env(p["env"], "process.env", spec.env, err))
      return fail(err);
    // The image's user and working directory are not applied (Guardian does not either:
    // a process runs as its ProcessSpec.user, in its dir); their types are still checked.
    if (p.contains("user") && !p["user"].is_null() && !p["user"].is_object())
      return fail("process.user must be an object");
    if (p.contains("cwd") && !p["cwd"].is_null() && !p["cwd"].is_string())
      return fail("process.cwd must be a string");
  }
  if (j.contains("image") && j["image"].is_object() && j["image"].contains("config") &&
      j["image"]["config"].is_object()) {
    const json& c = j["image"]["config"];
    if (c.contains("Env") && !c["Env"].is_null() &&
        !parse_env(c["Env"], "image.config.Env", spec.env, err))
      return fail(err);
  }
  if (j.contains("mounts") && !j["mounts"].is_null()) {
    if (!j["mounts"].is_array()) return fail("mounts must be an array");
    if (j["mounts"].size() > kMaxMounts)
      return fail("more than " + std::to_string(kMaxMounts) + " mounts");
    for (size_t i = 0; i < j["mounts"].size(); ++i) {
      json m;
      if (!parse_mount(j["mounts"][i], i, m, err)) return fail(err);
      spec.mounts.push_back(m);
    }
  }
  err.clear();
  return true;
}

bool parse_stats_output(const std::string& out, DiskUsage& usage, std::string& err) {
  auto fail = [&](const std::string& why) {
    err = "parsing stats: " + echo(out) + ": " + why;
    return false;
  };
  if (out.size() > kMaxOutput)
    return fail("output exceeds " + std::to_string(kMaxOutput) + " bytes");
  json j = json::parse(out, nullptr, false);
  if (!j.is_object()) return fail("expected a JSON object");
  usage = DiskUsage{};
  if (!j.contains("disk_usage") || j["disk_usage"].is_null()) return true;
  const json& d = j["disk_usage"];
  if (!d.is_object()) return fail("disk_usage must be an object");
  for (auto [key, dst] :
       {std::pair<const char*, unsigned long long*>{"total_bytes_used", &usage.total_bytes},
        {"exclusive_bytes_used", &usage.exclusive_bytes}}) {
    if (!d.contains(key) || d[key].is_null()) continue;
    if (!d[key].is_number_unsigned() &&
        !(d[key].is_number_integer() && d[key].get<long long>() >= 0))
      return fail(std::string("disk_usage.") + key + " must be a non-negative integer");
    *dst = d[key].get<unsigned long long>();
  }
  return true;
}

std::string run_error(const std::string& action, int status, const std::string& out,
                      const std::string& err) {
  std::string text = echo(out);
  if (text.empty()) {
    auto lines = crunner::split(crunner::trim(err), '\n');
    if (!lines.empty()) text = echo(lines.back());
  }
  std::string how = status < 0 ? "could not be started" : "exit status " + std::to_string(status);
  return "running image plugin " + action + ": " + (text.empty() ? "" : text + ": ") + how;
}

std::string spec_image_uri(const json& spec, std::string& err) {
  std::string rootfs, uri;
  if (spec.contains("rootfs") && !spec["rootfs"].is_null()) {
    if (!spec["rootfs"].is_string()) {
      err = "invalid container spec: rootfs must be a string";
      return "";
    }
    rootfs = spec["rootfs"].get<std::string>();
  }
  if (spec.contains("image") && !spec["image"].is_null()) {
    const json& i = spec["image"];
    if (!i.is_object()) {
      err = "invalid container spec: image must be an object";
      return "";
    }
    for (const char* k : {"uri", "username", "password"})
      if (i.contains(k) && !i[k].is_null() && !i[k].is_string()) {
        err = std::string("invalid container spec: image.") + k + " must be a string";
        return "";
      }
    uri = i.value("uri", "");
  }
  if (!uri.empty() && !rootfs.empty()) {
    err = "Cannot provide both Image.URI and RootFSPath";
    return "";
  }
  return uri.empty() ? rootfs : uri;
}

bool is_raw(const std::string& uri, std::string* path) {
  if (uri.rfind("raw://", 0) != 0) return false;
  if (path) *path = uri.substr(6);
  return true;
}

const Plugin* Plugins::for_container(bool privileged_container, std::string& err) const {
  // Guardian's NotImplementedCommandCreator errors, wrapped as its ImagePlugin wraps them.
  if (privileged_container) {
    if (privileged.configured()) return &privileged;
    err = "creating create command: no privileged_image_plugin provided";
    return nullptr;
  }
  if (unprivileged.configured()) return &unprivileged;
  err = "creating create command: no image_plugin provided";
  return nullptr;
}

bool Plugins::create(const Plugin& p, const CreateRequest& r, ImageSpec& out,
                     std::string& err) const {
  CmdResult res = run_cmd(create_argv(p, r), "", false, kMaxOutput);
  if (res.overflow) {
    err = "running image plugin create: output exceeds " + std::to_string(kMaxOutput) + " bytes";
    return false;
  }
  if (res.status != 0) {
    err = res.status < 0 ? "running image plugin create: " + res.err
                         : run_error("create", res.status, res.out, res.err);
    return false;
  }
  if (!parse_create_output(res.out, out, err)) return false;
  struct stat st;
  if (stat(out.root_path.c_str(), &st) < 0 || !S_ISDIR(st.st_mode)) {
    err = "image plugin create: root path `" + out.root_path + "` is not a directory";
    return false;
  }
  return true;
}

std::string Plugins::destroy(const std::string& handle) const {
  for (const Plugin* p : {&unprivileged, &privileged}) {
    if (!p->configured()) continue;
    CmdResult res = run_cmd(delete_argv(*p, handle), "", false, kMaxOutput);
    if (res.status != 0)
      return res.status < 0 ? "running image plugin destroy: " + res.err
                            : run_error("destroy", res.status, res.out, res.err);
  }
  return "";
}

bool Plugins::stats(const Plugin& p, const std::string& handle, DiskUsage& out,
                    std::string& err) const {
  CmdResult res = run_cmd(stats_argv(p, handle), "", false, kMaxOutput);
  if (res.overflow) {
    err = "running image plugin metrics: output exceeds " + std::to_string(kMaxOutput) + " bytes";
    return false;
  }
  if (res.status != 0) {
    err = res.status < 0 ? "running image plugin metrics: " + res.err
                         : run_error("metrics", res.status, res.out, res.err);
    return false;
  }
  return parse_stats_output(res.out, out, err);
}

}  // namespace garden::image
