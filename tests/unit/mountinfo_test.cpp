#include <catch2/catch.hpp>

#include "base/mountinfo.hpp"
#include "libcontainer/cgroupmount.hpp"
#include "libcontainer/mount.hpp"

using namespace crunner;

static const char* kInfo =
    "22 27 0:21 / /proc rw,relatime - proc proc rw\n"
    "27 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw,discard\n"
    "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
    "32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime master:3 - cgroup cgroup rw,cpu,cpuacct\n"
    "40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd\n"
    "41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n"
    "50 27 0:40 /sub /mnt/with\\040space rw - tmpfs none rw\n"
    "garbage line\n";

TEST_CASE("mountinfo lines parse with escapes", "[mountinfo]") {
  auto v = parse_mountinfo(kInfo);
  REQUIRE(v.size() == 7);
  REQUIRE(v[0].id == 22);
  REQUIRE(v[0].parent == 27);
  REQUIRE(v[0].mountpoint == "/proc");
  REQUIRE(v[0].fstype == "proc");
  REQUIRE(v[1].optional == "shared:1");
  REQUIRE(v[3].super_options == "rw,cpu,cpuacct");
  REQUIRE(v[3].optional == "master:3");
  REQUIRE(v[6].mountpoint == "/mnt/with space");
  REQUIRE(v[6].root == "/sub");
  REQUIRE(find_mount_of(v, "/sys/fs/cgroup/unified/x")->id == 41);
  REQUIRE(find_mount_of(v, "/sys/fs/cgroupfoo")->id == 27);
  REQUIRE(find_mount_of(v, "/home")->id == 27);
  REQUIRE(find_mount_of(v, "/proc")->id == 22);
}

TEST_CASE("cgroup v1 hierarchies are selected by controllers or name", "[cgroupmount]") {
  std::vector<std::string> ctrls = {"cpu", "cpuacct", "memory", "pids"};
  REQUIRE(cgroup_v1_select("rw,cpu,cpuacct", ctrls) == "cpu,cpuacct");
  REQUIRE(cgroup_v1_select("rw,xattr,name=systemd", ctrls) == "none,name=systemd");
  REQUIRE(cgroup_v1_select("rw,memory", ctrls) == "memory");
  REQUIRE(cgroup_v1_select("rw,nosuid,release_agent=/x,pids", ctrls) == "pids");
}

TEST_CASE("our cgroup path per hierarchy comes from /proc/self/cgroup", "[cgroupmount]") {
  const char* text =
      "9:name=systemd:/user.slice\n"
      "4:memory:/process_api/abc\n"
      "2:cpu,cpuacct:/c1\n"
      "0::/unified/path\n";
  REQUIRE(own_cgroup_path(text, "memory") == "/process_api/abc");
  REQUIRE(own_cgroup_path(text, "cpuacct,cpu") == "/c1");
  REQUIRE(own_cgroup_path(text, "none,name=systemd") == "/user.slice");
  REQUIRE(own_cgroup_path(text, "") == "/unified/path");
  REQUIRE_FALSE(own_cgroup_path(text, "pids").has_value());
}

TEST_CASE("bind mounts into /proc are limited as runc limits them", "[mount]") {
  REQUIRE(check_proc_mount("/etc", "/x").ok());
  REQUIRE(check_proc_mount("/procfoo", "/x").ok());
  REQUIRE(check_proc_mount("/proc/cpuinfo", "/var/lib/lxcfs/proc/cpuinfo").ok());
  REQUIRE(check_proc_mount("/proc", "/proc").ok());
  auto r = check_proc_mount("/proc/self/attr", "/tmp/x");
  REQUIRE_FALSE(r.ok());
  REQUIRE(r.error().what() == "`/proc/self/attr` cannot be mounted because it is inside /proc");
  REQUIRE_FALSE(check_proc_mount("/proc", "/tmp").ok());
}

TEST_CASE("mount destinations and bind sources", "[mount]") {
  spec::Mount m;
  m.destination = "/a/../b/";
  m.source = "data";
  REQUIRE(mount_destination(m) == "/b");
  REQUIRE(bind_source(m, "/bundle") == "/bundle/data");
  m.source = "/abs";
  REQUIRE(bind_source(m, "/bundle") == "/abs");
  REQUIRE_FALSE(is_bind_mount(m));
  m.options = {"rbind", "ro"};
  REQUIRE(is_bind_mount(m));
  m.options = {};
  m.type = "bind";
  REQUIRE(is_bind_mount(m));
}
