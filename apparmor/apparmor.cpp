#include "apparmor/apparmor.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>

#include "base/eintr.hpp"
#include "base/fd.hpp"
#include "base/file.hpp"
#include "base/text.hpp"

namespace crunner::apparmor {

namespace {

// The list holds a few hundred profiles on a distribution host; far below this.
constexpr size_t kMaxProfilesList = 4 << 20;

Status not_enabled(const std::string& profile) {
  return make_error(ErrorKind::Unsupported, "apparmor profile \"" + profile +
                                                "\" requested but AppArmor is not enabled on "
                                                "this host");
}

Status not_loaded(const std::string& profile) {
  return make_error(ErrorKind::NotFound, "apparmor profile \"" + profile + "\" is not loaded");
}

}  // namespace

bool is_enabled(const std::string& sys_root) {
  auto r = read_file(sys_root + "/module/apparmor/parameters/enabled");
  return r.ok() && !r->empty() && (*r)[0] == 'Y';
}

std::optional<std::vector<std::string>> loaded_profiles(const std::string& sys_root) {
  auto text = read_file(sys_root + "/kernel/security/apparmor/profiles");
  if (!text.ok() || text->size() > kMaxProfilesList) return std::nullopt;
  std::vector<std::string> names;
  for (auto& line : split(*text, '\n')) {
    // "NAME (MODE)": the name may hold spaces, the mode never does.
    auto paren = line.rfind(" (");
    if (paren != std::string::npos) names.push_back(line.substr(0, paren));
  }
  return names;
}

Status check_profile(const std::string& profile, const std::string& sys_root) {
  if (profile.empty()) return {};
  if (!is_enabled(sys_root)) return not_enabled(profile);
  if (profile == "unconfined" || profile[0] == ':' || profile.find("//&") != std::string::npos)
    return {};
  auto names = loaded_profiles(sys_root);
  if (!names || std::find(names->begin(), names->end(), profile) != names->end()) return {};
  return not_loaded(profile);
}

Status apply_exec_profile(const std::string& profile, const std::string& proc_root,
                          const std::string& sys_root) {
  if (profile.empty()) return {};
  if (!is_enabled(sys_root)) return not_enabled(profile);
  std::string path = proc_root + "/thread-self/attr/apparmor/exec";
  int fd = CR_RETRY(open(path.c_str(), O_WRONLY | O_CLOEXEC));
  if (fd < 0 && errno == ENOENT) {
    // Kernels before 5.8 have only the shared (first LSM's) attribute file.
    path = proc_root + "/self/attr/exec";
    fd = CR_RETRY(open(path.c_str(), O_WRONLY | O_CLOEXEC));
  }
  std::string ctx = "apply apparmor profile \"" + profile + "\": write `" + path + "`";
  if (fd < 0) return sys_error(ctx);
  UniqueFd guard(fd);
  std::string cmd = "exec " + profile;
  // One write(): the LSM parses the whole command from a single buffer. ENOENT: the
  // kernel knows no such profile (loaded between our check and now, or unlisted).
  ssize_t n = CR_RETRY(write(fd, cmd.data(), cmd.size()));
  if (n < 0 && errno == ENOENT) return not_loaded(profile);
  if (n < 0) return sys_error(ctx);
  if (static_cast<size_t>(n) != cmd.size())
    return make_error(ErrorKind::Syscall, ctx + ": short write");
  return {};
}

}  // namespace crunner::apparmor
