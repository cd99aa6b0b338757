// Manager path resolution, create/destroy and saved state against fake trees.
#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include "cgroups/manager.hpp"
#include "cgroups_fake.hpp"

using namespace crunner;
using namespace crunner::cgroups;
using crunner::cgroups::testing::FakeTree;

namespace {
ManagerOptions fake_opts(FakeTree& t, Mode m) {
  ManagerOptions o;
  o.root = t.root();
  o.mode = m;
  t.file("self-cgroup",
         "5:memory:/own/mem\n4:cpu,cpuacct:/\n3:freezer:/f\n1:name=systemd:/sd\n0::/u/own\n");
  o.own_cgroup = t.path("self-cgroup");
  o.systemd_marker = t.path("no-systemd-here");
  o.mountinfo = t.path("mountinfo");
  return o;
}
// The hierarchies a host has: directories, and their mounts in a fake mountinfo (the
// filesystem type and super options say what each one is, as in /proc/self/mountinfo).
void v1_layout(FakeTree& t) {
  std::string mi = "30 22 0:27 / " + t.root() + " rw,relatime - tmpfs tmpfs rw,mode=755\n";
  int id = 31;
  auto mount = [&](const std::string& dir, const std::string& type, const std::string& opts) {
    t.dir(dir);
    mi += std::to_string(id) + " 30 0:" + std::to_string(id) + " / " + t.path(dir) +
          " rw,relatime - " + type + " " + type + " " + opts + "\n";
    id++;
  };
  mount("cpu,cpuacct", "cgroup", "rw,cpu,cpuacct");
  mount("memory", "cgroup", "rw,memory");
  mount("freezer", "cgroup", "rw,freezer");
  mount("pids", "cgroup", "rw,pids");
  mount("devices", "cgroup", "rw,devices");
  mount("systemd", "cgroup", "rw,xattr,name=systemd");
  mount("unified", "cgroup2", "rw");
  t.file("mountinfo", mi);
}
}  // namespace

TEST_CASE("inner path is cleaned, absent means the id, relative", "[cgroups][manager]") {
  CHECK(inner_path("", "abc") == "abc");
  CHECK(inner_path("/a/b/../c", "x") == "/a/c");
  CHECK(inner_path("../../etc", "x") == "etc");
  CHECK(inner_path("a//b/", "x") == "a/b");
  CHECK(clean_path("/../..") == "/");
  CHECK(path_join("/sys/fs/cgroup", "/a") == "/sys/fs/cgroup/a");
}

TEST_CASE("hybrid manager: absolute path in every hierarchy and the unified one",
          "[cgroups][manager]") {
  FakeTree t;
  v1_layout(t);
  auto m = make_manager("/crunner-test-x/c1", "c1", false, fake_opts(t, Mode::Hybrid));
  REQUIRE(m.ok());
  CHECK((*m)->mode() == Mode::Hybrid);
  REQUIRE((*m)->create().ok());
  CHECK(t.exists("cpu,cpuacct/crunner-test-x/c1"));
  CHECK(t.exists("memory/crunner-test-x/c1"));
  CHECK(t.exists("freezer/crunner-test-x/c1"));
  CHECK(t.exists("unified/crunner-test-x/c1"));
  CHECK(t.exists("systemd/crunner-test-x/c1"));  // name=systemd is joined, as runc does
  auto j = (*m)->to_json();
  CHECK(j["mode"] == "hybrid");
  CHECK(j["paths"]["cpuacct"] == t.path("cpu,cpuacct/crunner-test-x/c1"));
  CHECK(j["unified"] == t.path("unified/crunner-test-x/c1"));
  auto loaded = load_manager(j);
  REQUIRE(loaded.ok());
  CHECK((*loaded)->to_json() == j);
  CHECK((*loaded)->exists());
  REQUIRE((*loaded)->destroy().ok());
  CHECK_FALSE(t.exists("memory/crunner-test-x/c1"));
  CHECK_FALSE(t.exists("unified/crunner-test-x/c1"));
  CHECK(t.exists("memory/crunner-test-x"));  // parents are not ours to remove
  CHECK_FALSE((*loaded)->exists());
  CHECK((*loaded)->destroy().ok());  // idempotent
}

