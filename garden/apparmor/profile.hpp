// The AppArmor profile of unprivileged containers (Guardian's --apparmor): which one, and
// loading the one we ship (garden-default, garden/apparmor/garden-default) at start-up.
//
//   --apparmor absent     garden-default where the host has AppArmor (loaded here with
//                         apparmor_parser --replace); a host without AppArmor gets a note
//                         (logged once) and containers without a profile
//   --apparmor NAME       a profile the host has loaded already (Guardian's semantics);
//                         NAME garden-default is ours, (re)loaded as above; an error when
//                         the host has no AppArmor or does not list NAME
//   --apparmor ""         none
//
// Every path is a parameter so that unit tests run against a fake /sys, mount table,
// profile list and apparmor_parser.
#pragma once

#include <optional>
#include <string>

namespace garden::apparmor {

inline constexpr const char* kDefaultProfile = "garden-default";
// The text of garden/apparmor/garden-default, compiled in (garden/CMakeLists.txt).
extern const char* const kDefaultProfileText;

struct HostPaths {
  std::string sys_root = "/sys";  // <sys_root>/module/apparmor/parameters/enabled
  std::string mountinfo = "/proc/self/mountinfo";
  // The kernel's list of loaded profiles; "" = <securityfs mount>/apparmor/profiles.
  std::string profiles;
  // "" = apparmor_parser from /usr/sbin, /sbin, /usr/bin, /bin.
  std::string parser;
};

struct Choice {
  std::string profile;  // what unprivileged containers run under; "" = none
  std::string note;     // what to log once at start-up; "" = nothing
};

// Decides (and for garden-default loads) the profile from --apparmor (nullopt: the flag
// was not given). "" on success, else the error, e.g.
//   --apparmor: apparmor profile "x" is not loaded (/sys/kernel/security/apparmor/profiles
//   does not list it): load it with apparmor_parser first
std::string choose_profile(const std::optional<std::string>& requested, Choice& out,
                           const HostPaths& host = {});

// Whether `name` may be a profile name: 1 to 255 printable ASCII characters, no space, not
// starting with '-'.
bool valid_profile_name(const std::string& name);

}  // namespace garden::apparmor
