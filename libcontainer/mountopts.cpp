#include "libcontainer/mountopts.hpp"

#include <sys/mount.h>

#include <algorithm>
#include <string_view>

namespace crunner {

namespace {

struct FlagOpt {
  std::string_view name;
  bool clear;
  unsigned long flag;
};

// runc's libcontainer/specconv table.
constexpr FlagOpt kFlags[] = {
    {"acl", false, MS_POSIXACL},
    {"async", true, MS_SYNCHRONOUS},
    {"atime", true, MS_NOATIME},
    {"bind", false, MS_BIND},
    {"defaults", false, 0},
    {"dev", true, MS_NODEV},
    {"diratime", true, MS_NODIRATIME},
    {"dirsync", false, MS_DIRSYNC},
    {"exec", true, MS_NOEXEC},
    {"iversion", false, MS_I_VERSION},
    {"lazytime", false, MS_LAZYTIME},
    {"loud", true, MS_SILENT},
    {"mand", false, MS_MANDLOCK},
    {"noacl", true, MS_POSIXACL},
    {"noatime", false, MS_NOATIME},
    {"nodev", false, MS_NODEV},
    {"nodiratime", false, MS_NODIRATIME},
    {"noexec", false, MS_NOEXEC},
    {"noiversion", true, MS_I_VERSION},
    {"nolazytime", true, MS_LAZYTIME},
    {"nomand", true, MS_MANDLOCK},
    {"norelatime", true, MS_RELATIME},
    {"nostrictatime", true, MS_STRICTATIME},
    {"nosuid", false, MS_NOSUID},
    {"nosymfollow", false, MS_NOSYMFOLLOW},
    {"rbind", false, MS_BIND | MS_REC},
    {"relatime", false, MS_RELATIME},
    {"remount", false, MS_REMOUNT},
    {"ro", false, MS_RDONLY},
    {"rw", true, MS_RDONLY},
    {"silent", false, MS_SILENT},
    {"strictatime", false, MS_STRICTATIME},
    {"suid", true, MS_NOSUID},
    {"symfollow", true, MS_NOSYMFOLLOW},
    {"sync", false, MS_SYNCHRONOUS},
};

struct PropOpt {
  std::string_view name;
  unsigned long flag;
};

constexpr PropOpt kPropagation[] = {
    {"private", MS_PRIVATE},
    {"shared", MS_SHARED},
    {"slave", MS_SLAVE},
    {"unbindable", MS_UNBINDABLE},
    {"rprivate", MS_PRIVATE | MS_REC},
    {"rshared", MS_SHARED | MS_REC},
    {"rslave", MS_SLAVE | MS_REC},
    {"runbindable", MS_UNBINDABLE | MS_REC},
};

struct AttrOpt {
  std::string_view name;
  bool clear;
  uint64_t attr;
};

// Recursive options applied with mount_setattr(2, AT_RECURSIVE).
constexpr AttrOpt kAttrs[] = {
    {"rro", false, MOUNT_ATTR_RDONLY},
    {"rrw", true, MOUNT_ATTR_RDONLY},
    {"rnosuid", false, MOUNT_ATTR_NOSUID},
    {"rsuid", true, MOUNT_ATTR_NOSUID},
    {"rnodev", false, MOUNT_ATTR_NODEV},
    {"rdev", true, MOUNT_ATTR_NODEV},
    {"rnoexec", false, MOUNT_ATTR_NOEXEC},
    {"rexec", true, MOUNT_ATTR_NOEXEC},
    {"rnodiratime", false, MOUNT_ATTR_NODIRATIME},
    {"rdiratime", true, MOUNT_ATTR_NODIRATIME},
    {"rrelatime", false, MOUNT_ATTR_RELATIME},
    {"rnorelatime", true, MOUNT_ATTR_RELATIME},
    {"rnoatime", false, MOUNT_ATTR_NOATIME},
    {"ratime", true, MOUNT_ATTR_NOATIME},
    {"rstrictatime", false, MOUNT_ATTR_STRICTATIME},
    {"rnostrictatime", true, MOUNT_ATTR_STRICTATIME},
    {"rnosymfollow", false, MOUNT_ATTR_NOSYMFOLLOW},
    {"rsymfollow", true, MOUNT_ATTR_NOSYMFOLLOW},
};

bool is_atime_attr(std::string_view name) {
  return name == "rrelatime" || name == "rnorelatime" || name == "rnoatime" || name == "ratime" ||
         name == "rstrictatime" || name == "rnostrictatime";
}

}  // namespace

bool MountOptions::is_bind() const {
  return (flags & MS_BIND) != 0;
}

MountOptions parse_mount_options(const std::vector<std::string>& options) {
  MountOptions o;
  for (const std::string& opt : options) {
    bool known = false;
    for (const FlagOpt& f : kFlags) {
      if (f.name != opt) continue;
      known = true;
      if (f.clear) {
        o.flags &= ~f.flag;
        o.cleared |= f.flag;
      } else {
        o.flags |= f.flag;
        o.cleared &= ~f.flag;
      }
    }
    if (known) continue;
    if (auto p = propagation_flag(opt)) {
      o.propagation.push_back(*p);
      continue;
    }
    for (const AttrOpt& a : kAttrs) {
      if (a.name != opt) continue;
      known = true;
      if (is_atime_attr(a.name)) {
        // The atime mode is one field: setting any value replaces the old one.
        o.attr_clr |= MOUNT_ATTR__ATIME;
        o.attr_set &= ~static_cast<uint64_t>(MOUNT_ATTR__ATIME);
        if (!a.clear) o.attr_set |= a.attr;
      } else if (a.clear) {
        o.attr_clr |= a.attr;
        o.attr_set &= ~a.attr;
      } else {
        o.attr_set |= a.attr;
        o.attr_clr &= ~a.attr;
      }
    }
    if (known) continue;
    if (opt == "tmpcopyup") {
      o.tmpcopyup = true;
      continue;
    }
    if (!o.data.empty()) o.data += ',';
    o.data += opt;
  }
  return o;
}

std::optional<unsigned long> propagation_flag(const std::string& name) {
  for (const PropOpt& p : kPropagation)
    if (p.name == name) return p.flag;
  return std::nullopt;
}

std::vector<std::string> known_mount_options() {
  std::vector<std::string> out;
  for (const FlagOpt& f : kFlags) out.emplace_back(f.name);
  for (const PropOpt& p : kPropagation) out.emplace_back(p.name);
  for (const AttrOpt& a : kAttrs) out.emplace_back(a.name);
  out.emplace_back("tmpcopyup");
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace crunner