TEST_CASE("v1 manager: relative path below the caller's own cgroup", "[cgroups][manager]") {
  FakeTree t;
  v1_layout(t);
  auto m = make_manager("", "c2", false, fake_opts(t, Mode::Legacy));
  REQUIRE(m.ok());
  auto j = (*m)->to_json();
  CHECK(j["mode"] == "legacy");
  CHECK(j["paths"]["memory"] == t.path("memory/own/mem/c2"));
  CHECK(j["paths"]["cpu"] == t.path("cpu,cpuacct/c2"));
  CHECK(j["paths"]["freezer"] == t.path("freezer/f/c2"));
  CHECK(j["paths"]["pids"] == t.path("pids/c2"));  // not listed in self-cgroup: from the root
  CHECK(j["paths"]["name=systemd"] == t.path("systemd/sd/c2"));
  CHECK_FALSE(j.contains("unified"));
}

TEST_CASE("v1 manager: hierarchies come from mountinfo, not from directory names",
          "[cgroups][manager]") {
  FakeTree t;
  v1_layout(t);
  t.dir("hugetlb");      // a plain directory on the tmpfs (other software creates these)
  t.dir("net_cls,x");    // nor is a name with a controller in it one
  t.dir("not-mounted");  // nor anything else
  auto m = make_manager("/crunner-test-m", "m", false, fake_opts(t, Mode::Legacy));
  REQUIRE(m.ok());
  auto j = (*m)->to_json();
  CHECK_FALSE(j["paths"].contains("hugetlb"));
  CHECK_FALSE(j["paths"].contains("net_cls"));
  CHECK(j["paths"]["memory"] == t.path("memory/crunner-test-m"));
  REQUIRE((*m)->create().ok());
  CHECK_FALSE(t.exists("hugetlb/crunner-test-m"));
  REQUIRE((*m)->destroy().ok());

  // A hierarchy mounted from a sub-cgroup (mount root /outer): relative paths are taken
  // below the own cgroup minus that root.
  t.file("mountinfo", "40 30 0:40 /outer " + t.path("memory") + " rw - cgroup cgroup rw,memory\n");
  auto o = fake_opts(t, Mode::Legacy);
  t.file("self-cgroup", "5:memory:/outer/inner\n");
  auto r = make_manager("c", "c", false, o);
  REQUIRE(r.ok());
  CHECK((*r)->to_json()["paths"]["memory"] == t.path("memory/inner/c"));

  // No cgroup mounts below the root at all: named.
  t.file("mountinfo", "40 30 0:40 / /elsewhere rw - cgroup cgroup rw,memory\n");
  auto none = make_manager("/x", "x", false, fake_opts(t, Mode::Legacy));
  REQUIRE_FALSE(none.ok());
  CHECK(none.error().what().find("no cgroup v1 controller hierarchies mounted") !=
        std::string::npos);
}

TEST_CASE("v1 manager: missing controllers are named, unified needs v2", "[cgroups][manager]") {
  FakeTree t;
  v1_layout(t);
  auto m = make_manager("/crunner-test-y", "y", false, fake_opts(t, Mode::Legacy));
  REQUIRE(m.ok());
  REQUIRE((*m)->create().ok());
  Resources r;
  r.hugepage_limits = {{"2MB", 1}};
  auto s = (*m)->apply(r);
  REQUIRE_FALSE(s.ok());
  CHECK(s.error().kind == ErrorKind::Unsupported);
  CHECK(s.error().what().find("hugetlb controller is not mounted") != std::string::npos);
  Resources u;
  u.unified["memory.high"] = "1";
  s = (*m)->apply(u);
  REQUIRE_FALSE(s.ok());
  CHECK(s.error().what().find("needs cgroup v2") != std::string::npos);
  CHECK(s.error().what().find("invalid configuration: cannot use unified on cgroup v1") !=
        std::string::npos);  // runc 1.1.5's words
  CHECK_FALSE((*m)->unified_dir_fd().ok());
  REQUIRE((*m)->destroy().ok());
}

