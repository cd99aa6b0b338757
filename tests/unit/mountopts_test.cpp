#include <sys/mount.h>

#include <algorithm>
#include <catch2/catch.hpp>

#include "libcontainer/mountopts.hpp"

using namespace crunner;

TEST_CASE("mount options map to mount(2) flags", "[mountopts]") {
  auto o = parse_mount_options({"nosuid", "noexec", "nodev", "ro", "strictatime"});
  REQUIRE(o.flags == (MS_NOSUID | MS_NOEXEC | MS_NODEV | MS_RDONLY | MS_STRICTATIME));
  REQUIRE(o.data.empty());
  REQUIRE_FALSE(o.is_bind());

  o = parse_mount_options({"rbind", "ro"});
  REQUIRE(o.flags == (MS_BIND | MS_REC | MS_RDONLY));
  REQUIRE(o.is_bind());

  o = parse_mount_options({"bind"});
  REQUIRE(o.flags == MS_BIND);

  o = parse_mount_options({"sync", "dirsync", "mand", "noatime", "nodiratime", "relatime",
                           "lazytime", "remount", "nosymfollow", "silent", "acl", "iversion"});
  REQUIRE(o.flags ==
          (MS_SYNCHRONOUS | MS_DIRSYNC | MS_MANDLOCK | MS_NOATIME | MS_NODIRATIME | MS_RELATIME |
           MS_LAZYTIME | MS_REMOUNT | MS_NOSYMFOLLOW | MS_SILENT | MS_POSIXACL | MS_I_VERSION));
}

TEST_CASE("later options override earlier ones and record what was cleared", "[mountopts]") {
  auto o = parse_mount_options({"ro", "rw"});
  REQUIRE((o.flags & MS_RDONLY) == 0);
  REQUIRE((o.cleared & MS_RDONLY) != 0);

  o = parse_mount_options({"rw", "ro"});
  REQUIRE((o.flags & MS_RDONLY) != 0);
  REQUIRE((o.cleared & MS_RDONLY) == 0);

  o = parse_mount_options({"nosuid",      "suid",        "noexec",        "exec",     "nodev",
                           "dev",         "sync",        "async",         "mand",     "nomand",
                           "noatime",     "atime",       "nodiratime",    "diratime", "relatime",
                           "norelatime",  "strictatime", "nostrictatime", "lazytime", "nolazytime",
                           "nosymfollow", "symfollow",   "defaults"});
  REQUIRE(o.flags == 0);
  REQUIRE(o.cleared ==
          (MS_NOSUID | MS_NOEXEC | MS_NODEV | MS_SYNCHRONOUS | MS_MANDLOCK | MS_NOATIME |
           MS_NODIRATIME | MS_RELATIME | MS_STRICTATIME | MS_LAZYTIME | MS_NOSYMFOLLOW));
}

TEST_CASE("propagation options are kept in order", "[mountopts]") {
  auto o = parse_mount_options({"rbind", "rprivate", "shared", "slave", "runbindable"});
  REQUIRE(o.flags == (MS_BIND | MS_REC));
  REQUIRE(o.propagation == std::vector<unsigned long>{MS_PRIVATE | MS_REC, MS_SHARED, MS_SLAVE,
                                                      MS_UNBINDABLE | MS_REC});
  REQUIRE(propagation_flag("rslave") == (MS_SLAVE | MS_REC));
  REQUIRE(propagation_flag("private") == MS_PRIVATE);
  REQUIRE(propagation_flag("rshared") == (MS_SHARED | MS_REC));
  REQUIRE(propagation_flag("unbindable") == MS_UNBINDABLE);
  REQUIRE_FALSE(propagation_flag("bind").has_value());
  REQUIRE_FALSE(propagation_flag("").has_value());
}

