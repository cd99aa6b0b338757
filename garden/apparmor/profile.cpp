#include "garden/apparmor/profile.hpp"

#include <unistd.h>

#include <vector>

#include "apparmor/apparmor.hpp"
#include "base/file.hpp"
#include "base/mountinfo.hpp"
#include "base/text.hpp"
#include "garden/runtime/runtime.hpp"

namespace garden::apparmor {

namespace {

// apparmor_parser's output is a few warning lines; more is cut.
constexpr size_t kParserOutputCap = 64 << 10;

// <securityfs>/apparmor/profiles, from the mount table; "" and err when securityfs is not
// mounted.
std::string profiles_file(const HostPaths& host, std::string& err) {
  if (!host.profiles.empty()) return host.profiles;
  auto mounts = crunner::read_mountinfo(host.mountinfo);
  if (!mounts) {
    err = mounts.error().what();
    return "";
  }
  for (auto& m : *mounts)
    if (m.fstype == "securityfs") return m.mountpoint + "/apparmor/profiles";
  err =
      "AppArmor is enabled but securityfs is not mounted (mount -t securityfs securityfs "
      "/sys/kernel/security)";
  return "";
}

// The mode the kernel lists `name` in ("enforce", "complain", ...); "" when it is not
// loaded. The list has one "NAME (MODE)" line per profile.
std::string loaded_mode(const std::string& profiles, const std::string& name, std::string& err) {
  auto text = crunner::read_file(profiles);
  if (!text) {
    err = text.error().what();
    return "";
  }
  const std::string prefix = name + " (";
  for (auto& line : crunner::split(*text, '\n'))
    if (line.rfind(prefix, 0) == 0 && line.size() > prefix.size() && line.back() == ')')
      return line.substr(prefix.size(), line.size() - prefix.size() - 1);
  return "";
}

std::string find_parser(const HostPaths& host) {
  if (!host.parser.empty()) return access(host.parser.c_str(), X_OK) == 0 ? host.parser : "";
  for (const char* dir : {"/usr/sbin", "/sbin", "/usr/bin", "/bin"}) {
    std::string p = std::string(dir) + "/apparmor_parser";
    if (access(p.c_str(), X_OK) == 0) return p;
  }
  return "";
}

// The last non-empty line of a command's stderr (or stdout).
std::string last_line(const CmdResult& r) {
  std::string last;
  for (auto& line : crunner::split(r.err.empty() ? r.out : r.err, '\n'))
    if (!crunner::trim(line).empty()) last = crunner::trim(line);
  return last;
}

// Loads (or replaces) our garden-default and checks the kernel lists it in enforce mode.
std::string load_default(const HostPaths& host, const std::string& profiles) {
  const std::string what = std::string("loading AppArmor profile ") + kDefaultProfile;
  std::string parser = find_parser(host);
  if (parser.empty())
    return what +
           ": apparmor_parser not found in /usr/sbin, /sbin, /usr/bin or /bin "
           "(Debian: apt-get install apparmor)";
  CmdResult r = run_cmd({parser, "--replace", "--skip-cache", "--quiet"}, kDefaultProfileText,
                        false, kParserOutputCap);
  if (r.status != 0) {
    std::string detail = last_line(r);
    return what + " with `" + parser + "`: " + (detail.empty() ? "" : detail + ": ") +
           (r.status < 0 ? "not started" : "exit status " + std::to_string(r.status));
  }
  std::string err;
  std::string mode = loaded_mode(profiles, kDefaultProfile, err);
  if (!err.empty()) return what + ": " + err;
  if (mode != "enforce")
    return what + ": `" + parser + "` succeeded but " + profiles + " lists it " +
           (mode.empty() ? "nowhere" : "in " + mode + " mode");
  return "";
}

}  // namespace

bool valid_profile_name(const std::string& name) {
  if (name.empty() || name.size() > 255 || name[0] == '-') return false;
  for (unsigned char ch : name)
    if (ch <= ' ' || ch >= 0x7f) return false;
  return true;
}

std::string choose_profile(const std::optional<std::string>& requested, Choice& out,
                           const HostPaths& host) {
  out = Choice{};
  std::string name = requested.value_or(kDefaultProfile);
  if (name.empty()) return "";  // --apparmor "": none
  if (!valid_profile_name(name))
    return "--apparmor: invalid profile name \"" + name +
           "\" (1 to 255 printable characters, no space, not starting with '-')";
  if (!crunner::apparmor::is_enabled(host.sys_root)) {
    if (requested)
      return "--apparmor: apparmor profile \"" + name +
             "\" requested but AppArmor is not enabled on this host";
    out.note =
        "AppArmor is not enabled on this host: unprivileged containers run without an "
        "AppArmor profile (the seccomp allowlist still applies)";
    return "";
  }
  std::string err;
  std::string profiles = profiles_file(host, err);
  if (!err.empty()) return "--apparmor: " + err;
  if (name == kDefaultProfile) {
    if (auto e = load_default(host, profiles); !e.empty()) return e;
  } else if (loaded_mode(profiles, name, err).empty()) {
    if (!err.empty()) return "--apparmor: " + err;
    return "--apparmor: apparmor profile \"" + name + "\" is not loaded (" + profiles +
           " does not list it): load it with apparmor_parser first";
  }
  out.profile = name;
  out.note = "unprivileged containers run under AppArmor profile " + name;
  return "";
}

}  // namespace garden::apparmor