TEST_CASE("hybrid manager: hugetlb on the unified hierarchy when enabled there",
          "[cgroups][manager]") {
  FakeTree t;
  v1_layout(t);
  auto m = make_manager("/crunner-test-h", "h", false, fake_opts(t, Mode::Hybrid));
  REQUIRE(m.ok());
  REQUIRE((*m)->create().ok());
  Resources r;
  r.hugepage_limits = {{"2MB", 4194304}};
  auto s = (*m)->apply(r);
  REQUIRE_FALSE(s.ok());  // not enabled for our cgroup: refused, named
  CHECK(s.error().what().find("not enabled for `" + t.path("unified/crunner-test-h")) !=
        std::string::npos);
  t.file("unified/crunner-test-h/hugetlb.2MB.max", "max\n");
  t.file("unified/crunner-test-h/hugetlb.2MB.current", "2097152\n");
  REQUIRE((*m)->apply(r).ok());
  CHECK(t.read("unified/crunner-test-h/hugetlb.2MB.max") == "4194304");
  std::filesystem::remove(t.path("unified/crunner-test-h/hugetlb.2MB.max"));
  std::filesystem::remove(t.path("unified/crunner-test-h/hugetlb.2MB.current"));
  REQUIRE((*m)->destroy().ok());
}

TEST_CASE("v2 manager: relative path below the parent of the own cgroup", "[cgroups][manager]") {
  FakeTree t;
  auto m = make_manager("c3", "c3", false, fake_opts(t, Mode::Unified));
  REQUIRE(m.ok());
  CHECK((*m)->to_json()["unified"] == t.path("u/c3"));
  auto a = make_manager("/crunner-test-z/c3", "c3", false, fake_opts(t, Mode::Unified));
  REQUIRE(a.ok());
  t.file("cgroup.controllers", "cpu memory\n");
  t.file("cgroup.subtree_control", "");
  REQUIRE((*a)->create().ok());
  CHECK(t.read("cgroup.subtree_control") == "+cpu +memory");
  CHECK(t.exists("crunner-test-z/c3"));
  auto fd = (*a)->unified_dir_fd();
  REQUIRE(fd.ok());
  CHECK(fd->valid());
  auto loaded = load_manager((*a)->to_json());
  REQUIRE(loaded.ok());
  CHECK((*loaded)->mode() == Mode::Unified);
  REQUIRE((*loaded)->destroy().ok());
  CHECK_FALSE(t.exists("crunner-test-z/c3"));
}

TEST_CASE("v2 manager: a cgroup under one with processes is made threaded, as runc does",
          "[cgroups][manager]") {
  // The kernel shows "domain invalid" for a cgroup created under a thread root (a cgroup with
  // processes and threaded controllers on): nothing could join it (EOPNOTSUPP).
  FakeTree t;
  t.file("cgroup.controllers", "cpu memory pids\n");
  t.file("cgroup.subtree_control", "+cpu +memory +pids");
  t.file("box/cgroup.controllers", "cpu pids\n");
  t.file("box/cgroup.subtree_control", "+cpu +pids");
  t.file("box/pea/cgroup.type", "domain invalid\n");
  t.file("box/pea/pids.max", "max\n");
  t.file("box/pea/cpu.weight", "100\n");
  auto m = make_manager("/box/pea", "pea", false, fake_opts(t, Mode::Unified));
  REQUIRE(m.ok());
  REQUIRE((*m)->create().ok());
  CHECK(t.read("box/pea/cgroup.type") == "threaded");
  Resources threaded_only;
  threaded_only.pids_limit = 40;
  threaded_only.cpu.shares = 512;
  REQUIRE((*m)->apply(threaded_only).ok());
  CHECK(t.read("box/pea/pids.max") == "40");
  Resources with_memory;
  with_memory.memory.limit = 64 << 20;
  auto st = (*m)->apply(with_memory);
  REQUIRE_FALSE(st.ok());
  CHECK(st.error().what() == "cannot set memory limits in cgroup `" + t.path("box/pea") +
                                 "`: cgroup v2 made it threaded (`" + t.path("box/pea") +
                                 "` is under a cgroup with processes of its own), and threaded "
                                 "cgroups take only the cpu, cpuset and pids controllers");
  // A domain stays a domain and takes every limit.
  t.file("box2/cgroup.type", "domain\n");
  t.file("box2/memory.max", "max\n");
  auto d = make_manager("/box2", "box2", false, fake_opts(t, Mode::Unified));
  REQUIRE((*d)->create().ok());
  CHECK(t.read("box2/cgroup.type") == "domain\n");
  REQUIRE((*d)->apply(with_memory).ok());
  CHECK(t.read("box2/memory.max") == std::to_string(64 << 20));
}