TEST_CASE("unknown options become the filesystem data string", "[mountopts]") {
  auto o = parse_mount_options(
      {"nosuid", "newinstance", "ptmxmode=0666", "mode=0620", "noexec", "gid=5"});
  REQUIRE(o.flags == (MS_NOSUID | MS_NOEXEC));
  REQUIRE(o.data == "newinstance,ptmxmode=0666,mode=0620,gid=5");

  o = parse_mount_options({"size=65536k"});
  REQUIRE(o.data == "size=65536k");
  REQUIRE(parse_mount_options({}).data.empty());
}

TEST_CASE("recursive options become mount_setattr attributes", "[mountopts]") {
  auto o = parse_mount_options({"rbind", "rro", "rnosuid", "rnodev", "rnoexec"});
  REQUIRE(o.flags == (MS_BIND | MS_REC));
  REQUIRE(o.attr_set ==
          (MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC));
  REQUIRE(o.attr_clr == 0);
  REQUIRE(o.has_rec_attrs());

  o = parse_mount_options({"rro", "rrw", "rsuid"});
  REQUIRE(o.attr_set == 0);
  REQUIRE(o.attr_clr == (MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID));

  // The atime mode is one field: its whole mask goes into attr_clr.
  o = parse_mount_options({"rnoatime"});
  REQUIRE(o.attr_set == MOUNT_ATTR_NOATIME);
  REQUIRE(o.attr_clr == MOUNT_ATTR__ATIME);
  o = parse_mount_options({"rnoatime", "rstrictatime"});
  REQUIRE(o.attr_set == MOUNT_ATTR_STRICTATIME);
  REQUIRE(o.attr_clr == MOUNT_ATTR__ATIME);
  o = parse_mount_options({"rnoatime", "ratime"});
  REQUIRE(o.attr_set == 0);
  REQUIRE(o.attr_clr == MOUNT_ATTR__ATIME);

  o = parse_mount_options({"rnosymfollow", "rnodiratime"});
  REQUIRE(o.attr_set == (MOUNT_ATTR_NOSYMFOLLOW | MOUNT_ATTR_NODIRATIME));
  REQUIRE_FALSE(parse_mount_options({"ro"}).has_rec_attrs());
}

TEST_CASE("tmpcopyup is an extension and not data", "[mountopts]") {
  auto o = parse_mount_options({"tmpcopyup", "mode=755"});
  REQUIRE(o.tmpcopyup);
  REQUIRE(o.data == "mode=755");
}

TEST_CASE("known_mount_options matches what runc 1.1 reports", "[mountopts]") {
  // `runc features` .mountOptions on this machine (runc 1.1.5).
  std::vector<std::string> runc = {"acl",          "async",       "atime",          "bind",
                                   "defaults",     "dev",         "diratime",       "dirsync",
                                   "exec",         "iversion",    "lazytime",       "loud",
                                   "mand",         "noacl",       "noatime",        "nodev",
                                   "nodiratime",   "noexec",      "noiversion",     "nolazytime",
                                   "nomand",       "norelatime",  "nostrictatime",  "nosuid",
                                   "nosymfollow",  "private",     "ratime",         "rbind",
                                   "rdev",         "rdiratime",   "relatime",       "remount",
                                   "rexec",        "rnoatime",    "rnodev",         "rnodiratime",
                                   "rnoexec",      "rnorelatime", "rnostrictatime", "rnosuid",
                                   "rnosymfollow", "ro",          "rprivate",       "rrelatime",
                                   "rro",          "rrw",         "rshared",        "rslave",
                                   "rstrictatime", "rsuid",       "rsymfollow",     "runbindable",
                                   "rw",           "shared",      "silent",         "slave",
                                   "strictatime",  "suid",        "symfollow",      "sync",
                                   "tmpcopyup",    "unbindable"};
  REQUIRE(known_mount_options() == runc);
  // Every listed option is understood (none falls through to data).
  for (const std::string& opt : known_mount_options())
    REQUIRE(parse_mount_options({opt}).data.empty());
}
