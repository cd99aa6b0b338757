// SELinux against a fake /proc and /sys in a temp dir (this kernel has no SELinux).
#include <catch2/catch.hpp>

#include "base/file.hpp"
#include "selinux/selinux.hpp"
#include "temp_dir.hpp"

using namespace crunner;
using namespace crunner::testing;

namespace {

struct FakeRoots {
  TempDir tmp;
  std::string sys = tmp.path + "/sys", proc = tmp.path + "/proc";
  std::string exec_attr = proc + "/thread-self/attr/exec";

  void enable() {
    REQUIRE(mkdir_p(sys + "/fs/selinux").ok());
    REQUIRE(write_file(sys + "/fs/selinux/enforce", "1", O_WRONLY | O_CREAT | O_TRUNC).ok());
  }
  void make_attr() {
    REQUIRE(mkdir_p(proc + "/thread-self/attr").ok());
    REQUIRE(write_file(exec_attr, "", O_WRONLY | O_CREAT | O_TRUNC).ok());
  }
};

const char* kLabel = "system_u:system_r:container_t:s0:c1,c2";

}  // namespace

TEST_CASE("selinux detection: selinuxfs's enforce file", "[selinux]") {
  FakeRoots f;
  REQUIRE_FALSE(selinux::is_enabled(f.sys));
  f.enable();
  REQUIRE(selinux::is_enabled(f.sys));
  REQUIRE(selinux::is_enabled() == path_exists("/sys/fs/selinux/enforce"));
}

TEST_CASE("selinux labels without SELinux fail naming the field", "[selinux]") {
  FakeRoots f;
  REQUIRE(selinux::check_label("linux.mountLabel", "", f.sys).ok());
  auto r = selinux::check_label("linux.mountLabel", kLabel, f.sys);
  REQUIRE_FALSE(r.ok());
  REQUIRE(r.error().kind == ErrorKind::Unsupported);
  REQUIRE(r.error().what().find("linux.mountLabel `system_u:system_r:container_t:s0:c1,c2`") !=
          std::string::npos);
  REQUIRE(r.error().what().find("SELinux is not enabled") != std::string::npos);
  f.make_attr();
  REQUIRE_FALSE(selinux::apply_exec_label(kLabel, f.proc, f.sys).ok());
  REQUIRE(read_file(f.exec_attr)->empty());  // nothing written
  f.enable();
  REQUIRE(selinux::check_label("linux.mountLabel", kLabel, f.sys).ok());
}

TEST_CASE("selinux exec label is written whole to thread-self/attr/exec", "[selinux]") {
  FakeRoots f;
  f.enable();
  f.make_attr();
  REQUIRE(selinux::apply_exec_label("", f.proc, f.sys).ok());
  REQUIRE(read_file(f.exec_attr)->empty());
  REQUIRE(selinux::apply_exec_label(kLabel, f.proc, f.sys).ok());
  REQUIRE(*read_file(f.exec_attr) == kLabel);
  // No attribute file (no such /proc): the error names the path.
  FakeRoots g;
  g.enable();
  auto r = selinux::apply_exec_label(kLabel, g.proc, g.sys);
  REQUIRE_FALSE(r.ok());
  REQUIRE(r.error().what().find(g.exec_attr) != std::string::npos);
}

TEST_CASE("selinux mount label as runc formats it, on the mounts runc gives it", "[selinux]") {
  REQUIRE(selinux::format_mount_label("size=64k", "") == "size=64k");
  REQUIRE(selinux::format_mount_label("", kLabel) ==
          "context=\"system_u:system_r:container_t:s0:c1,c2\"");
  REQUIRE(selinux::format_mount_label("mode=755,size=65536k", "a:b:c:s0") ==
          "mode=755,size=65536k,context=\"a:b:c:s0\"");
  for (const char* t : {"tmpfs", "devpts", "overlay"}) REQUIRE(selinux::mount_takes_label(t));
  for (const char* t : {"bind", "proc", "sysfs", "cgroup", "cgroup2", "mqueue"})
    REQUIRE_FALSE(selinux::mount_takes_label(t));
}