namespace {
// chattr +i for the scope: mkdir in the directory then fails with EPERM, even for root (the
// permission error a rootless caller gets in a cgroup it was not delegated).
struct Immutable {
  explicit Immutable(const std::string& dir)
      : fd(open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)) {
    int flags = 0;
    ok = fd >= 0 && ioctl(fd, FS_IOC_GETFLAGS, &flags) == 0 &&
         ioctl(fd, FS_IOC_SETFLAGS, &(flags |= FS_IMMUTABLE_FL)) == 0;
  }
  ~Immutable() {
    int flags = 0;
    if (ok && ioctl(fd, FS_IOC_GETFLAGS, &flags) == 0) {
      flags &= ~FS_IMMUTABLE_FL;
      ioctl(fd, FS_IOC_SETFLAGS, &flags);
    }
    if (fd >= 0) close(fd);
  }
  int fd;
  bool ok = false;
};
}  // namespace

TEST_CASE("v2 manager, rootless: a cgroup it may not create is done without, limits fail",
          "[cgroups][manager]") {
  FakeTree t;
  t.file("cgroup.controllers", "memory pids\n");
  t.file("cgroup.subtree_control", "");
  t.dir("u");  // the parent of the own cgroup (0::/u/own): where a cgroupsPath-less one goes
  Immutable lock(t.path("u"));
  if (!lock.ok) {
    WARN("chattr +i is not supported on " << t.root() << ": rootless denial not exercised");
    return;
  }
  auto o = fake_opts(t, Mode::Unified);
  o.rootless = true;
  cgroups::Resources none, limited, devices;
  limited.pids_limit = 10;
  devices.devices = default_device_rules();

  SECTION("no cgroupsPath: runc's rule, the container runs without a cgroup") {
    auto m = make_manager("", "c9", false, o);
    REQUIRE(m.ok());
    REQUIRE((*m)->create().ok());
    CHECK_FALSE(t.exists("u/c9"));
    CHECK_FALSE((*m)->exists());
    CHECK((*m)->add_pid(getpid()).ok());
    CHECK((*m)->apply(none).ok());
    CHECK((*m)->apply(devices).ok());  // device rules: never for rootless
    auto lim = (*m)->apply(limited);
    REQUIRE_FALSE(lim.ok());
    CHECK(lim.error().kind == ErrorKind::Permission);
    CHECK(lim.error().what().find("cannot set pids.limit") != std::string::npos);
    CHECK(lim.error().what().find("could not join or create cgroup") != std::string::npos);
    CHECK_FALSE((*m)->unified_dir_fd().ok());  // no CLONE_INTO_CGROUP into nothing
    auto pids = (*m)->pids();
    REQUIRE(pids.ok());
    CHECK(pids->empty());
    CHECK_FALSE((*m)->freeze(true).ok());
    // What later commands load from state.json keeps all of that.
    auto j = (*m)->to_json();
    CHECK(j["rootless"] == true);
    CHECK(j["denied"] == true);
    auto loaded = load_manager(j);
    REQUIRE(loaded.ok());
    CHECK_FALSE((*loaded)->apply(limited).ok());
    CHECK((*loaded)->apply(devices).ok());
    CHECK((*loaded)->destroy().ok());
    CHECK((*loaded)->to_json() == j);
  }
  SECTION("a cgroupsPath asked for must be created: the permission error stays") {
    auto m = make_manager("/u/c9", "c9", false, o);
    REQUIRE(m.ok());
    auto c = (*m)->create();
    REQUIRE_FALSE(c.ok());
    CHECK(c.error().err == EPERM);
  }
  SECTION("not rootless: the permission error stays") {
    auto m = make_manager("", "c9", false, fake_opts(t, Mode::Unified));
    REQUIRE(m.ok());
    REQUIRE_FALSE((*m)->create().ok());
  }
}

