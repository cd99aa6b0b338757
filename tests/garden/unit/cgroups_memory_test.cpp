// garden/cgroups: the memory cgroup of a container on v1, hybrid and pure v2 hosts (fake
// /proc/PID/cgroup, mount tables and cgroup files), OOM kills, and MemoryStat from the
// runtime's stats in either version's names; a pid's directories in every mounted hierarchy.
#include "garden/cgroups/hierarchies.hpp"
#include "garden/cgroups/memory.hpp"

#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

using json = nlohmann::json;
using namespace garden;

namespace {

struct Tree {
  std::string dir;
  Tree() {
    char tmpl[] = "/tmp/crunner-test-garden-cgroups-XXXXXX";
    dir = mkdtemp(tmpl);
  }
  ~Tree() {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
  void put(const std::string& rel, const std::string& text) const {
    std::filesystem::create_directories(std::filesystem::path(dir + "/" + rel).parent_path());
    std::ofstream(dir + "/" + rel) << text;
  }
};

}  // namespace

TEST_CASE("memory cgroup of a pid: v1 and hybrid hosts use the memory hierarchy",
          "[garden][cgroups]") {
  Tree t;
  t.put("proc/42/cgroup", "4:memory:/garden/h1\n1:cpu,cpuacct:/garden/h1\n0::/garden/h1\n");
  t.put("mountinfo", "30 25 0:26 / " + t.dir +
                         "/cg/unified rw - cgroup2 cgroup2 rw\n"
                         "31 25 0:27 / " +
                         t.dir + "/cg/memory rw - cgroup cgroup rw,memory\n");
  CHECK(cgroups::memory_dir(42, t.dir + "/proc", t.dir + "/mountinfo") ==
        t.dir + "/cg/memory/garden/h1");
  CHECK(cgroups::memory_dir(43, t.dir + "/proc", t.dir + "/mountinfo").empty());
  CHECK(cgroups::memory_dir(0, t.dir + "/proc", t.dir + "/mountinfo").empty());
}

TEST_CASE("memory cgroup of a pid: a pure v2 host uses the cgroup2 hierarchy",
          "[garden][cgroups]") {
  Tree t;
  t.put("proc/42/cgroup", "0::/garden/h1\n");
  t.put("mountinfo", "30 25 0:26 / " + t.dir + "/cg rw - cgroup2 cgroup2 rw,nsdelegate\n");
  t.put("cg/cgroup.controllers", "cpuset cpu io memory pids\n");
  CHECK(cgroups::memory_dir(42, t.dir + "/proc", t.dir + "/mountinfo") == t.dir + "/cg/garden/h1");
  // A cgroup2 hierarchy without the memory controller (hybrid's unified) is no memory cgroup.
  t.put("cg/cgroup.controllers", "pids\n");
  CHECK(cgroups::memory_dir(42, t.dir + "/proc", t.dir + "/mountinfo").empty());
}

TEST_CASE("memory cgroup of a pid: a hierarchy mounted from a sub-cgroup, as cgroup_dirs",
          "[garden][cgroups]") {
  Tree t;
  // The memory hierarchy is mounted from /garden (a bind of a sub-cgroup): the pid's directory
  // is below the mount without the mount's root repeated.
  t.put("proc/42/cgroup", "4:memory:/garden/h1\n0::/garden/h1\n");
  t.put("mountinfo", "31 25 0:27 /garden " + t.dir + "/cg/memory rw - cgroup cgroup rw,memory\n");
  CHECK(cgroups::memory_dir(42, t.dir + "/proc", t.dir + "/mountinfo") == t.dir + "/cg/memory/h1");
  CHECK(cgroups::cgroup_dirs(42, t.dir + "/proc", t.dir + "/mountinfo") ==
        std::vector<std::string>{t.dir + "/cg/memory/h1"});
  // The same on a pure v2 host whose cgroup2 mount is rooted at /garden.
  t.put("proc/42/cgroup", "0::/garden/h1\n");
  t.put("mountinfo", "30 25 0:26 /garden " + t.dir + "/cg rw - cgroup2 cgroup2 rw\n");
  t.put("cg/cgroup.controllers", "memory pids\n");
  CHECK(cgroups::memory_dir(42, t.dir + "/proc", t.dir + "/mountinfo") == t.dir + "/cg/h1");
}

TEST_CASE("OOM kills: memory.oom_control (v1) or memory.events (v2)", "[garden][cgroups]") {
  Tree t;
  t.put("v1/memory.oom_control", "oom_kill_disable 0\nunder_oom 0\noom_kill 0\n");
  t.put("v2/memory.events", "low 0\nhigh 0\nmax 12\noom 1\noom_kill 0\noom_group_kill 0\n");
  CHECK_FALSE(cgroups::oom_killed(t.dir + "/v1"));
  CHECK_FALSE(cgroups::oom_killed(t.dir + "/v2"));
  t.put("v1/memory.oom_control", "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n");
  t.put("v2/memory.events", "low 0\nhigh 0\nmax 12\noom 1\noom_kill 1\noom_group_kill 0\n");
  CHECK(cgroups::oom_killed(t.dir + "/v1"));
  CHECK(cgroups::oom_killed(t.dir + "/v2"));
  CHECK_FALSE(cgroups::oom_killed(t.dir + "/missing"));
  CHECK_FALSE(cgroups::oom_killed(""));
}

TEST_CASE("MemoryStat from v1 stats: garden's names as they are", "[garden][cgroups]") {
  json stats = {{"memory",
                 {{"usage", {{"usage", 900}, {"limit", 4096}}},
                  {"raw",
                   {{"total_rss", 500},
                    {"rss", 400},
                    {"total_cache", 300},
                    {"total_inactive_file", 100},
                    {"pgpgin", 7},
                    {"rss_huge", 9}}}}}};
  auto m = cgroups::memory_stat(stats);
  CHECK(m["total_rss"] == 500);
  CHECK(m["rss"] == 400);
  CHECK(m["pgpgin"] == 7);
  CHECK(m["TotalUsageTowardLimit"] == 500 + 300 - 100);
  CHECK_FALSE(m.contains("rss_huge"));
  CHECK(m.size() == 29);  // 28 fields + TotalUsageTowardLimit
  CHECK(m.begin().key() == "active_anon");
  CHECK(m.back() == m["TotalUsageTowardLimit"]);
}

TEST_CASE("MemoryStat from v2 stats: memory.stat's names mapped to garden's", "[garden][cgroups]") {
  json raw = {{"anon", 5000},          {"file", 3000},          {"file_mapped", 700},
              {"active_anon", 4000},   {"inactive_anon", 1000}, {"active_file", 2000},
              {"inactive_file", 1000}, {"unevictable", 0},      {"pgfault", 321},
              {"pgmajfault", 4},       {"kernel_stack", 64}};
  json stats = {{"memory",
                 {{"usage", {{"usage", 9000}, {"limit", 64 << 20}}},
                  {"swap", {{"usage", 9000 + 512}, {"limit", 128 << 20}}},
                  {"raw", raw}}}};
  auto m = cgroups::memory_stat(stats);
  CHECK((m["rss"] == 5000 && m["total_rss"] == 5000));
  CHECK((m["cache"] == 3000 && m["total_cache"] == 3000));
  CHECK((m["mapped_file"] == 700 && m["total_mapped_file"] == 700));
  CHECK((m["inactive_file"] == 1000 && m["total_inactive_file"] == 1000));
  CHECK((m["active_anon"] == 4000 && m["total_active_anon"] == 4000));
  CHECK((m["pgfault"] == 321 && m["total_pgmajfault"] == 4));
  CHECK((m["pgpgin"] == 0 && m["pgpgout"] == 0));
  CHECK((m["swap"] == 512 && m["total_swap"] == 512));
  CHECK(m["hierarchical_memory_limit"] == 64 << 20);
  CHECK(m["hierarchical_memsw_limit"] == 128 << 20);
  CHECK(m["TotalUsageTowardLimit"] == 9000 - 1000);
  CHECK(m.size() == 29);
  // No swap accounting: no swap figure.
  stats["memory"].erase("swap");
  CHECK(cgroups::memory_stat(stats)["swap"] == 0);
}

TEST_CASE("cgroup dirs of a pid: every hierarchy the host mounts, none it does not",
          "[garden][cgroups]") {
  Tree t;
  // net_cls,net_prio is in /proc/PID/cgroup (the kernel has it) but mounted nowhere: absent.
  t.put("proc/42/cgroup",
        "9:net_cls,net_prio:/\n4:memory:/garden/h1\n3:cpu,cpuacct:/garden/h1\n"
        "1:name=systemd:/sys/h1\n0::/garden/h1\n");
  t.put("mountinfo", "30 25 0:26 / " + t.dir +
                         "/cg/unified rw - cgroup2 cgroup2 rw\n"
                         "31 25 0:27 / " +
                         t.dir +
                         "/cg/memory rw - cgroup cgroup rw,memory\n"
                         "32 25 0:28 / " +
                         t.dir +
                         "/cg/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct\n"
                         "33 25 0:29 /sys " +
                         t.dir + "/cg/systemd rw - cgroup cgroup rw,xattr,name=systemd\n");
  CHECK(cgroups::cgroup_dirs(42, t.dir + "/proc", t.dir + "/mountinfo") ==
        std::vector<std::string>{t.dir + "/cg/memory/garden/h1",
                                 t.dir + "/cg/cpu,cpuacct/garden/h1", t.dir + "/cg/systemd/h1",
                                 t.dir + "/cg/unified/garden/h1"});
  // A mount of cpu alone is not the cpu,cpuacct hierarchy.
  t.put("mountinfo", "32 25 0:28 / " + t.dir + "/cg/cpu rw - cgroup cgroup rw,cpu\n");
  CHECK(cgroups::cgroup_dirs(42, t.dir + "/proc", t.dir + "/mountinfo").empty());
  CHECK(cgroups::cgroup_dirs(43, t.dir + "/proc", t.dir + "/mountinfo").empty());
}
