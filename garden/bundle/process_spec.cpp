#include "garden/bundle/process_spec.hpp"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "garden/bundle/bundle.hpp"
#include "libcontainer/utils.hpp"

namespace garden {

using json = nlohmann::json;

// Reads a file of the container's rootfs, resolving the path inside it.
std::string read_in_root(const std::string& rootfs, const char* rel) {
  crunner::UniqueFd root(open(rootfs.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!root) return "";
  open_how how{};
  how.flags = O_RDONLY | O_CLOEXEC;
  how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
  int fd = static_cast<int>(syscall(SYS_openat2, root.get(), rel, &how, sizeof how));
  if (fd < 0) return "";
  crunner::UniqueFd f(fd);
  auto r = crunner::read_fd(f.get());
  return r ? *r : "";
}

// Resolves "name", "uid", "uid:gid" or "name:group" against the container's /etc/passwd.
bool resolve_user(const std::string& rootfs, const std::string& spec, User& u, std::string& err) {
  std::string user = spec.empty() ? "root" : spec, group;
  auto colon = user.find(':');
  if (colon != std::string::npos) {
    group = user.substr(colon + 1);
    user = user.substr(0, colon);
  }
  long long num = 0;
  bool numeric = crunner::parse_i64(user, num);
  bool found = false;
  for (auto& line : crunner::split(read_in_root(rootfs, "etc/passwd"), '\n')) {
    auto f = crunner::split(line, ':');
    if (f.size() < 7) continue;
    long long uid = 0, gid = 0;
    if (!crunner::parse_i64(f[2], uid) || !crunner::parse_i64(f[3], gid)) continue;
    if ((numeric && uid == num) || (!numeric && f[0] == user)) {
      u = {f[0], uid, gid, f[5].empty() ? "/" : f[5]};
      found = true;
      break;
    }
  }
  if (!found) {
    if (!numeric) {
      err = "unable to find user " + user + ": no matching entries in passwd file";
      return false;
    }
    u = {"", num, num, "/"};
  }
  if (!group.empty()) {
    long long g = 0;
    if (crunner::parse_i64(group, g)) {
      u.gid = g;
    } else {
      bool gf = false;
      for (auto& line : crunner::split(read_in_root(rootfs, "etc/group"), '\n')) {
        auto f = crunner::split(line, ':');
        if (f.size() >= 3 && f[0] == group && crunner::parse_i64(f[2], g)) {
          u.gid = g;
          gf = true;
        }
      }
      if (!gf) {
        err = "unable to find group " + group;
        return false;
      }
    }
  }
  return true;
}

namespace {
bool has_env(const json& env, const std::string& key) {
  for (auto& e : env)
    if (e.is_string() && e.get<std::string>().rfind(key + "=", 0) == 0) return true;
  return false;
}

}  // namespace

json build_process(const json& spec, const json& meta, const User& u) {
  json env = json::array();
  for (auto& e : meta.value("env", json::array())) env.push_back(e);
  if (spec.contains("env") && spec["env"].is_array())
    for (auto& e : spec["env"])
      if (e.is_string()) env.push_back(e);
  if (!has_env(env, "PATH"))
    env.push_back(u.uid == 0 ? "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
                             : "PATH=/usr/local/bin:/usr/bin:/bin");
  if (!has_env(env, "USER") && !u.name.empty()) env.push_back("USER=" + u.name);
  json args = json::array({spec.value("path", "")});
  if (spec.contains("args") && spec["args"].is_array())
    for (auto& a : spec["args"]) args.push_back(a);
  std::string dir = spec.value("dir", "");
  if (dir.empty()) dir = u.home;
  json caps = container_caps(meta.value("privileged", false));
  json none = json::array();
  json p = {{"terminal", false},
            {"user", {{"uid", u.uid}, {"gid", u.gid}}},
            {"args", args},
            {"env", env},
            {"cwd", dir},
            {"capabilities",
             {{"bounding", caps},
              {"effective", u.uid == 0 ? caps : none},
              {"permitted", u.uid == 0 ? caps : none},
              {"inheritable", u.uid == 0 ? caps : none}}},
            {"noNewPrivileges", false}};
  if (spec.contains("tty") && spec["tty"].is_object()) {
    p["terminal"] = true;
    json ws = spec["tty"].value("window_size", json::object());
    if (ws.is_object() && ws.value("columns", 0) > 0 && ws.value("rows", 0) > 0)
      p["consoleSize"] = {{"height", ws.value("rows", 0)}, {"width", ws.value("columns", 0)}};
  }
  static const char* const kRlimits[] = {"as",    "core",    "cpu",      "data",       "fsize",
                                         "locks", "memlock", "msgqueue", "nice",       "nofile",
                                         "nproc", "rss",     "rtprio",   "sigpending", "stack"};
  json rl = json::array();
  json srl = spec.value("rlimits", json::object());
  if (srl.is_object())
    for (const char* k : kRlimits)
      if (srl.contains(k) && srl[k].is_number_integer() && srl[k].get<long long>() >= 0) {
        std::string name = std::string("RLIMIT_") + k;
        for (auto& ch : name) ch = static_cast<char>(toupper(ch));
        rl.push_back({{"type", name}, {"soft", srl[k]}, {"hard", srl[k]}});
      }
  if (!rl.empty()) p["rlimits"] = rl;
  return p;
}

}  // namespace garden
