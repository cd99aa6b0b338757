#include "garden/bundle/process_spec.hpp"

#include <fcntl.h>
#include <unistd.h>

#include "base/file.hpp"
#include "base/safepath.hpp"
#include "base/text.hpp"
#include "garden/bundle/bundle.hpp"

namespace garden {

using json = nlohmann::json;

// Reads a file of the container's rootfs, resolving the path inside it.
std::string read_in_root(const std::string& rootfs, const char* rel) {
  crunner::UniqueFd root(open(rootfs.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!root) return "";
  auto f = crunner::open_in_root(root.get(), rel, O_RDONLY);
  if (!f) return "";
  auto r = crunner::read_fd(f->get());
  return r ? *r : "";
}

// Resolves a Garden user the way Guardian does (rundmc/users/lookup_linux.go, which calls
// runc's user.GetExecUserPath): "" is the passwd entry of uid 0; "name" or "uid" is looked up
// in /etc/passwd (a number without an entry is that uid with gid 0 and home "/");
// ":group" picks the primary group by name or number; without one, the supplementary
// groups are every /etc/group entry listing the user's name. With no /etc/passwd at all,
// "root" is uid 0 with home "/".
bool resolve_user(const std::string& rootfs, const std::string& spec, User& u, std::string& err) {
  std::string user = spec, group;
  bool has_group = false;
  auto colon = user.find(':');
  if (colon != std::string::npos) {
    group = user.substr(colon + 1);
    user = user.substr(0, colon);
    has_group = !group.empty();
  }
  u = User{};
  u.uid = 0;
  u.gid = 0;
  u.home = "/";
  long long num = 0;
  bool numeric = crunner::parse_i64(user, num) && num >= 0;
  std::string passwd = read_in_root(rootfs, "etc/passwd");
  if (passwd.empty() && (user.empty() || user == "root") && !has_group) return true;
  std::string matched;
  for (auto& line : crunner::split(passwd, '\n')) {
    auto f = crunner::split(line, ':');
    if (f.size() < 7) continue;
    long long uid = 0, gid = 0;
    if (!crunner::parse_i64(f[2], uid) || !crunner::parse_i64(f[3], gid)) continue;
    bool match = user.empty() ? uid == 0 : numeric ? uid == num : f[0] == user;
    if (match) {
      matched = f[0];
      u = {f[0], uid, gid, f[5].empty() ? "/" : f[5]};
      break;
    }
  }
  if (matched.empty() && !user.empty()) {
    if (!numeric) {
      err = "unable to find user " + user + ": no matching entries in passwd file";
      return false;
    }
    u.uid = num;
  }
  if (has_group || !matched.empty()) {
    long long gnum = 0;
    bool gnumeric = crunner::parse_i64(group, gnum) && gnum >= 0;
    bool found = false;
    for (auto& line : crunner::split(read_in_root(rootfs, "etc/group"), '\n')) {
      auto f = crunner::split(line, ':');
      long long gid = 0;
      if (f.size() < 3 || !crunner::parse_i64(f[2], gid)) continue;
      if (has_group) {
        if (found || !(gnumeric ? gid == gnum : f[0] == group)) continue;
        u.gid = gid;
        found = true;
      } else if (f.size() >= 4) {
        for (auto& member : crunner::split(f[3], ','))
          if (member == matched) {
            u.sgids.push_back(gid);
            break;
          }
      }
    }
    if (has_group && !found) {
      if (!gnumeric) {
        err = "unable to find group " + group + ": no matching entries in group file";
        return false;
      }
      u.gid = gnum;
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
  // rundmc/processes/unix_env.go: the container's env, the spec's, then PATH (by uid) and
  // USER (the spec's user string, "root" when empty) unless given.
  json env = json::array();
  for (auto& e : meta.value("env", json::array())) env.push_back(e);
  if (spec.contains("env") && spec["env"].is_array())
    for (auto& e : spec["env"])
      if (e.is_string()) env.push_back(e);
  if (!has_env(env, "PATH"))
    env.push_back(u.uid == 0 ? "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
                             : "PATH=/usr/local/bin:/usr/bin:/bin");
  std::string user_spec = spec.contains("user") && spec["user"].is_string()
                              ? spec["user"].get<std::string>()
                              : std::string();
  if (!has_env(env, "USER")) env.push_back("USER=" + (user_spec.empty() ? "root" : user_spec));
  json args = json::array({spec.value("path", "")});
  if (spec.contains("args") && spec["args"].is_array())
    for (auto& a : spec["args"]) args.push_back(a);
  std::string dir = spec.value("dir", "");
  if (dir.empty()) dir = u.home;
  // rundmc/processes/builder.go: bounding = inheritable = permitted = the caps for this user;
  // no ambient set, so a non-root process keeps none effective or permitted after execve.
  json caps = container_caps(meta.value("privileged", false), u.uid);
  json none = json::array();
  json gids = json::array();
  for (long long g : u.sgids) gids.push_back(g);
  json p = {{"terminal", false},
            {"user", {{"uid", u.uid}, {"gid", u.gid}, {"additionalGids", gids}}},
            {"args", args},
            {"env", env},
            {"cwd", dir},
            {"capabilities",
             {{"bounding", caps},
              {"effective", u.uid == 0 ? caps : none},
              {"permitted", caps},
              {"inheritable", caps}}},
            {"noNewPrivileges", false}};
  std::string profile = meta.value("apparmor_profile", "");
  if (!profile.empty() && !meta.value("privileged", false)) p["apparmorProfile"] = profile;
  if (spec.contains("tty") && spec["tty"].is_object()) {
    p["terminal"] = true;
    // exec_preparer.go: 80x24 unless the spec gives a window size.
    p["consoleSize"] = {{"height", 24}, {"width", 80}};
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