TEST_CASE("v2 manager, rootless with a cgroup of its own: no device filter, state kept",
          "[cgroups][manager]") {
  FakeTree t;
  auto o = fake_opts(t, Mode::Unified);
  o.rootless = true;
  auto m = make_manager("/crunner-test-rl/c8", "c8", false, o);
  REQUIRE(m.ok());
  REQUIRE((*m)->create().ok());
  CHECK(t.exists("crunner-test-rl/c8"));
  cgroups::Resources devices;
  devices.devices = default_device_rules();
  CHECK((*m)->apply(devices).ok());  // a fake directory: the eBPF attach would fail
  auto j = (*m)->to_json();
  CHECK(j["rootless"] == true);
  CHECK_FALSE(j.contains("denied"));
  auto loaded = load_manager(j);
  REQUIRE(loaded.ok());
  CHECK((*loaded)->apply(devices).ok());
  REQUIRE((*loaded)->destroy().ok());
  CHECK_FALSE(t.exists("crunner-test-rl/c8"));
}

TEST_CASE("systemd driver: a clear error instead of silence", "[cgroups][manager]") {
  FakeTree t;
  auto m = make_manager("system.slice:crunner:abc", "abc", true, fake_opts(t, Mode::Unified));
  REQUIRE_FALSE(m.ok());
  CHECK(m.error().kind == ErrorKind::Unsupported);
  CHECK(m.error().what().find("systemd is not running as pid 1") != std::string::npos);
  auto bad = make_manager("/not/a/slice", "abc", true, fake_opts(t, Mode::Unified));
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().kind == ErrorKind::InvalidSpec);
  CHECK_FALSE(load_manager(nlohmann::json{{"mode", "weird"}, {"root", "/"}, {"path", "/x"}}).ok());
  CHECK_FALSE(load_manager(nlohmann::json::object()).ok());
}

TEST_CASE("detect_mode on this machine's root and on a plain directory", "[cgroups][manager]") {
  FakeTree t;
  auto m = detect_mode(t.root());
  REQUIRE(m.ok());
  CHECK(*m == Mode::Legacy);
  CHECK_FALSE(detect_mode(t.path("nope")).ok());
}

TEST_CASE("procs_recursive walks sub-cgroups, rmdir_tree removes them", "[cgroups][manager]") {
  FakeTree t;
  t.file("c/cgroup.procs", "10\n3\n");
  t.file("c/a/cgroup.procs", "7\n");
  t.file("c/a/b/cgroup.procs", "3\n12\n");
  auto p = procs_recursive(t.path("c"));
  REQUIRE(p.ok());
  CHECK(*p == std::vector<pid_t>{3, 7, 10, 12});
  auto gone = procs_recursive(t.path("nope"));
  REQUIRE(gone.ok());
  CHECK(gone->empty());
  t.dir("d/x/y");
  t.dir("d/z");
  REQUIRE(rmdir_tree(t.path("d")).ok());
  CHECK_FALSE(t.exists("d"));
  CHECK(rmdir_tree(t.path("d")).ok());
}
